/* test_pool.c: the pool strategy: a fixed set of workers that park requests waiting for I/O, a bounded queue (a full pool stops accepting), slow clients, drain, cancel, close. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct pl_shared {
    atomic_int started, finished, cancelled, busy, max_busy, parked, fin_hook;
    atomic_int timeouts, moved;
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

static ss_server *create(ss_config cfg)
{
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    cfg.strategy = SS_POOL;
    return h_server_new(&cfg);
}

static void start(ss_config cfg)
{
    srv = create(cfg);
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

/* busy counts handlers holding their worker (or, for the gated ones, in
 * their wait); max_busy is the most at once. */
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

/* A plain blocking call (not through the library): it holds the worker. */
static void foreign_sleep(double seconds)
{
    time_t whole = (time_t)seconds;
    struct timespec ts = { whole, (long)((seconds - (double)whole) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Wait for the test's go on the pipe with poll() (a foreign blocking call:
 * the worker is held, nothing else runs on it). */
static void foreign_wait_go(void)
{
    struct pollfd p = { .fd = g_pipe[0], .events = POLLIN };
    while (poll(&p, 1, 30000) < 0 && errno == EINTR)
        ;
}

/* Echo a line after a short (library) sleep. */
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

/* Echo a line once the test writes to the pipe; the wait goes through the
 * library, so the request parks and its worker serves others meanwhile
 * (and a drain deadline cuts the wait). */
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

/* Echo a line once the test writes to the pipe, waiting with a foreign
 * call: the worker is held all the while. */
static int held_echo(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    enter();
    foreign_wait_go();
    leave();
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

static void quiet_error(ss_server *s, ss_request *req, int err)
{
    (void)s;
    (void)req;
    if (err == -ETIMEDOUT)
        atomic_fetch_add(&S->timeouts, 1);
}

/* Connect n clients and send each its line while nobody accepts yet (the
 * backlog holds them), so every request finds its line there when it
 * starts and never parks in its first read. */
static void connect_all(ss_server *s, int *c, int n)
{
    for (int i = 0; i < n; i++) {
        c[i] = h_connect(s);
        char line[32];
        snprintf(line, sizeof line, "client %d\n", i);
        h_send_str(c[i], line);
    }
}

static void expect_client_line(int c, int i)
{
    char want[32], got[64];
    snprintf(want, sizeof want, "client %d\n", i);
    CHECK_GT(h_recv_line(c, got, sizeof got, 20), 0);
    CHECK_EQ_STR(got, want);
}

/* ---- Workers are bounded; waiting requests hold none ------------------------ */

/* 50 clients park in a wait at once on 3 workers: stats.threads == workers
 * and the process has no more threads than the workers and the serving
 * thread. Released, each holds its worker a moment (a foreign sleep): at
 * most `workers` run at a time, all on the workers. */
static int park_then_hold(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    atomic_fetch_add(&S->parked, 1);
    int r = ss_wait_fd(req, g_pipe[0], POLLIN, 30);
    if (r < 0)
        return r;
    enter();
    note_tid();
    foreign_sleep(0.005);
    leave();
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

TEST(workers_bounded)
{
    enum { W = 3, N = 50 };
    static const ss_handler h = { .handle = park_then_hold };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = W });
    CHECK_EQ_INT(h_stats(srv).threads, W);
    int c[N];
    h_connect_clients(srv, c, N);
    CHECK_MSG(WAIT_FOR(atomic_load(&S->parked) == N, 20), "%d of %d requests waiting at once",
              atomic_load(&S->parked), N);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.active, N);
    CHECK_EQ_INT(st.threads, W);
    CHECK_LE(h_task_count(), baseline + W + 1);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2); /* never read: stays readable */
    for (int i = 0; i < N; i++) {
        expect_client_line(c[i], i);
        close(c[i]);
    }
    h_note("%d requests waited at once on %d workers; %d ran at once at most, on %d threads",
           N, W, atomic_load(&S->max_busy), distinct_tids());
    CHECK_LE(atomic_load(&S->max_busy), W);
    CHECK_GE(atomic_load(&S->max_busy), 1);
    CHECK_LE(distinct_tids(), W);
    for (int i = 0; i < atomic_load(&S->ntids) && i < 256; i++)
        CHECK_NE_INT(S->tids[i], gettid());
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(h_thread_count(), baseline);
}

