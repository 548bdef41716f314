/* test_shutdown.c: shutdown at once (any thread, a handler, a signal), stop with a drain, block_on_close, daemon threads, children. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* State shared with handlers, in threads or forked children. */
typedef struct sd_shared {
    atomic_int started;
    atomic_int finished;
    atomic_int done;
    atomic_int release;
    atomic_int current, max_seen;
    atomic_int npids;
    pid_t pids[64];
    ssize_t io_ret;
    double io_at;     /* CLOCK_MONOTONIC time the I/O call returned */
    double started_at;
} sd_shared;

static sd_shared *S;
static ss_server *g_srv;

static void begin(void)
{
    S = h_shared_alloc(sizeof *S);
}

static void note_pid(void)
{
    int i = atomic_fetch_add(&S->npids, 1);
    if (i < 64)
        S->pids[i] = getpid();
}

/* ---- ss_shutdown takes effect at once ---------------------------------- */

static void shutdown_at_once_s(const char *listen, double poll, ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = listen, .handler = &h_echo_line_handler,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, poll);
    if (h_server_socktype(srv) == SOCK_STREAM)
        h_exchange(srv, "running\n"); /* the loop is in its wait now */
    else
        h_sleep(0.05);
    double t0 = h_now();
    ss_shutdown(srv);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

static void shutdown_at_once(const char *listen, double poll)
{
    shutdown_at_once_s(listen, poll, SS_SYNC);
}

/* gh-88932: no waiting out poll_interval (10 s here). */
TEST(shutdown_at_once_tcp) { shutdown_at_once("tcp://127.0.0.1:0", 10); }
TEST(shutdown_at_once_udp) { shutdown_at_once("udp://127.0.0.1:0", 10); }
TEST(shutdown_at_once_unix) { shutdown_at_once(h_url("unix:", "s"), 10); }
TEST(shutdown_at_once_unix_dgram) { shutdown_at_once(h_url("unix-dgram:", "d"), 10); }
TEST(shutdown_at_once_poll_zero) { shutdown_at_once("tcp://127.0.0.1:0", 0); }
TEST(shutdown_at_once_threading_tcp) { shutdown_at_once_s("tcp://127.0.0.1:0", 10, SS_THREADING); }
TEST(shutdown_at_once_forking_tcp) { shutdown_at_once_s("tcp://127.0.0.1:0", 10, SS_FORKING); }
TEST(shutdown_at_once_pool_tcp) { shutdown_at_once_s("tcp://127.0.0.1:0", 10, SS_POOL); }
TEST(shutdown_at_once_pool_udp) { shutdown_at_once_s("udp://127.0.0.1:0", 10, SS_POOL); }
TEST(shutdown_at_once_event_tcp) { shutdown_at_once_s("tcp://127.0.0.1:0", 10, SS_EVENT); }
TEST(shutdown_at_once_event_udp) { shutdown_at_once_s("udp://127.0.0.1:0", 10, SS_EVENT); }
TEST(shutdown_at_once_event_unix) { shutdown_at_once_s(h_url("unix:", "s"), 10, SS_EVENT); }
TEST(shutdown_at_once_event_unix_dgram) { shutdown_at_once_s(h_url("unix-dgram:", "d"), 10, SS_EVENT); }
TEST(shutdown_at_once_event_poll_zero) { shutdown_at_once_s("tcp://127.0.0.1:0", 0, SS_EVENT); }

/* A stop requested before serve_forever starts makes it return at once; it
 * serves normally when called again. */
