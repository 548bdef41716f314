/* event.c: the event strategy: `workers` epoll loops that accept, each running its requests as coroutines. */
#include "event/loops.h"

#include <unistd.h>

static int event_init(ss_server *srv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = srv->cfg.workers > 0 ? srv->cfg.workers : (cpus > 0 ? (int)cpus : 1);
    size_t stack = srv->cfg.stack_size ? srv->cfg.stack_size : SS__DEFAULT_STACK;
    return ss__loops_init(srv, n, stack, 0);
}

/* On a loop thread the request becomes a task there; from elsewhere (e.g.
 * ss_handle_request) it is handed to the loops in turn. */
static void event_process_request(ss_server *srv, ss_request *req)
{
    ss__loops *ls = srv->st_state;
    ss__loop *loop = ss__loop_current();
    if (loop && loop->srv == srv) {
        ss__loop_spawn(loop, req);
        return;
    }
    loop = &ls->loop[atomic_fetch_add(&ls->next, 1) % (unsigned)ls->started];
    int rc = ss__loop_post(loop, req);
    if (rc < 0)
        ss__request_abort(req, rc);
}

/* cppcheck-suppress constParameter ; the run_blocking op's signature */
static int event_run_blocking(ss_request *req, int (*fn)(void *), void *arg)
{
    ss__task *t = ss__task_current();
    if (!t || t->req != req)
        return fn(arg);
    ss__loops *ls = t->loop->owner;
    return ss__blocking_run(&ls->blocking, t, fn, arg);
}

const ss__strategy ss__event = {
    .name = "event",
    .stream_conn = &ss__conn_stream,
    .loops_accept = true,
    .init = event_init,
    .process_request = event_process_request,
    .reap = ss__st_nop,
    .close = ss__loops_close,
    .stats = ss__loops_stats,
    .wait_conn = ss__loops_wait_conn,
    .wait_fd = ss__loops_wait_fd,
    .serve_begin = ss__loops_serve_begin,
    .serve_end = ss__loops_serve_end,
    .release_listener = ss__loops_release_listener,
    .accept_resume = ss__loops_accept_resume,
    .before_close = ss__task_forget_fd,
    .run_blocking = event_run_blocking,
    .stop_here = ss__st_not_here,
    .slot_is_mine = ss__st_slot_is_mine,
};
