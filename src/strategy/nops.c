/* nops.c: the strategies' shared no-ops and defaults (every op of a strategy is required). */
#include "core/internal.h"

void ss__st_nop(ss_server *srv)
{
    (void)srv;
}

void ss__st_nop_req(ss_request *req)
{
    (void)req;
}

void ss__st_nop_stats(const ss_server *srv, ss_stats *out)
{
    (void)srv, (void)out;
}

/* ss_run_blocking where the request's thread may block: fn runs here. */
int ss__st_run_in_place(ss_request *req, int (*fn)(void *), void *arg)
{
    (void)req;
    return fn(arg);
}

/* A stop is the whole server's. */
bool ss__st_not_here(ss_server *srv)
{
    (void)srv;
    return false;
}

bool ss__st_slot_is_mine(ss_server *srv)
{
    (void)srv;
    return true;
}
