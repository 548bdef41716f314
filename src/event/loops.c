/* loops.c: a set of event loops on their own threads: start, accept on and off, max_connections, waits, close. */
#include "event/loops.h"

#include <stdlib.h>
#include <time.h>

static void loops_unref(ss__loops *ls)
{
    if (atomic_fetch_sub(&ls->refs, 1) != 1)
        return;
    ss__blocking_destroy(&ls->blocking);
    for (int i = 0; i < ls->n; i++)
        ss__loop_destroy(&ls->loop[i]);
    if (ls->feed) {
        ss__queue_destroy(ls->feed);
        free(ls->feed);
    }
    free(ls->loop);
    free(ls);
}

/* Runs when a loop thread has ended. */
static void loop_exited(ss__loop *loop)
{
    ss_server *srv = loop->srv;
    loops_unref(loop->owner);
    ss__server_release(srv);
}

int ss__loops_init(ss_server *srv, int n, size_t stack, int feed_cap)
{
    ss__loops *ls = calloc(1, sizeof *ls);
    if (!ls)
        return -ENOMEM;
    atomic_init(&ls->refs, 1);
    srv->st_state = ls;
    int blocking = srv->cfg.blocking_threads > 0 ? srv->cfg.blocking_threads : SS__DEFAULT_BLOCKING;
    int rc = ss__blocking_init(&ls->blocking, blocking);
    if (rc < 0)
        return rc;
    if (feed_cap > 0) {
        if (!(ls->feed = calloc(1, sizeof *ls->feed)))
            return -ENOMEM;
        if ((rc = ss__queue_init(ls->feed, feed_cap)) < 0)
            return rc;
    }
    if (!(ls->loop = calloc((size_t)n, sizeof *ls->loop)))
        return -ENOMEM;
    ls->n = n;
    for (int i = 0; i < n; i++) {
        ss__loop *loop = &ls->loop[i];
        loop->epfd = loop->efd = -1;
        loop->srv = srv;
        loop->owner = ls;
        loop->on_exit = loop_exited;
        loop->feed.queue = ls->feed;
        loop->stack_size = stack;
    }
    for (int i = 0; i < n; i++)
        if ((rc = ss__loop_init(&ls->loop[i])) < 0)
            return rc;
    for (int i = 0; i < n; i++) {
        atomic_fetch_add(&ls->refs, 1);
        atomic_fetch_add(&srv->refs, 1);
        if ((rc = ss__loop_start(&ls->loop[i])) < 0) {
            atomic_fetch_sub(&ls->refs, 1);
            atomic_fetch_sub(&srv->refs, 1);
            return rc;
        }
        ls->started = i + 1;
    }
    return 0;
}

void ss__loops_close(ss_server *srv, bool block)
{
    ss__loops *ls = srv->st_state;
    if (!ls)
        return;
    for (int i = 0; i < ls->started; i++) {
        atomic_store(&ls->loop[i].quit, true);
        ss__loop_wake(&ls->loop[i]);
    }
    for (int i = 0; i < ls->started; i++) {
        if (block)
            pthread_join(ls->loop[i].tid, NULL);
        else
            pthread_detach(ls->loop[i].tid);
    }
    srv->st_state = NULL;
    loops_unref(ls);
}

void ss__loops_stats(const ss_server *srv, ss_stats *out)
{
    const ss__loops *ls = srv->st_state;
    out->threads = (unsigned)ls->started;
}

/* The calling task parks on its loop; outside it (a hook run elsewhere,
 * such as verify_request in the accepting thread) the thread polls. */
int ss__loops_wait_conn(ss_request *req, short events, int64_t deadline)
{
    ss__task *t = ss__task_current();
    if (!t || t->req != req)
        return ss__poll_wait(req, req->fd, events, deadline);
    return ss__task_wait_conn(t, events, deadline);
}

int ss__loops_wait_fd(ss_request *req, int fd, short events, int64_t deadline)
{
    ss__task *t = ss__task_current();
    if (!t || t->req != req)
        return ss__poll_wait(req, fd, events, deadline);
    return ss__task_wait_fd(t, fd, events, deadline);
}

static void set_want_accept(ss_server *srv, bool on)
{
    ss__loops *ls = srv->st_state;
    for (int i = 0; i < ls->started; i++) {
        atomic_store(&ls->loop[i].accept.want, on);
        ss__loop_wake(&ls->loop[i]);
    }
}

void ss__loops_serve_begin(ss_server *srv)
{
    set_want_accept(srv, true);
}

/* Loops stop accepting when they next run; serve_forever need not wait. */
void ss__loops_serve_end(ss_server *srv)
{
    set_want_accept(srv, false);
}

/* Before the listener is closed: wait until every loop has seen that it
 * must not accept (and so dropped the listener from its epoll). */
void ss__loops_release_listener(ss_server *srv)
{
    ss__loops *ls = srv->st_state;
    for (int i = 0; i < ls->started; i++) {
        ss__loop *loop = &ls->loop[i];
        atomic_store(&loop->accept.want, false);
        unsigned gen = atomic_fetch_add(&loop->accept.want_gen, 1) + 1;
        ss__loop_wake(loop);
        while ((int)(atomic_load(&loop->accept.ack_gen) - gen) < 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Called by the request that freed the slot: on a loop thread (the set is
 * then the loop's, which it keeps alive even after a non-blocking close),
 * or in the thread that accepted it outside the loops (ss_handle_request,
 * never concurrent with close). */
void ss__loops_accept_resume(ss_server *srv)
{
    ss__loop *cur = ss__loop_current();
    ss__loops *ls = cur && cur->srv == srv ? cur->owner : srv->st_state;
    if (!ls)
        return;
    atomic_thread_fence(memory_order_seq_cst); /* pairs with stop_at_limit's */
    for (int i = 0; i < ls->n; i++) /* n, not started: set before any loop ran */
        ss__loop_accept_resume(&ls->loop[i]);
}
