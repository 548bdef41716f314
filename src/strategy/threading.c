/* threading.c: the threading strategy (ThreadingMixIn): a thread per request, finished threads reaped. */
#include "core/internal.h"
#include "strategy/cancel_set.h"

#include <stdlib.h>

enum { T_RUNNING, T_DONE, T_ORPHANED };

/* One request thread; owned by the strategy's list until joined, or, once
 * orphaned by a non-blocking close, freed by whichever side ends last. */
typedef struct thread_rec {
    pthread_t tid;
    ss_request *req;
    atomic_int state;
    struct thread_rec *next;
} thread_rec;

typedef struct threading_state {
    pthread_mutex_t lock;
    thread_rec *list;      /* joinable threads, newest first */
    atomic_uint count;     /* length of list */
    /* The open connections (blocking: ss__conn_blocking), shut down at the
     * drain deadline by the set's thread. */
    ss__cancel_set *cancel_set;
    pthread_attr_t attr;   /* request threads: stack_size, joinable or detached */
} threading_state;

/* A request thread's stack. glibc keeps up to 40 MiB of the stacks of
 * ended threads for new ones: 8 MiB stacks (its default) would be mapped,
 * faulted in and unmapped for nearly every connection; 256 KiB ones are
 * reused (the untouched part costs address space only). */
#define THREAD_STACK ((size_t)256 * 1024)

static int threading_init(ss_server *srv)
{
    threading_state *ts = calloc(1, sizeof *ts);
    if (!ts)
        return -ENOMEM;
    pthread_mutex_init(&ts->lock, NULL);
    srv->st_state = ts;
    pthread_attr_init(&ts->attr);
    pthread_attr_setdetachstate(&ts->attr, srv->cfg.daemon_threads ? PTHREAD_CREATE_DETACHED
                                                                    : PTHREAD_CREATE_JOINABLE);
    int rc = pthread_attr_setstacksize(&ts->attr, srv->cfg.stack_size ? srv->cfg.stack_size : THREAD_STACK);
    if (rc != 0)
        return ss__fail(-rc, "stack_size: %zu bytes is too small for a thread", srv->cfg.stack_size);
    return ss__cancel_set_start(srv, &ts->cancel_set);
}

ss__cancel_set *ss__threading_cancel_set(const ss_server *srv)
{
    const threading_state *ts = srv->st_state;
    return ts->cancel_set;
}

static void *request_thread(void *arg)
{
    thread_rec *t = arg;
    ss__finish_request(t->req);
    ss__request_done(t->req);
    if (atomic_exchange(&t->state, T_DONE) == T_ORPHANED)
        free(t);
    return NULL;
}

static void threading_process_request(ss_server *srv, ss_request *req)
{
    threading_state *ts = srv->st_state;
    bool daemon = srv->cfg.daemon_threads;
    thread_rec *t = calloc(1, sizeof *t);
    int rc = ENOMEM;
    if (t) {
        t->req = req;
        /* A daemon thread is never joined: it frees its record itself. */
        atomic_init(&t->state, daemon ? T_ORPHANED : T_RUNNING);
        /* Counted before it runs: whoever the request answers can already
         * see its thread in ss_server_stats. */
        if (!daemon)
            atomic_fetch_add(&ts->count, 1);
        rc = pthread_create(&t->tid, &ts->attr, request_thread, t);
        if (rc != 0 && !daemon)
            atomic_fetch_sub(&ts->count, 1);
    }
    if (rc != 0) {
        free(t);
        ss__request_abort(req, -rc);
        return;
    }
    if (!daemon) {
        pthread_mutex_lock(&ts->lock);
        t->next = ts->list;
        ts->list = t;
        pthread_mutex_unlock(&ts->lock);
    }
}

static void threading_reap(ss_server *srv)
{
    threading_state *ts = srv->st_state;
    pthread_mutex_lock(&ts->lock);
    for (thread_rec **pp = &ts->list; *pp;) {
        thread_rec *t = *pp;
        if (atomic_load(&t->state) == T_DONE) {
            *pp = t->next;
            pthread_join(t->tid, NULL);
            free(t);
            atomic_fetch_sub(&ts->count, 1);
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&ts->lock);
}

static void threading_close(ss_server *srv, bool block)
{
    threading_state *ts = srv->st_state;
    if (!ts)
        return;
    pthread_mutex_lock(&ts->lock);
    thread_rec *list = ts->list;
    ts->list = NULL;
    pthread_mutex_unlock(&ts->lock);
    while (list) {
        thread_rec *t = list;
        list = t->next;
        if (block) {
            pthread_join(t->tid, NULL);
            free(t);
        } else {
            pthread_detach(t->tid);
            if (atomic_exchange(&t->state, T_ORPHANED) == T_DONE)
                free(t);
        }
    }
    /* Requests still running (daemon threads, or a close that does not
     * block) are still cancelled at the drain deadline. */
    if (ts->cancel_set)
        ss__cancel_set_close(ts->cancel_set);
    pthread_mutex_destroy(&ts->lock);
    pthread_attr_destroy(&ts->attr);
    free(ts);
    srv->st_state = NULL;
}

static void threading_stats(const ss_server *srv, ss_stats *out)
{
    threading_state *ts = srv->st_state;
    out->threads = ts ? atomic_load(&ts->count) : 0;
}

const ss__strategy ss__threading = {
    .name = "threading",
    .stream_conn = &ss__conn_blocking,
    .loops_accept = false,
    .init = threading_init,
    .process_request = threading_process_request,
    .reap = threading_reap,
    .close = threading_close,
    .stats = threading_stats,
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