static void shutdown_before_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy });
    ss_shutdown(srv);
    double t0 = h_now();
    CHECK_EQ_INT(ss_serve_forever(srv, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    h_serve s;
    h_serve_start(&s, srv, 10);
    h_exchange(srv, "served again\n");
    CHECK(!atomic_load(&s.done));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(shutdown_before_serve_forever) { shutdown_before_test(SS_SYNC); }
TEST(shutdown_before_serve_forever_pool) { shutdown_before_test(SS_POOL); }
TEST(shutdown_before_serve_forever_event) { shutdown_before_test(SS_EVENT); }

/* ---- From inside a handler ------------------------------------------- */

static int shutdown_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    ss_shutdown(ss_request_server(req));
    atomic_store(&S->started, 1);
    return n > 0 && ss_write(req, line, (size_t)n) == n ? 0 : -EIO;
}

/* gh-83978: shutdown from a handler does not deadlock. */
static void shutdown_from_handler(ss_strategy strategy)
{
    static const ss_handler h = { .handle = shutdown_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 10);
    double t0 = h_now();
    h_exchange(srv, "stop please\n");
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    CHECK_EQ_INT(atomic_load(&S->started), 1);
    ss_server_close(srv);
}

TEST(shutdown_from_handler_sync) { shutdown_from_handler(SS_SYNC); }
TEST(shutdown_from_handler_threading) { shutdown_from_handler(SS_THREADING); }
TEST(shutdown_from_handler_pool) { shutdown_from_handler(SS_POOL); }
TEST(shutdown_from_handler_event) { shutdown_from_handler(SS_EVENT); }

/* In a forked child, ss_shutdown concerns that child only: the server serves on. */
TEST(shutdown_in_forked_child_does_not_stop_parent)
{
    static const ss_handler h = { .handle = shutdown_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    h_send_str(c, "child\n");
    char buf[64];
    ssize_t n = h_recv_line(c, buf, sizeof buf, 5);
    close(c);
    CHECK(n == 6 || n == 0 || n == -ECONNRESET); /* its own request may be cut short */
    CHECK(WAIT_FOR(atomic_load(&S->started) == 1, 5));
    h_sleep(0.1);
    CHECK(!atomic_load(&s.done));
    /* The parent still serves (a child that shuts down is not the server). */
    c = h_connect(srv);
    h_send_str(c, "again\n");
    CHECK_GE(h_recv_line(c, buf, sizeof buf, 5), 0);
    close(c);
    CHECK(WAIT_FOR(atomic_load(&S->started) == 1 && h_stats(srv).accepted == 2, 5));
    CHECK(!atomic_load(&s.done));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

/* ---- From a signal handler ------------------------------------------- */

static void on_sigusr1(int sig)
{
    (void)sig;
    ss_shutdown(g_srv);
}

/* Handler runs under way and done: a test waits for the ones that run on
 * another thread before it frees the server (the atomics also tell a
 * thread sanitizer that those runs happened before). */
static atomic_int sigusr2_running, sigusr2_done;

static void on_sigusr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&sigusr2_running, 1);
    ss_server_stop(g_srv, 1.0);
    atomic_fetch_add(&sigusr2_done, 1);
    atomic_fetch_sub(&sigusr2_running, 1);
}

static void install(int sig, void (*fn)(int))
{
    struct sigaction sa = { .sa_handler = fn };
    sigemptyset(&sa.sa_mask);
    CHECK_EQ_INT(sigaction(sig, &sa, NULL), 0);
}

static void signal_test_s(int sig, void (*fn)(int), bool to_serving_thread, ss_strategy strategy)
{
    install(sig, fn);
    g_srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                       .handler = &h_echo_line_handler,
                                       .strategy = strategy });
    h_serve s;
    h_serve_start(&s, g_srv, 10);
    h_exchange(g_srv, "running\n");
    double t0 = h_now();
    if (to_serving_thread)
        pthread_kill(s.thread, sig);
    else
        raise(sig);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    ss_server_close(g_srv);
}

static void signal_test(int sig, void (*fn)(int), bool to_serving_thread)
{
    signal_test_s(sig, fn, to_serving_thread, SS_THREADING);
}

