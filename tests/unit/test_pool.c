/* test_pool.c: the pool strategy: a fixed set of workers, a bounded queue (a full pool stops accepting), drain, cancel, close. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct pl_shared {
    atomic_int started, finished, cancelled, busy, max_busy, release, fin_hook;
    atomic_int ntids;
    pid_t tids[256];
} pl_shared;

static pl_shared *S;
static int g_pipe[2] = { -1, -1 };
static ss_server *srv;
static h_serve sv;

static void begin(void)
{
    S = h_shared_alloc(sizeof *S);
    CHECK_EQ_INT(pipe2(g_pipe, O_CLOEXEC), 0);
}

static void start(ss_config cfg)
{
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    cfg.strategy = SS_POOL;
    srv = h_server_new(&cfg);
    h_serve_start(&sv, srv, 0.01);
}

static void note_tid(void)
{
    int i = atomic_fetch_add(&S->ntids, 1);
    if (i < 256)
        S->tids[i] = gettid();
}

static int distinct_tids(void)
{
    int n = atomic_load(&S->ntids), d = 0;
    if (n > 256)
        n = 256;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= S->tids[j] == S->tids[i];
        d += !seen;
    }
    return d;
}

static void enter(void)
{
    atomic_fetch_add(&S->started, 1);
    int cur = atomic_fetch_add(&S->busy, 1) + 1;
    int m = atomic_load(&S->max_busy);
    while (cur > m && !atomic_compare_exchange_weak(&S->max_busy, &m, cur))
        ;
}

static void leave(void)
{
    atomic_fetch_sub(&S->busy, 1);
    atomic_fetch_add(&S->finished, 1);
}

/* Echo a line after a short (library) sleep, counting concurrency. */
static int busy_echo(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    enter();
    note_tid();
    int r = ss_sleep(req, 0.02);
    leave();
    if (r < 0)
        return r;
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

/* Echo a line once the test writes to the pipe (a wait the drain can cut). */
static int gated_echo(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    enter();
    int r = ss_wait_fd(req, g_pipe[0], POLLIN, 30);
    leave();
    if (r == -ECANCELED)
        atomic_fetch_add(&S->cancelled, 1);
    if (r < 0)
        return r;
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

static void quiet_error(ss_server *s, ss_request *req, int err)
{
    (void)s;
    (void)req;
    (void)err;
}

/* ---- Workers are bounded ------------------------------------------------- */

/* 50 clients at once: stats.threads == workers, at most `workers` requests
 * run at a time, all on the workers, and the process never has more threads
 * than the workers and the serving thread. */
TEST(workers_bounded)
{
    enum { W = 3, N = 50 };
    static const ss_handler h = { .handle = busy_echo };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = N });
    CHECK_EQ_INT(h_stats(srv).threads, W);
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        char line[32];
        snprintf(line, sizeof line, "client %d\n", i);
        h_send_str(c[i], line);
    }
    int max_tasks = 0;
    unsigned max_threads = 0;
    for (int i = 0; i < N; i++) {
        int t = h_task_count();
        if (t > max_tasks)
            max_tasks = t;
        unsigned st = h_stats(srv).threads;
        if (st > max_threads)
            max_threads = st;
        char want[32], got[64];
        snprintf(want, sizeof want, "client %d\n", i);
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 20), 0);
        CHECK_EQ_STR(got, want);
        close(c[i]);
    }
    h_note("%d tasks at most (baseline %d), %d requests at once at most, on %d threads",
           max_tasks, baseline, atomic_load(&S->max_busy), distinct_tids());
    CHECK_EQ_INT(max_threads, W);
    CHECK_LE(max_tasks, baseline + W + 1);
    CHECK_LE(atomic_load(&S->max_busy), W);
    CHECK_GE(atomic_load(&S->max_busy), 1);
    CHECK_LE(distinct_tids(), W);
    for (int i = 0; i < atomic_load(&S->ntids) && i < 256; i++)
        CHECK_NE_INT(S->tids[i], gettid());
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(h_thread_count(), baseline);
}

