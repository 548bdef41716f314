/* sync.c: the synchronous strategy: each request runs to its end in the serving thread. */
#include "core/internal.h"

static int sync_init(ss_server *srv)
{
    (void)srv;
    return 0;
}

static void sync_process_request(ss_server *srv, ss_request *req)
{
    (void)srv;
    ss__finish_request(req);
    ss__request_done(req);
}

static void sync_reap(ss_server *srv)
{
    (void)srv;
}

static void sync_close(ss_server *srv, bool block)
{
    (void)srv;
    (void)block;
}

static void sync_stats(const ss_server *srv, ss_stats *out)
{
    (void)srv;
    (void)out;
}

const ss__strategy ss__sync = {
    .name = "sync",
    .init = sync_init,
    .process_request = sync_process_request,
    .reap = sync_reap,
    .close = sync_close,
    .stats = sync_stats,
    .wait = ss__poll_wait,
};