/* The handler runs on the main thread while the loop waits on another. */
TEST(shutdown_from_signal_other_thread) { signal_test(SIGUSR1, on_sigusr1, false); }
/* The handler interrupts the serving thread itself. */
TEST(shutdown_from_signal_serving_thread) { signal_test(SIGUSR1, on_sigusr1, true); }
TEST(stop_from_signal_other_thread) { signal_test(SIGUSR2, on_sigusr2, false); }
TEST(stop_from_signal_serving_thread) { signal_test(SIGUSR2, on_sigusr2, true); }
TEST(shutdown_from_signal_pool) { signal_test_s(SIGUSR1, on_sigusr1, true, SS_POOL); }
TEST(stop_from_signal_pool) { signal_test_s(SIGUSR2, on_sigusr2, false, SS_POOL); }
TEST(shutdown_from_signal_event) { signal_test_s(SIGUSR1, on_sigusr1, true, SS_EVENT); }
TEST(stop_from_signal_event) { signal_test_s(SIGUSR2, on_sigusr2, false, SS_EVENT); }

/* ---- ss_stop_on_signals ------------------------------------------------ */

static atomic_int before_calls;

static void before_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&before_calls, 1);
}

static int slow_line_handle(ss_request *req)
{
    note_pid();
    atomic_store(&S->started, 1);
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* the client never sends */
    S->io_ret = n;
    atomic_store(&S->finished, 1);
    return n < 0 ? (int)n : 0;
}

/* The library's own stop on signals: serve_forever returns at the signal,
 * requests in flight get the drain, then are cut short; close puts the
 * program's previous handler back. */
static void stop_on_signals_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = slow_line_handle };
    begin();
    install(SIGUSR1, before_handler);
    atomic_store(&before_calls, 0);
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    CHECK_EQ_INT(ss_stop_on_signals(srv, 0.2, (const int[]){ SIGUSR1, SIGUSR2, 0 }), 0);
    h_serve s;
    h_serve_start(&s, srv, 10);
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    pthread_kill(pthread_self(), SIGUSR1); /* delivered before it returns */
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->finished), 10));
    CHECK_EQ_INT(S->io_ret, -ECANCELED);
    CHECK_EQ_INT(atomic_load(&before_calls), 0);
    ss_server_close(srv);
    pthread_kill(pthread_self(), SIGUSR1); /* the previous handler, this time */
    CHECK_EQ_INT(atomic_load(&before_calls), 1);
    close(c);
    CHECK(h_no_children_left());
}

TEST(stop_on_signals_sync) { stop_on_signals_test(SS_SYNC); }
TEST(stop_on_signals_threading) { stop_on_signals_test(SS_THREADING); }
TEST(stop_on_signals_forking) { stop_on_signals_test(SS_FORKING); }
TEST(stop_on_signals_pool) { stop_on_signals_test(SS_POOL); }
TEST(stop_on_signals_event) { stop_on_signals_test(SS_EVENT); }

/* One server per signal; SIGKILL cannot be caught. */
TEST(stop_on_signals_refusals)
{
    static const ss_handler empty = { 0 };
    ss_server *a = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    ss_server *b = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    CHECK_EQ_INT(ss_stop_on_signals(a, 1, NULL), 0);
    CHECK_EQ_INT(ss_stop_on_signals(a, 2, NULL), 0); /* again: a new drain */
    CHECK_EQ_INT(ss_stop_on_signals(b, 1, (const int[]){ SIGTERM, 0 }), -EBUSY);
    CHECK_EQ_INT(ss_stop_on_signals(b, 1, (const int[]){ SIGKILL, 0 }), -EINVAL);
    CHECK_EQ_INT(ss_stop_on_signals(b, 1, (const int[]){ 9999, 0 }), -EINVAL);
    ss_server_close(a);
    CHECK_EQ_INT(ss_stop_on_signals(b, 1, (const int[]){ SIGTERM, 0 }), 0); /* free again */
    ss_server_close(b);
    struct sigaction now;
    CHECK_EQ_INT(sigaction(SIGTERM, NULL, &now), 0);
    CHECK(now.sa_handler == SIG_DFL);
}

