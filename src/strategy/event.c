/* event.c: the event strategy: `workers` epoll loops, each running its requests as coroutines. */
#include "event/blocking.h"
#include "event/loop.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct event_state {
    ss__loop *loops;
    int nloops, started;
    atomic_uint next;          /* round robin for requests handed over */
    ss__blocking blocking;
    atomic_uint refs;          /* owner + one per running loop: the last frees */
} event_state;

static void event_unref(event_state *es)
{
    if (atomic_fetch_sub(&es->refs, 1) != 1)
        return;
    ss__blocking_destroy(&es->blocking);
    for (int i = 0; i < es->nloops; i++)
        ss__loop_destroy(&es->loops[i]);
    free(es->loops);
    free(es);
}

/* Runs when a loop thread has ended. */
static void loop_exited(ss__loop *loop)
{
    ss_server *srv = loop->srv;
    event_unref(loop->owner);
    ss__server_release(srv);
}

static int event_init(ss_server *srv)
{
    event_state *es = calloc(1, sizeof *es);
    if (!es)
        return -ENOMEM;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    es->nloops = srv->cfg.workers > 0 ? srv->cfg.workers : (cpus > 0 ? (int)cpus : 1);
    atomic_init(&es->refs, 1);
    ss__blocking_init(&es->blocking);
    srv->st_state = es;
    es->loops = calloc((size_t)es->nloops, sizeof *es->loops);
    if (!es->loops) {
        es->nloops = 0;
        return -ENOMEM;
    }
    for (int i = 0; i < es->nloops; i++) {
        es->loops[i].epfd = es->loops[i].efd = -1;
        es->loops[i].owner = es;
        es->loops[i].on_exit = loop_exited;
    }
    for (int i = 0; i < es->nloops; i++) {
        int rc = ss__loop_init(&es->loops[i], srv);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < es->nloops; i++) {
        atomic_fetch_add(&es->refs, 1);
        atomic_fetch_add(&srv->refs, 1);
        int rc = ss__loop_start(&es->loops[i]);
        if (rc < 0) {
            atomic_fetch_sub(&es->refs, 1);
            atomic_fetch_sub(&srv->refs, 1);
            return rc;
        }
        es->started = i + 1;
    }
    return 0;
}

/* On a loop thread the request becomes a task there; from elsewhere (e.g.
 * ss_handle_request) it is handed to the loops in turn. */
static void event_process_request(ss_server *srv, ss_request *req)
{
    event_state *es = srv->st_state;
    ss__loop *loop = ss__loop_current();
    if (loop && loop->srv == srv) {
        ss__loop_spawn(loop, req);
        return;
    }
    loop = &es->loops[atomic_fetch_add(&es->next, 1) % (unsigned)es->nloops];
    int rc = ss__loop_post(loop, req);
    if (rc < 0) {
        ss__report(req, rc);
        ss__request_done(req);
    }
}

static void event_reap(ss_server *srv)
{
    (void)srv;
}

static void set_want_accept(ss_server *srv, bool on)
{
    event_state *es = srv->st_state;
    for (int i = 0; i < es->started; i++) {
        atomic_store(&es->loops[i].want_accept, on);
        ss__loop_wake(&es->loops[i]);
    }
}

static void event_serve_begin(ss_server *srv)
{
    set_want_accept(srv, true);
}

/* Loops stop accepting when they next run; serve_forever need not wait. */
static void event_serve_end(ss_server *srv)
{
    set_want_accept(srv, false);
}

/* Before the listener is closed: wait until every loop has seen that it
 * must not accept (and so dropped the listener from its epoll). */
static void event_release_listener(ss_server *srv)
{
    event_state *es = srv->st_state;
    for (int i = 0; i < es->started; i++) {
        ss__loop *loop = &es->loops[i];
        atomic_store(&loop->want_accept, false);
        unsigned gen = atomic_fetch_add(&loop->want_gen, 1) + 1;
        ss__loop_wake(loop);
        while ((int)(atomic_load(&loop->ack_gen) - gen) < 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Loops leave once their tasks are done (a drain deadline cuts those
 * short); block: wait for them. */
static void event_close(ss_server *srv, bool block)
{
    event_state *es = srv->st_state;
    if (!es)
        return;
    for (int i = 0; i < es->started; i++) {
        atomic_store(&es->loops[i].quit, true);
        ss__loop_wake(&es->loops[i]);
    }
    for (int i = 0; i < es->started; i++) {
        if (block)
            pthread_join(es->loops[i].tid, NULL);
        else
            pthread_detach(es->loops[i].tid);
    }
    srv->st_state = NULL;
    event_unref(es);
}

static void event_stats(const ss_server *srv, ss_stats *out)
{
    event_state *es = srv->st_state;
    out->threads = (unsigned)es->started;
}

static int event_wait(ss_request *req, int fd, short events, int64_t deadline)
{
    ss__task *t = ss__task_current();
    if (!t || t->req != req) /* not on its loop: e.g. a hook run elsewhere */
        return ss__poll_wait(req, fd, events, deadline);
    return ss__task_wait(t, fd, events, deadline);
}

static int event_run_blocking(ss_request *req, int (*fn)(void *), void *arg)
{
    ss__task *t = ss__task_current();
    if (!t || t->req != req)
        return fn(arg);
    event_state *es = t->loop->owner;
    return ss__blocking_run(&es->blocking, t, fn, arg);
}

const ss__strategy ss__event = {
    .name = "event",
    .init = event_init,
    .process_request = event_process_request,
    .reap = event_reap,
    .close = event_close,
    .stats = event_stats,
    .wait = event_wait,
    .loops_accept = true,
    .serve_begin = event_serve_begin,
    .serve_end = event_serve_end,
    .release_listener = event_release_listener,
    .before_close = ss__task_forget_fd,
    .run_blocking = event_run_blocking,
    .free_idle_buffers = true,
};