/* Defaults: 2 x online CPUs workers, a queue of 4 x workers. */
TEST(default_sizes)
{
    static const ss_handler h = { .handle = gated_echo };
    begin();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int w = 2 * (int)cpus, q = 4 * w;
    start((ss_config){ .handler = &h, .handle_error = quiet_error });
    CHECK_EQ_INT(h_stats(srv).threads, w);
    int n = w + q + 10;
    int *c = calloc((size_t)n, sizeof *c);
    for (int i = 0; i < n; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "queued\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == w && h_stats(srv).accepted >= (uint64_t)(w + q), 10));
    h_sleep(0.3);
    uint64_t acc = h_stats(srv).accepted;
    h_note("%d workers, queue %d: %llu accepted of %d", w, q, (unsigned long long)acc, n);
    CHECK_GE(acc, w + q);
    CHECK_LE(acc, w + q + 1);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2); /* never read: stays readable */
    for (int i = 0; i < n; i++) {
        char got[32];
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 20), 0);
        CHECK_EQ_STR(got, "queued\n");
        close(c[i]);
    }
    free(c);
    CHECK_EQ_INT(h_stats(srv).accepted, n);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* ---- A full pool stops accepting ------------------------------------------ */

/* Every worker blocked and the queue full: accepted stays at workers +
 * queue_size (+1 for the one the serving thread holds) while more clients
 * connect; once the workers are free, every client is served. */
TEST(full_pool_stops_accepting)
{
    enum { W = 2, Q = 3, N = 12 };
    static const ss_handler h = { .handle = gated_echo };
    begin();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = Q });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        char line[32];
        snprintf(line, sizeof line, "client %d\n", i);
        h_send_str(c[i], line);
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == W && h_stats(srv).accepted >= W + Q, 10));
    uint64_t acc[3];
    for (int k = 0; k < 3; k++) {
        h_sleep(0.15);
        acc[k] = h_stats(srv).accepted;
        CHECK_GE(acc[k], W + Q);
        CHECK_LE(acc[k], W + Q + 1);
    }
    CHECK_EQ_INT(acc[2], acc[0]);
    CHECK_EQ_INT(atomic_load(&S->started), W); /* only the workers' requests run */
    /* More clients keep connecting (the backlog holds them). */
    int more = h_connect(srv);
    h_send_str(more, "one more\n");
    h_sleep(0.1);
    CHECK_LE(h_stats(srv).accepted, W + Q + 1);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2); /* never read: stays readable */
    for (int i = 0; i < N; i++) {
        char want[32], got[64];
        snprintf(want, sizeof want, "client %d\n", i);
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 20), 0);
        CHECK_EQ_STR(got, want);
        close(c[i]);
    }
    char got[64];
    CHECK_GT(h_recv_line(more, got, sizeof got, 20), 0);
    CHECK_EQ_STR(got, "one more\n");
    close(more);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, N + 1);
    CHECK_EQ_INT(st.completed, N + 1);
    CHECK_LE(atomic_load(&S->max_busy), W);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* ss_shutdown while the pool is full (the serving thread waits for room):
 * serve_forever still returns at once, and no accepted client is left
 * hanging once the workers are free. */
TEST(shutdown_while_full)
{
    enum { W = 1, Q = 1, N = 5 };
    static const ss_handler h = { .handle = gated_echo };
    begin();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = Q, .handle_error = quiet_error });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "full\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == W && h_stats(srv).accepted >= W + Q, 10));
    h_sleep(0.1);
    double t0 = h_now();
    ss_shutdown(srv);
    bool returned = WAIT_FOR(atomic_load(&sv.done), 3);
    double el = h_now() - t0;
    /* Free the workers either way, so that the case ends. */
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    CHECK_MSG(returned, "serve_forever returned %.2f s after ss_shutdown, only once a worker "
              "was free (the serving thread waited for room in the queue)", el);
    uint64_t accepted = h_stats(srv).accepted;
    ss_server_close(srv);
    /* Every accepted client got its answer or was closed. */
    int answered = 0, unserved = 0;
    for (int i = 0; i < N; i++) {
        char got[32];
        ssize_t n = h_recv_line(c[i], got, sizeof got, 0.5);
        if (n > 0)
            answered++;
        else
            unserved++;
        close(c[i]);
    }
    CHECK_GE(answered, W + Q);
    CHECK_LE(answered, (int)accepted);
}