/* The signal interrupts a request's own thread (a pool worker, an event
 * loop): the stop still takes effect at once, and the loop serves on. */
static atomic_int sig_tid;

static int tid_echo(ss_request *req)
{
    atomic_store(&sig_tid, gettid());
    return h_echo_line_handler.handle(req);
}

static void signal_to_request_thread(ss_strategy strategy)
{
    static const ss_handler h = { .handle = tid_echo };
    install(SIGUSR2, on_sigusr2);
    g_srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                       .strategy = strategy, .workers = 1 });
    h_serve s;
    h_serve_start(&s, g_srv, 10);
    h_exchange(g_srv, "running\n");
    CHECK(WAIT_FOR(atomic_load(&sig_tid) != 0, 5));
    pid_t tid = atomic_load(&sig_tid);
    CHECK_NE_INT(tid, gettid());
    double t0 = h_now();
    CHECK_EQ_INT(tgkill(getpid(), tid, SIGUSR2), 0);
    /* TSan defers a signal that lands outside a blocking call until the
     * thread's next interceptor, which may be an epoll_wait that nothing
     * else ends: in a sanitized build, signal again (the stop is idempotent). */
    for (int i = 0; h_sanitized() && i < 5 && !WAIT_FOR(atomic_load(&s.done), 1.5); i++) {
        h_note("sanitized build: no stop yet, signalling the thread again");
        tgkill(getpid(), tid, SIGUSR2);
    }
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    /* A re-sent signal TSan still holds back must not run the handler
     * while the server is being closed and freed, nor may one still be
     * running on the request's thread. */
    install(SIGUSR2, SIG_IGN);
    CHECK(WAIT_FOR(atomic_load(&sigusr2_done) >= 1 && atomic_load(&sigusr2_running) == 0, 5));
    ss_server_close(g_srv);
}

TEST(stop_from_signal_on_worker_pool) { signal_to_request_thread(SS_POOL); }
TEST(stop_from_signal_on_loop_event) { signal_to_request_thread(SS_EVENT); }

/* ---- Drain: in-flight requests finish within the deadline ------------- */

static int slow_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    atomic_store(&S->started, 1);
    int r = ss_sleep(req, 0.2);
    S->io_ret = r;
    if (r < 0)
        return r;
    return ss_write(req, line, (size_t)n) == n ? 0 : -EIO;
}

static int mark_finish(ss_request *req)
{
    (void)req;
    atomic_store(&S->finished, 1);
    return 0;
}

static void drain_completes(ss_strategy strategy, double drain)
{
    static const ss_handler h = { .handle = slow_handle, .finish = mark_finish };
    begin();
    S->io_ret = 99;
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    h_send_str(c, "in flight\n");
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    ss_server_stop(srv, drain);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    char buf[64];
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "in flight\n");
    CHECK(WAIT_FOR(atomic_load(&S->finished), 5));
    CHECK_EQ_INT(S->io_ret, 0);
    /* (A forked child is reaped by the loop or by close; after the loop
     * returned, close does it: checked below.) */
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    CHECK_EQ_INT(h_stats(srv).cancelled, 0);
    /* Not accepting any more. */
    ss_server_close(srv);
    close(c);
    CHECK(h_no_children_left());
}

TEST(drain_completes_sync) { drain_completes(SS_SYNC, 3.0); }
TEST(drain_completes_threading) { drain_completes(SS_THREADING, 3.0); }
TEST(drain_completes_forking) { drain_completes(SS_FORKING, 3.0); }
TEST(drain_completes_pool) { drain_completes(SS_POOL, 3.0); }
TEST(drain_completes_event) { drain_completes(SS_EVENT, 3.0); }
TEST(drain_no_deadline_event) { drain_completes(SS_EVENT, -1); }
TEST(drain_no_deadline) { drain_completes(SS_THREADING, -1); }

/* ---- Drain: a request that would block forever is cancelled ----------- */

