/* pool.c: the pool strategy: `workers` threads, each an event loop, fed by a bounded queue of new requests. */
#include "event/loops.h"

#include <unistd.h>

/* Pool handlers used to run on 8 MiB thread stacks; a coroutine's untouched
 * pages cost address space only, so this is generous rather than tight. */
#define POOL_STACK ((size_t)256 * 1024)

static int pool_init(ss_server *srv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = srv->cfg.workers > 0 ? srv->cfg.workers : 2 * (cpus > 0 ? (int)cpus : 1);
    int queue = srv->cfg.queue_size > 0 ? srv->cfg.queue_size : 4 * n;
    size_t stack = srv->cfg.stack_size ? srv->cfg.stack_size : POOL_STACK;
    return ss__loops_init(srv, n, stack, queue);
}

/* Queue the request for the workers; when the queue is full, wait for room:
 * the serving thread stops accepting meanwhile and the kernel's backlog
 * holds clients. A worker takes a new request only once it has run all
 * that was ready, so the queue fills when every worker is held (a long
 * computation, a blocking call) rather than when requests wait for I/O. */
static void pool_process_request(ss_server *srv, ss_request *req)
{
    ss__loops *ls = srv->st_state;
    int rc = ss__queue_push(ls->feed, req, &srv->stop_requested);
    if (rc < 0)
        ss__request_abort(req, rc);
}

const ss__strategy ss__pool = {
    .name = "pool",
    .stream_conn = &ss__conn_stream,
    .loops_accept = false,
    .init = pool_init,
    .process_request = pool_process_request,
    .reap = ss__st_nop,
    .close = ss__loops_close,
    .stats = ss__loops_stats,
    .wait_conn = ss__loops_wait_conn,
    .wait_fd = ss__loops_wait_fd,
    .serve_begin = ss__st_nop,
    .serve_end = ss__st_nop,
    .release_listener = ss__st_nop,
    .accept_resume = ss__st_nop,
    .before_close = ss__task_forget_fd,
    /* fn runs in place on the worker: blocking a worker is what the pool's
     * workers are for (see ARCHITECTURE.md). */
    .run_blocking = ss__st_run_in_place,
    .stop_here = ss__st_not_here,
    .slot_is_mine = ss__st_slot_is_mine,
};