/* ---- Drain and cancel -------------------------------------------------------- */

/* A drain long enough: running and queued requests all complete. */
TEST(drain_completes_queued)
{
    enum { W = 2, N = 8 };
    static const ss_handler h = { .handle = busy_echo };
    begin();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = N });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "drained\n");
    }
    CHECK(WAIT_FOR(h_stats(srv).accepted == N, 10));
    ss_server_stop(srv, 5.0);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    ss_server_close(srv);
    for (int i = 0; i < N; i++) {
        char got[32];
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 10), 0);
        CHECK_EQ_STR(got, "drained\n");
        close(c[i]);
    }
    CHECK_EQ_INT(atomic_load(&S->finished), N);
}

/* The deadline passes with every worker blocked and requests queued: the
 * running ones fail with -ECANCELED at the deadline, the queued ones at their
 * first wait; finish runs for all; close returns; every client sees EOF. */
static int count_finish(ss_request *req)
{
    (void)req;
    atomic_fetch_add(&S->fin_hook, 1);
    return 0;
}

TEST(drain_cancels_running_and_queued)
{
    enum { W = 2, Q = 4, N = 6 };
    static const ss_handler h = { .handle = gated_echo, .finish = count_finish };
    begin();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = Q, .handle_error = quiet_error });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "never\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == W && h_stats(srv).accepted == N, 10));
    double t0 = h_now();
    ss_server_stop(srv, 0.3);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->fin_hook) == N, 10));
    double el = h_now() - t0;
    CHECK_GE_DBL(el, 0.25);
    CHECK_LT_DBL(el, 5.0);
    /* The running ones were cut short in their wait (the queued ones in their
     * read or their wait, whichever came first). */
    CHECK_GE(atomic_load(&S->cancelled), W);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.cancelled, N);
    double tc = h_now();
    ss_server_close(srv);
    CHECK_LT_DBL(h_now() - tc, 5.0);
    for (int i = 0; i < N; i++) {
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
}

/* ---- no_block_on_close ------------------------------------------------------- */

/* close returns while workers still run; they finish safely afterwards
 * (requests in flight and in the queue), and their threads go away. */
TEST(no_block_on_close_safe)
{
    enum { W = 2, N = 5 };
    static const ss_handler h = { .handle = gated_echo };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = W, .queue_size = N, .no_block_on_close = true });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "after close\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == W && h_stats(srv).accepted == N, 10));
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
    CHECK_EQ_INT(atomic_load(&S->finished), 0); /* close did not wait */
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2);
    for (int i = 0; i < N; i++) {
        char got[32];
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 10), 0);
        CHECK_EQ_STR(got, "after close\n");
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
    CHECK(WAIT_FOR(atomic_load(&S->finished) == N, 10));
    CHECK_MSG(WAIT_FOR(h_thread_count() == baseline, 10), "%d threads after close, %d before",
              h_thread_count(), baseline);
}

/* ss_handle_request queues the request for a worker and returns. */
TEST(handle_request_queues)
{
    enum { W = 2, N = 4 };
    static const ss_handler h = { .handle = gated_echo };
    begin();
    ss_server *s = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                              .strategy = SS_POOL, .workers = W,
                                              .queue_size = N });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(s);
        h_send_str(c[i], "queued\n");
        CHECK_EQ_INT(ss_handle_request(s), 0); /* returns while the handler waits */
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == W, 5));
    CHECK_EQ_INT(h_stats(s).active, N);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2);
    for (int i = 0; i < N; i++) {
        char got[32];
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 5), 0);
        CHECK_EQ_STR(got, "queued\n");
        close(c[i]);
    }
    ss_server_close(s);
    CHECK_EQ_INT(atomic_load(&S->finished), N);
}