static int blocked_handle(ss_request *req)
{
    note_pid();
    S->started_at = h_now();
    atomic_store(&S->started, 1);
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* the client never sends */
    S->io_at = h_now();
    S->io_ret = n;
    return n < 0 ? (int)n : 0;
}

/* A write to a client that never reads blocks once the socket buffers are
 * full. */
static int blocked_writer_handle(ss_request *req)
{
    note_pid();
    size_t n = 64u << 20;
    char *big = calloc(1, n);
    if (!big)
        return -ENOMEM;
    S->started_at = h_now();
    atomic_store(&S->started, 1);
    ssize_t r = ss_write(req, big, n);
    S->io_at = h_now();
    S->io_ret = r;
    free(big);
    return r < 0 ? (int)r : 0;
}

static const ss_handler blocked_reader = { .handle = blocked_handle, .finish = mark_finish };
static const ss_handler blocked_writer = { .handle = blocked_writer_handle, .finish = mark_finish };

/* A request blocked in a read or a write (no request_timeout) is cancelled
 * at the drain deadline, not before. */
static void drain_cancels(ss_strategy strategy, const ss_handler *h)
{
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    double t0 = h_now();
    ss_server_stop(srv, 0.3);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->finished), 5));
    CHECK_EQ_INT(S->io_ret, -ECANCELED);
    double after = S->io_at - t0;
    CHECK_GE_DBL(after, 0.25);
    CHECK_LT_DBL(after, 3.3);
    CHECK(WAIT_FOR(h_stats(srv).active == 0 && h_stats(srv).cancelled == 1, 5));
    CHECK_EQ_INT(h_stats(srv).cancelled, 1);
    CHECK_EQ_INT(h_stats(srv).completed, 0); /* cut short: not completed */
    ss_server_close(srv);
    CHECK(h_wait_eof(c, 5));
    close(c);
    CHECK(h_no_children_left());
}

TEST(drain_cancels_sync) { drain_cancels(SS_SYNC, &blocked_reader); }
TEST(drain_cancels_threading) { drain_cancels(SS_THREADING, &blocked_reader); }
TEST(drain_cancels_forking) { drain_cancels(SS_FORKING, &blocked_reader); }
TEST(drain_cancels_pool) { drain_cancels(SS_POOL, &blocked_reader); }
TEST(drain_cancels_event) { drain_cancels(SS_EVENT, &blocked_reader); }
TEST(drain_cancels_write_sync) { drain_cancels(SS_SYNC, &blocked_writer); }
TEST(drain_cancels_write_threading) { drain_cancels(SS_THREADING, &blocked_writer); }
TEST(drain_cancels_write_forking) { drain_cancels(SS_FORKING, &blocked_writer); }
TEST(drain_cancels_write_pool) { drain_cancels(SS_POOL, &blocked_writer); }
TEST(drain_cancels_write_event) { drain_cancels(SS_EVENT, &blocked_writer); }

/* A request cut short reports it from more than one hook (here the handler
 * and finish, which tries to read again): it is still one cancelled
 * request, not one per report. */
static int reread_finish(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    atomic_store(&S->finished, 1);
    return n < 0 ? (int)n : 0;
}

static const ss_handler blocked_twice = { .handle = blocked_handle, .finish = reread_finish };

TEST(drain_cancels_counted_once_sync) { drain_cancels(SS_SYNC, &blocked_twice); }
TEST(drain_cancels_counted_once_threading) { drain_cancels(SS_THREADING, &blocked_twice); }
TEST(drain_cancels_counted_once_forking) { drain_cancels(SS_FORKING, &blocked_twice); }
TEST(drain_cancels_counted_once_pool) { drain_cancels(SS_POOL, &blocked_twice); }
TEST(drain_cancels_counted_once_event) { drain_cancels(SS_EVENT, &blocked_twice); }

static int long_sleep_handle(ss_request *req)
{
    atomic_store(&S->started, 1);
    S->io_ret = ss_sleep(req, 30);
    S->io_at = h_now();
    return 0;
}