/* A request is resumed on the worker that started it, whatever ran there
 * meanwhile (thread-local storage and errno stay valid across a wait). */
static _Thread_local int tls_marker;

static int affinity_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    pid_t tid = gettid();
    int *mine = &tls_marker;
    for (int i = 0; i < 5; i++) {
        int r = ss_sleep(req, 0.002 * (i % 3));
        if (r < 0)
            return r;
        if (gettid() != tid || &tls_marker != mine)
            atomic_fetch_add(&S->moved, 1);
    }
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

TEST(requests_stay_on_their_worker)
{
    enum { N = 40 };
    static const ss_handler h = { .handle = affinity_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 3 });
    int c[N];
    h_connect_clients(srv, c, N);
    for (int i = 0; i < N; i++) {
        expect_client_line(c[i], i);
        close(c[i]);
    }
    CHECK_EQ_INT(atomic_load(&S->moved), 0);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* Defaults: 2 x online CPUs workers, a queue of 4 x workers: with every
 * worker held, at most workers + queue (+1 in the serving thread's hands)
 * are accepted. */
TEST(default_sizes)
{
    static const ss_handler h = { .handle = held_echo };
    begin();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int w = 2 * (int)cpus, q = 4 * w;
    int n = w + q + 10;
    ss_server *s = create((ss_config){ .handler = &h, .handle_error = quiet_error,
                                       .request_queue_size = 2 * n });
    CHECK_EQ_INT(h_stats(s).threads, w);
    int *c = calloc((size_t)n, sizeof *c);
    connect_all(s, c, n);
    srv = s;
    h_serve_start(&sv, srv, 0.01);
    CHECK(WAIT_FOR(atomic_load(&S->busy) == w && h_stats(srv).accepted >= (uint64_t)(w + q), 10));
    h_sleep(0.3);
    uint64_t acc = h_stats(srv).accepted;
    h_note("%d workers, queue %d: %llu accepted of %d", w, q, (unsigned long long)acc, n);
    CHECK_GE(acc, w + q);
    CHECK_LE(acc, w + q + 1);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2); /* never read: stays readable */
    for (int i = 0; i < n; i++) {
        expect_client_line(c[i], i);
        close(c[i]);
    }
    free(c);
    CHECK_EQ_INT(h_stats(srv).accepted, n);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* ---- A full pool stops accepting ------------------------------------------ */

/* Every worker held (a foreign blocking call) and the queue full: accepted
 * stays at workers + queue_size (+1 for the one the serving thread holds)
 * while more clients connect; once the workers are free, every client is
 * served. */
TEST(full_pool_stops_accepting)
{
    enum { W = 2, Q = 3, N = 12 };
    static const ss_handler h = { .handle = held_echo };
    begin();
    ss_server *s = create((ss_config){ .handler = &h, .workers = W, .queue_size = Q });
    int c[N];
    connect_all(s, c, N);
    srv = s;
    h_serve_start(&sv, srv, 0.01);
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
        expect_client_line(c[i], i);
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
    static const ss_handler h = { .handle = held_echo };
    begin();
    ss_server *s = create((ss_config){ .handler = &h, .workers = W, .queue_size = Q,
                                       .handle_error = quiet_error });
    int c[N];
    connect_all(s, c, N);
    srv = s;
    h_serve_start(&sv, srv, 0.01);
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
    int answered = 0;
    for (int i = 0; i < N; i++) {
        char got[32];
        answered += h_recv_line(c[i], got, sizeof got, 0.5) > 0;
        close(c[i]);
    }
    CHECK_GE(answered, W + Q);
    CHECK_LE(answered, (int)accepted);
}

/* ---- Slow clients ------------------------------------------------------------ */

/* Echo one line; a read that fails (a timeout) fails the request, even
 * with part of a line in (ss_readline would return that part). */
static int line_echo(ss_request *req)
{
    const char *line;
    ssize_t n = ss_readline_ref(req, &line, 1024);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

static const ss_handler line_echo_handler = { .handle = line_echo };

/* Connect n clients that send one byte of a line and then nothing. */
static void slow_clients(int *c, int n)
{
    for (int i = 0; i < n; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "s");
    }
}

/* 200 clients each send one byte of a line and stop: on 2 workers, their
 * requests wait for the rest of the line without holding a worker, so a
 * normal client is still answered while all 200 are connected and waiting. */
TEST(slowloris_does_not_starve)
{
    enum { W = 2, N = 200 };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &line_echo_handler, .workers = W });
    int c[N];
    slow_clients(c, N);
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == N, 20), "%u of %d slow clients taken",
              h_stats(srv).active, N);
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "normal client\n");
    /* completed counts when the handler returns, active when the
     * connection is closed after it: wait for both. */
    CHECK(WAIT_FOR(h_stats(srv).completed == 3, 5));
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == N, 5), "%u active", h_stats(srv).active);
    ss_stats st = h_stats(srv); /* the 200 still there, waiting */
    CHECK_EQ_INT(st.threads, W);
    CHECK_LE(h_task_count(), baseline + W + 1);
    /* They end their line after all, and get it back. */
    for (int i = 0; i < N; i++)
        h_send_str(c[i], "low\n");
    for (int i = 0; i < N; i++) {
        char got[32];
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 20), 0);
        CHECK_EQ_STR(got, "slow\n");
        close(c[i]);
    }
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    CHECK_EQ_INT(h_stats(srv).completed, N + 3);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* The same crowd with request_timeout: the slow requests fail with
 * -ETIMEDOUT (a byte trickling in does not extend the read) and their
 * connections are closed, while normal clients keep being served; the
 * worker count never changes. */
