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

static void sync_close(ss_server *srv, bool block)
{
    (void)srv, (void)block;
}

const ss__strategy ss__sync = {
    .name = "sync",
    .stream_conn = &ss__conn_stream,
    .loops_accept = false,
    .init = sync_init,
    .process_request = sync_process_request,
    .reap = ss__st_nop,
    .close = sync_close,
    .stats = ss__st_nop_stats,
    .wait_conn = ss__poll_wait_conn,
    .wait_fd = ss__poll_wait,
    .serve_begin = ss__st_nop,
    .serve_end = ss__st_nop,
    .release_listener = ss__st_nop,
    .accept_resume = ss__st_nop,
    .before_close = ss__st_nop_req,
    .run_blocking = ss__st_run_in_place,
    .stop_here = ss__st_not_here,
    .slot_is_mine = ss__st_slot_is_mine,
};