/* ss_sleep is cut short by the drain deadline too. */
static void drain_cancels_sleep_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = long_sleep_handle, .finish = mark_finish };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    double t0 = h_now();
    ss_server_stop(srv, 0.2);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->finished), 5));
    CHECK_EQ_INT(S->io_ret, -ECANCELED);
    CHECK_LT_DBL(S->io_at - t0, 3.2);
    ss_server_close(srv);
    close(c);
    CHECK(h_no_children_left());
}

TEST(drain_cancels_sleep) { drain_cancels_sleep_test(SS_THREADING); }
TEST(drain_cancels_sleep_sync) { drain_cancels_sleep_test(SS_SYNC); }
TEST(drain_cancels_sleep_forking) { drain_cancels_sleep_test(SS_FORKING); }
TEST(drain_cancels_sleep_pool) { drain_cancels_sleep_test(SS_POOL); }
TEST(drain_cancels_sleep_event) { drain_cancels_sleep_test(SS_EVENT); }

static int stuck_handle(ss_request *req)
{
    (void)req;
    note_pid();
    atomic_store(&S->started, 1);
    for (;;)
        pause(); /* ignores cancellation */
    return 0;
}

/* A forked child that ignores cancellation is killed by close shortly after the deadline. */
TEST_T(drain_forking_kills_stuck_child, 30)
{
    static const ss_handler h = { .handle = stuck_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    pid_t child = S->pids[0];
    CHECK_GT(child, 0);
    double t0 = h_now();
    ss_server_stop(srv, 0.2);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    ss_server_close(srv);
    CHECK_LT_DBL(h_now() - t0, 5.0);
    CHECK_EQ_INT(h_proc_state(child), 0);
    CHECK(h_no_children_left());
    close(c);
}

/* ---- block_on_close, daemon threads ----------------------------------- */

static int sleepy_handle(ss_request *req)
{
    (void)req;
    note_pid();
    atomic_store(&S->started, 1);
    h_sleep(0.3); /* plain sleep: not cancellable */
    atomic_store(&S->done, 1);
    return 0;
}

/* By default close waits for request threads and children. */
static void block_on_close(ss_strategy strategy)
{
    static const ss_handler h = { .handle = sleepy_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(atomic_load(&S->done), 1);
    CHECK(h_no_children_left());
    close(c);
}

TEST(block_on_close_threading) { block_on_close(SS_THREADING); }
TEST(block_on_close_forking) { block_on_close(SS_FORKING); }
TEST(block_on_close_pool) { block_on_close(SS_POOL); }
TEST(block_on_close_event) { block_on_close(SS_EVENT); }

static int released_handle(ss_request *req)
{
    note_pid();
    atomic_store(&S->started, 1);
    /* Wait through the library (under event a plain sleep would hold the
     * loop; see test_event.c for that case). */
    for (int i = 0; i < 4000 && !atomic_load(&S->release); i++)
        if (ss_sleep(req, 0.005) < 0)
            return -ECANCELED;
    if (!atomic_load(&S->release))
        return -ETIMEDOUT;
    /* The server is closed by now: the request must still work. */
    ssize_t w = ss_write(req, "late\n", 5);
    atomic_store(&S->done, 1);
    return w == 5 ? 0 : -EIO;
}

/* A server whose close does not wait (no_block_on_close, or daemon threads
 * under threading), serving one client whose request has started. Pool and
 * event threads, and threading's canceller, exist from ss_server_new on:
 * *baseline counts the threads from before. */
static ss_server *start_let_go(const ss_handler *h, ss_strategy strategy, bool daemon, h_serve *s, int *c,
                               int *baseline)
{
    *baseline = h_thread_baseline();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = h,
                                                .strategy = strategy,
                                                .daemon_threads = daemon,
                                                .no_block_on_close = !daemon });
    h_serve_start(s, srv, 0.01);
    *c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    return srv;
}