TEST(slowloris_shed_by_timeout)
{
    enum { W = 2, N = 200 };
    begin();
    start((ss_config){ .handler = &line_echo_handler, .workers = W, .request_timeout = 1.0,
                       .handle_error = quiet_error });
    int c[N];
    slow_clients(c, N);
    unsigned max_threads = 0;
    int served = 0;
    for (int k = 0; k < 3; k++) {
        h_sleep(0.1);
        for (int i = 0; i < N; i++) /* dribble (once shed, the send may fail) */
            (void)send(c[i], "l", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        h_exchange(srv, "normal client\n");
        served++;
        unsigned t = h_stats(srv).threads;
        max_threads = t > max_threads ? t : max_threads;
    }
    while (h_stats(srv).errors < N && served < 1000) {
        h_exchange(srv, "normal client\n");
        served++;
        unsigned t = h_stats(srv).threads;
        max_threads = t > max_threads ? t : max_threads;
        h_sleep(0.02);
    }
    ss_stats st = h_stats(srv);
    h_note("%llu slow requests timed out while %d normal clients were served",
           (unsigned long long)st.errors, served);
    CHECK_MSG(WAIT_FOR(h_stats(srv).errors == N, 20), "%llu of %d slow requests shed",
              (unsigned long long)h_stats(srv).errors, N);
    CHECK_EQ_INT(atomic_load(&S->timeouts), N);
    for (int i = 0; i < N; i++) {
        CHECK(h_wait_eof(c[i], 10));
        close(c[i]);
    }
    h_exchange(srv, "normal client\n");
    served++;
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    st = h_stats(srv);
    CHECK_EQ_INT(st.errors, N);
    CHECK_EQ_INT(st.completed, served + N); /* the hooks ran, the handler failed */
    CHECK_EQ_INT(max_threads, W);
    CHECK_EQ_INT(st.threads, W);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* A handler held in a foreign blocking call holds its worker only: the
 * other worker keeps serving new clients. */
static int block_or_echo(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    if (strcmp(line, "block\n") == 0) {
        enter();
        foreign_wait_go();
        leave();
    }
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

TEST(foreign_block_holds_one_worker)
{
    static const ss_handler h = { .handle = block_or_echo };
    begin();
    start((ss_config){ .handler = &h, .workers = 2 });
    int b = h_connect(srv);
    h_send_str(b, "block\n");
    CHECK(WAIT_FOR(atomic_load(&S->busy) == 1, 5));
    for (int i = 0; i < 10; i++)
        h_exchange(srv, "meanwhile\n");
    CHECK_EQ_INT(atomic_load(&S->finished), 0); /* all served while it blocked */
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2);
    char got[32];
    CHECK_GT(h_recv_line(b, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "block\n");
    close(b);
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
}

/* Pool handlers used to have thread stacks: the default coroutine stack
 * (256 KiB) holds 200 KiB of locals. */
static int big_stack_handle(ss_request *req)
{
    unsigned sum = h_use_big_stack();
    int r = ss_sleep(req, 0.001); /* a wait after: parked with its stack's pages in use */
    if (r < 0)
        return r;
    return ss_writef(req, "sum %u\n", sum) < 0 ? -EIO : 0;
}

TEST(default_stack_is_roomy)
{
    static const ss_handler h = { .handle = big_stack_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    unsigned want = h_big_stack_sum();
    char line[64], got[64];
    snprintf(line, sizeof line, "sum %u\n", want);
    for (int i = 0; i < 3; i++) {
        int c = h_connect(srv);
        CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
        CHECK_EQ_STR(got, line);
        close(c);
    }
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
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

static int count_finish(ss_request *req)
{
    (void)req;
    atomic_fetch_add(&S->fin_hook, 1);
    return 0;
}

/* The deadline passes with many more requests waiting than workers: every
 * wait fails with -ECANCELED at the deadline; finish runs for all; close
 * returns; every client sees EOF. */
TEST(drain_cancels_waiting)
{
    enum { W = 2, N = 20 };
    static const ss_handler h = { .handle = gated_echo, .finish = count_finish };
    begin();
    start((ss_config){ .handler = &h, .workers = W, .handle_error = quiet_error });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "never\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == N, 10));
    double t0 = h_now();
    ss_server_stop(srv, 0.3);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->fin_hook) == N, 10));
    double el = h_now() - t0;
    CHECK_GE_DBL(el, 0.25);
    CHECK_EQ_INT(atomic_load(&S->cancelled), N);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    CHECK_EQ_INT(h_stats(srv).cancelled, N);
    double tc = h_now();
    ss_server_close(srv);
    CHECK_LT_DBL(h_now() - tc, 5.0);
    for (int i = 0; i < N; i++) {
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
}

/* The deadline passes while the one worker is held (a foreign sleep longer
 * than the drain) with requests queued: the held one's next I/O call and
 * the queued ones' first fail with -ECANCELED; finish runs for all. */
static int hold_then_echo(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n == -ECANCELED)
        atomic_fetch_add(&S->cancelled, 1);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    enter();
    foreign_sleep(1.0);
    leave();
    ssize_t w = ss_write(req, line, (size_t)n);
    if (w == -ECANCELED)
        atomic_fetch_add(&S->cancelled, 1);
    return w < 0 ? (int)w : 0;
}

TEST(drain_cancels_held_and_queued)
{
    enum { Q = 4, N = 1 + Q };
    static const ss_handler h = { .handle = hold_then_echo, .finish = count_finish };
    begin();
    ss_server *s = create((ss_config){ .handler = &h, .workers = 1, .queue_size = Q,
                                       .handle_error = quiet_error });
    int c[N];
    connect_all(s, c, N);
    srv = s;
    h_serve_start(&sv, srv, 0.01);
    CHECK(WAIT_FOR(atomic_load(&S->busy) == 1 && h_stats(srv).accepted == N, 10));
    ss_server_stop(srv, 0.1);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->fin_hook) == N, 10));
    CHECK_EQ_INT(atomic_load(&S->started), 1); /* the queued ones never got their line */
    CHECK_EQ_INT(atomic_load(&S->cancelled), N);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    CHECK_EQ_INT(h_stats(srv).cancelled, N);
    ss_server_close(srv);
    for (int i = 0; i < N; i++) {
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
}

/* ---- no_block_on_close ------------------------------------------------------- */

/* close returns while requests still wait; they finish safely afterwards,
 * and the workers go away. */
TEST(no_block_on_close_safe)
{
    enum { W = 2, N = 5 };
    static const ss_handler h = { .handle = gated_echo };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = W, .no_block_on_close = true });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "after close\n");
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == N, 10));
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
    ss_server *s = create((ss_config){ .handler = &h, .workers = W, .queue_size = N });
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(s);
        h_send_str(c[i], "queued\n");
        CHECK_EQ_INT(ss_handle_request(s), 0); /* returns while the handler waits */
    }
    CHECK(WAIT_FOR(atomic_load(&S->busy) == N, 5));
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
