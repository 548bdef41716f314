/* nops.c: the connection types' shared no-ops (every op of a type is required). */
#include "core/internal.h"

int ss__conn_nop(ss__conn *c)
{
    (void)c;
    return 0;
}

bool ss__conn_maybe_input(const ss__conn *c)
{
    (void)c;
    return true;
}

bool ss__conn_nothing_buffered(const ss__conn *c)
{
    (void)c;
    return false;
}

void ss__conn_nop_ready(ss__conn *c, uint32_t events)
{
    (void)c, (void)events;
}

const char *ss__conn_no_tls(ss__conn *c, int what)
{
    (void)c, (void)what;
    return NULL;
}