/* Request threads, workers, loops (and event's helper threads, threading's
 * canceller) leave once their requests are done: wait for every one. */
static void expect_threads_gone(int baseline)
{
    CHECK_MSG(WAIT_FOR(h_thread_count() == baseline, 10), "%d threads left, %d before the server",
              h_thread_count(), baseline);
}

/* no_block_on_close / daemon_threads: close returns at once; the handler
 * still completes safely afterwards. */
static void close_does_not_wait(ss_strategy strategy, bool daemon)
{
    static const ss_handler h = { .handle = released_handle };
    begin();
    h_serve s;
    int c, baseline;
    ss_server *srv = start_let_go(&h, strategy, daemon, &s, &c, &baseline);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    double t0 = h_now();
    ss_server_close(srv);
    CHECK_LT_DBL(h_now() - t0, 2.0);
    CHECK_EQ_INT(atomic_load(&S->done), 0);
    atomic_store(&S->release, 1);
    char buf[16];
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 10), 0);
    CHECK_EQ_STR(buf, "late\n");
    CHECK(h_wait_eof(c, 10));
    CHECK(WAIT_FOR(atomic_load(&S->done), 10));
    close(c);
    if (strategy == SS_FORKING) {
        /* Nobody reaps it now: we do. */
        int status;
        CHECK_EQ_INT(waitpid(S->pids[0], &status, 0), S->pids[0]);
        CHECK(h_no_children_left());
    } else {
        expect_threads_gone(baseline);
    }
}

/* A close that does not wait still leaves the drain deadline in force: a
 * request blocked in a read after the close is cancelled then. */
static void drain_after_close(ss_strategy strategy, bool daemon)
{
    begin();
    h_serve s;
    int c, baseline;
    ss_server *srv = start_let_go(&blocked_reader, strategy, daemon, &s, &c, &baseline);
    double t0 = h_now();
    ss_server_stop(srv, 1.0);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(atomic_load(&S->finished), 0); /* close did not wait for the drain */
    CHECK(WAIT_FOR(atomic_load(&S->finished), 10));
    CHECK_EQ_INT(S->io_ret, -ECANCELED);
    CHECK_GE_DBL(S->io_at - t0, 0.95);
    CHECK(h_wait_eof(c, 5));
    close(c);
    expect_threads_gone(baseline);
}

TEST(drain_after_close_threading) { drain_after_close(SS_THREADING, false); }
TEST(drain_after_close_daemon) { drain_after_close(SS_THREADING, true); }
TEST(drain_after_close_pool) { drain_after_close(SS_POOL, false); }
TEST(drain_after_close_event) { drain_after_close(SS_EVENT, false); }

TEST(no_block_on_close_threading) { close_does_not_wait(SS_THREADING, false); }
TEST(no_block_on_close_forking) { close_does_not_wait(SS_FORKING, false); }
TEST(no_block_on_close_pool) { close_does_not_wait(SS_POOL, false); }
TEST(no_block_on_close_event) { close_does_not_wait(SS_EVENT, false); }
TEST(daemon_threads_not_joined) { close_does_not_wait(SS_THREADING, true); }

/* ---- Forking: max_children, zombies ----------------------------------- */

static int counted_handle(ss_request *req)
{
    note_pid();
    int cur = atomic_fetch_add(&S->current, 1) + 1;
    int m = atomic_load(&S->max_seen);
    while (cur > m && !atomic_compare_exchange_weak(&S->max_seen, &m, cur))
        ;
    h_sleep(0.2);
    atomic_fetch_sub(&S->current, 1);
    return h_echo_line_handler.handle(req);
}

