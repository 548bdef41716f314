/* nops.c: the connection types' shared no-ops (every op of a type is required). */
#include "core/internal.h"

int ss__conn_nop_open(ss_request *req)
{
    (void)req;
    return 0;
}

bool ss__conn_maybe_input(const ss_request *req)
{
    (void)req;
    return true;
}

void ss__conn_nop_ready(ss_request *req, uint32_t events)
{
    (void)req, (void)events;
}

int ss__conn_nop_end(ss_request *req)
{
    (void)req;
    return 0;
}
