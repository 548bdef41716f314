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
    if (rc < 0) {
        ss__report(req, rc);
        ss__request_done(req);
    }
}

const ss__strategy ss__pool = {
    .name = "pool",
    .init = pool_init,
    .process_request = pool_process_request,
    .reap = ss__loops_reap,
    .close = ss__loops_close,
    .stats = ss__loops_stats,
    .wait = ss__loops_wait,
    .before_close = ss__task_forget_fd,
    /* run_blocking: none, fn runs in place on the worker (see ARCHITECTURE.md). */
    .free_idle_buffers = true,
    .input_events = true,
};
