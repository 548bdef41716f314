/* pool.c: the pool strategy: a fixed set of worker threads fed by a bounded queue of requests. */
#include "core/internal.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct pool_state {
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    ss_request **queue;       /* ring of accepted requests */
    int cap, head, len;
    int nworkers;
    pthread_t *tids;
    bool closing;             /* workers leave once the queue is empty */
    atomic_uint refs;         /* owner + one per worker: the last frees */
    atomic_uint busy;         /* workers running a request */
} pool_state;

static void pool_unref(pool_state *ps)
{
    if (atomic_fetch_sub(&ps->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ps->lock);
    pthread_cond_destroy(&ps->nonempty);
    pthread_cond_destroy(&ps->nonfull);
    free(ps->queue);
    free(ps->tids);
    free(ps);
}

static void *worker(void *arg)
{
    pool_state *ps = arg;
    pthread_mutex_lock(&ps->lock);
    for (;;) {
        while (ps->len == 0 && !ps->closing)
            pthread_cond_wait(&ps->nonempty, &ps->lock);
        if (ps->len == 0)
            break;
        ss_request *req = ps->queue[ps->head];
        ps->head = (ps->head + 1) % ps->cap;
        ps->len--;
        pthread_cond_signal(&ps->nonfull);
        pthread_mutex_unlock(&ps->lock);
        atomic_fetch_add(&ps->busy, 1);
        ss__finish_request(req);
        ss__request_done(req);
        atomic_fetch_sub(&ps->busy, 1);
        pthread_mutex_lock(&ps->lock);
    }
    pthread_mutex_unlock(&ps->lock);
    pool_unref(ps);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int pool_init(ss_server *srv)
{
    pool_state *ps = calloc(1, sizeof *ps);
    if (!ps)
        return -ENOMEM;
    int want = srv->cfg.workers > 0 ? srv->cfg.workers : 2 * online_cpus();
    ps->cap = srv->cfg.queue_size > 0 ? srv->cfg.queue_size : 4 * want;
    ps->queue = calloc((size_t)ps->cap, sizeof *ps->queue);
    ps->tids = calloc((size_t)want, sizeof *ps->tids);
    pthread_mutex_init(&ps->lock, NULL);
    pthread_cond_init(&ps->nonempty, NULL);
    pthread_cond_init(&ps->nonfull, NULL);
    atomic_init(&ps->refs, 1);
    srv->st_state = ps;
    if (!ps->queue || !ps->tids)
        return -ENOMEM;
    for (int i = 0; i < want; i++) {
        atomic_fetch_add(&ps->refs, 1);
        int rc = pthread_create(&ps->tids[i], NULL, worker, ps);
        if (rc != 0) {
            atomic_fetch_sub(&ps->refs, 1);
            return -rc;
        }
        ps->nworkers = i + 1;
    }
    return 0;
}

/* Stopping with a full queue: the request in hand still gets its place
 * (the serving loop ends right after, so this happens at most once or so). */
static int grow_queue(pool_state *ps)
{
    int cap = ps->cap * 2;
    ss_request **q = malloc((size_t)cap * sizeof *q);
    if (!q)
        return -ENOMEM;
    for (int i = 0; i < ps->len; i++)
        q[i] = ps->queue[(ps->head + i) % ps->cap];
    free(ps->queue);
    ps->queue = q;
    ps->head = 0;
    ps->cap = cap;
    return 0;
}

/* Queue the request; when the queue is full, wait for room: the serving
 * thread stops accepting meanwhile and the kernel's backlog holds clients. */
static void pool_process_request(ss_server *srv, ss_request *req)
{
    pool_state *ps = srv->st_state;
    pthread_mutex_lock(&ps->lock);
    while (ps->len == ps->cap && !atomic_load(&srv->stop_requested)) {
        /* A stop (perhaps from a signal handler, which cannot signal a
         * condition variable) is noticed within 50 ms. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ps->nonfull, &ps->lock, &ts);
    }
    if (ps->len == ps->cap && grow_queue(ps) < 0) {
        pthread_mutex_unlock(&ps->lock);
        ss__report(req, -ENOMEM);
        ss__request_done(req);
        return;
    }
    ps->queue[(ps->head + ps->len) % ps->cap] = req;
    ps->len++;
    pthread_cond_signal(&ps->nonempty);
    pthread_mutex_unlock(&ps->lock);
}

static void pool_reap(ss_server *srv)
{
    (void)srv;
}

/* Workers finish what is queued, then leave; block: wait for them. */
static void pool_close(ss_server *srv, bool block)
{
    pool_state *ps = srv->st_state;
    if (!ps)
        return;
    pthread_mutex_lock(&ps->lock);
    ps->closing = true;
    pthread_cond_broadcast(&ps->nonempty);
    pthread_mutex_unlock(&ps->lock);
    for (int i = 0; i < ps->nworkers; i++) {
        if (block)
            pthread_join(ps->tids[i], NULL);
        else
            pthread_detach(ps->tids[i]);
    }
    srv->st_state = NULL;
    pool_unref(ps);
}

static void pool_stats(const ss_server *srv, ss_stats *out)
{
    pool_state *ps = srv->st_state;
    out->threads = (unsigned)ps->nworkers;
}

const ss__strategy ss__pool = {
    .name = "pool",
    .init = pool_init,
    .process_request = pool_process_request,
    .reap = pool_reap,
    .close = pool_close,
    .stats = pool_stats,
    .wait = ss__poll_wait,
};
