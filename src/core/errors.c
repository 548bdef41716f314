/* errors.c: the error convention's text, the reason of the last failed set-up call, and the library version. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Per thread, like errno: set by a failing ss_server_new(), bind or activate. */
static _Thread_local char last_error[256];

const char *ss_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err == ECANCELED)
        return "cut short by server stop";
    return strerror(err);
}

void ss__clear_error(void)
{
    last_error[0] = '\0';
}

int ss__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

const char *ss_last_error(void)
{
    return last_error[0] ? last_error : NULL;
}

const char *ss_version(void)
{
    return SS_VERSION_STRING;
}
