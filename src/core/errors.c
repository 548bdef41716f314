/* errors.c: the error convention's text, and the library version. */
#include "core/internal.h"

#include <string.h>

const char *ss_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err == ECANCELED)
        return "cut short by server stop";
    return strerror(err);
}

const char *ss_version(void)
{
    return SS_VERSION_STRING;
}