/* max_children bounds the children running at once. */
TEST(max_children_bounds_children)
{
    static const ss_handler h = { .handle = counted_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING, .max_children = 2 });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    enum { N = 6 };
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        h_send_str(c[i], "bounded\n");
    }
    int max_children = 0;
    int answered = 0;
    bool got[N] = { false };
    double deadline = h_now() + 15;
    while (answered < N && h_now() < deadline) {
        int n = h_children(NULL, 0);
        if (n > max_children)
            max_children = n;
        for (int i = 0; i < N; i++) {
            char buf[32];
            if (!got[i] && h_recv_timeout(c[i], buf, sizeof buf, 0.001) > 0) {
                got[i] = true;
                answered++;
            }
        }
    }
    CHECK_EQ_INT(answered, N);
    CHECK_LE(max_children, 2);
    CHECK_LE(atomic_load(&S->max_seen), 2);
    CHECK_GE(atomic_load(&S->max_seen), 1);
    for (int i = 0; i < N; i++)
        close(c[i]);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

static int idle_handle(ss_request *req)
{
    note_pid();
    atomic_fetch_add(&S->current, 1);
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* until the client closes */
    atomic_fetch_sub(&S->current, 1);
    return n < 0 ? (int)n : 0;
}

/* At max_children the server stops accepting: the next client waits in
 * the listen backlog, not in an accepted socket nobody serves, and
 * max_connections above it changes nothing. The child that ends is the
 * one of client `ends` (the children of the last clients are watched by
 * polling, not through a pidfd: see wait_children). */
static void next_client_waits_in_the_backlog(int max_children, int ends)
{
    static const ss_handler h = { .handle = idle_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING, .max_children = max_children,
                                                .max_connections = max_children + 100,
                                                .request_queue_size = max_children + 10 });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int n = max_children + 1;
    int *c = calloc((size_t)n, sizeof *c);
    CHECK(c != NULL);
    for (int i = 0; i < max_children; i++) {
        c[i] = h_connect(srv);
        CHECK(WAIT_FOR(atomic_load(&S->current) == i + 1, 10)); /* accepted in this order */
    }
    c[max_children] = h_connect(srv);
    h_sleep(0.3); /* time enough for an accept that should not happen */
    CHECK_EQ_INT(h_stats(srv).accepted, (unsigned)max_children);
    CHECK_EQ_INT(h_stats(srv).active, (unsigned)max_children);
    /* A child ends: the last client is taken. (shutdown: the children
     * forked from this process hold copies of the clients' sockets.) */
    shutdown(c[ends], SHUT_RDWR);
    CHECK(WAIT_FOR(h_stats(srv).accepted == (unsigned)n, 10));
    CHECK(WAIT_FOR(atomic_load(&S->current) == max_children, 10));
    for (int i = 0; i < n; i++) {
        shutdown(c[i], SHUT_RDWR);
        close(c[i]);
    }
    free(c);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

TEST(max_children_leaves_the_next_client_in_the_backlog) { next_client_waits_in_the_backlog(2, 0); }

/* More children than the server watches through pidfds: the one that
 * ends is found by polling. */
TEST(max_children_beyond_the_watched_pidfds) { next_client_waits_in_the_backlog(300, 299); }

/* Are the first n recorded children gone (reaped, not zombies)? */
static bool children_gone(int n)
{
    for (int i = 0; i < n; i++)
        if (h_proc_state(S->pids[i]) != 0)
            return false;
    return true;
}

/* Finished children are reaped while serving: no zombie is left. */
TEST(zombies_reaped)
{
    static const ss_handler h = { .handle = counted_handle };
    begin();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    for (int i = 0; i < 5; i++)
        h_exchange(srv, "reap me\n");
    CHECK_EQ_INT(atomic_load(&S->npids), 5);
    bool all_gone = WAIT_FOR(children_gone(5), 5);
    if (!all_gone)
        for (int i = 0; i < 5; i++)
            CHECK_MSG(h_proc_state(S->pids[i]) == 0, "child %d still there in state %c",
                      (int)S->pids[i], h_proc_state(S->pids[i]));
    CHECK_EQ_INT(h_stats(srv).children, 0);
    CHECK(!atomic_load(&s.done));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}
