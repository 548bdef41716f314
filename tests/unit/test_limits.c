/* test_limits.c: running out of fds (EMFILE) without spinning, URL and config checks, flat memory with many threads. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- EMFILE -------------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* When accept() fails with EMFILE while clients keep connecting, the server
 * does not spin; once fds are free again it serves them. (Each case runs in
 * its own process, so lowering RLIMIT_NOFILE here touches nothing else.) */
static void emfile_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy,
                                                .handle_error = NULL });
    h_serve s;
    h_serve_start(&s, srv, 0.05);
    h_exchange(srv, "warm up\n");
    /* Forking: the warm-up child reaped too, or its pidfd, closed later,
     * would free a slot that lets the server accept past the fillers. */
    CHECK(WAIT_FOR(h_stats(srv).active == 0 && h_stats(srv).children == 0, 5));

    enum { NCLIENTS = 20 };
    socklen_t alen = 0;
    const struct sockaddr *sa = ss_server_address(srv, &alen);
    int clients[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_GE(clients[i], 0);
    }
    /* Fill every remaining fd slot under a lowered limit. */
    struct rlimit old;
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = old;
    low.rlim_cur = (rlim_t)h_count_fds() + 64;
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fillers[128], nfill = 0;
    for (;;) {
        int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (f < 0) {
            CHECK_ERRNO(EMFILE);
            break;
        }
        CHECK_LT(nfill, 128);
        fillers[nfill++] = f;
    }
    uint64_t errors0 = h_stats(srv).accept_errors;
    for (int i = 0; i < NCLIENTS; i++) {
        CHECK_EQ_INT(connect(clients[i], sa, alen), 0);
        h_send_str(clients[i], "after emfile\n");
    }
    double cpu0 = cpu_seconds(), wall0 = h_now();
    h_sleep(1.0);
    double cpu = cpu_seconds() - cpu0, wall = h_now() - wall0;
    uint64_t errors = h_stats(srv).accept_errors - errors0;
    h_note("over %.2f s: %.3f s CPU, %llu accept errors", wall, cpu, (unsigned long long)errors);
    CHECK_GE(errors, 1); /* it did run into EMFILE */
    CHECK_LT(errors, 100);
    CHECK_LT_DBL(cpu, 0.5 * wall);

    /* Free the fds: every client is served now. */
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < NCLIENTS; i++) {
        char buf[64];
        CHECK_GT(h_recv_line(clients[i], buf, sizeof buf, 10), 0);
        CHECK_EQ_STR(buf, "after emfile\n");
        close(clients[i]);
    }
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(emfile_does_not_spin_sync) { emfile_test(SS_SYNC); }
TEST(emfile_does_not_spin_threading) { emfile_test(SS_THREADING); }
TEST(emfile_does_not_spin_forking) { emfile_test(SS_FORKING); }
TEST(emfile_does_not_spin_pool) { emfile_test(SS_POOL); }
TEST(emfile_does_not_spin_event) { emfile_test(SS_EVENT); }

/* ---- URL parsing ------------------------------------------------------- */

static const char *const good_urls[] = {
    "tcp://127.0.0.1:0",
    "tcp://127.0.0.1:9999",
    "tcp://0.0.0.0:65535",
    "tcp://localhost:80",
    "tcp://[::1]:8080",
    "tcp://[::]:0",
    "udp://127.0.0.1:53",
    "udp://[::1]:0",
    "unix:/tmp/sockserv.sock",
    "unix:relative.sock",
    "unix:@abstract-name",
    "unix-dgram:/tmp/sockserv.dgram",
    "unix-dgram:@abstract-dgram",
};

static char long_path[300];
static char max_path[120];

/* buf = "unix:/" followed by n copies of c. */
static void make_path_url(char *buf, size_t size, char c, size_t n)
{
    int head = snprintf(buf, size, "unix:/");
    CHECK(head > 0 && (size_t)head + n < size);
    memset(buf + head, c, n);
    buf[(size_t)head + n] = '\0';
}

static const char *const bad_urls[] = {
    "",
    "tcp://127.0.0.1",         /* missing port */
    "tcp://127.0.0.1:",        /* empty port */
    "tcp://127.0.0.1:65536",   /* port out of range */
    "tcp://127.0.0.1:-1",
    "tcp://127.0.0.1:99999999999999999999",
    "tcp://127.0.0.1:80x",
    "tcp://127.0.0.1:abc",
    "udp://127.0.0.1:65536",
    "ftp://127.0.0.1:21",      /* bad scheme */
    "http://127.0.0.1:80",
    "127.0.0.1:80",
    "TCP//127.0.0.1:80",
    "tcp://::1:80",            /* unbracketed IPv6 */
    "tcp://[::1:80",           /* unclosed bracket */
    "tcp://[::1]",             /* bracketed, no port */
    "tcp://[::1]80",
    "unix:",                   /* empty path */
    "unix-dgram:",
    long_path,                 /* path too long for sun_path */
    "unix:/tmp/a\nlistening on unix:/tmp/b", /* a control character would split a line */
    "unix:/tmp/\x1b[2J",
    "unix:@\ttab",
    "unix-dgram:/tmp/del\x7f",
};

TEST(url_errors)
{
    make_path_url(long_path, sizeof long_path, 'p', 200);
    for (size_t i = 0; i < sizeof good_urls / sizeof *good_urls; i++)
        CHECK_MSG(ss_url_error(good_urls[i]) == NULL, "ss_url_error(\"%s\") = \"%s\"", good_urls[i],
                  ss_url_error(good_urls[i]));
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
        const char *e = ss_url_error(bad_urls[i]);
        CHECK_MSG(e != NULL && e[0] != '\0', "ss_url_error(\"%.60s\") accepted it", bad_urls[i]);
    }
    /* The longest path that fits (107 bytes) is fine. */
    make_path_url(max_path, sizeof max_path, 'm', 106);
    CHECK_EQ_INT(strlen(max_path + 5), 107);
    CHECK_MSG(ss_url_error(max_path) == NULL, "107-byte path refused: %s", ss_url_error(max_path));
    /* The text names the problem. */
    const char *e = ss_url_error("tcp://127.0.0.1:65536");
    CHECK_MSG(strstr(e, "port") != NULL, "error for port 65536 does not mention the port: %s", e);
    CHECK_EQ_STR(ss_url_error("unix:/tmp/a\nb"), "control character in socket path");
}

TEST(server_new_rejects_bad_urls)
{
    make_path_url(long_path, sizeof long_path, 'p', 200);
    static const ss_handler empty = { 0 };
    int fds = h_count_fds();
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
        errno = 0;
        ss_server *srv = ss_server_new(&(ss_config){ .listen = bad_urls[i], .handler = &empty });
        CHECK_MSG(srv == NULL, "ss_server_new(\"%.60s\") succeeded", bad_urls[i]);
        CHECK_ERRNO(EINVAL);
    }
    CHECK_EQ_INT(h_count_fds(), fds);
}

/* The config ss_server_new() must refuse: EINVAL, and ss_last_error()
 * names the field (NaN and negative times used to be taken as "none"). */
static void refused(ss_config cfg, const char *field)
{
    static const ss_handler empty = { 0 };
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    if (!cfg.handler && strcmp(field, "handler") != 0)
        cfg.handler = &empty;
    int fds = h_count_fds();
    errno = 0;
    ss_server *srv = ss_server_new(&cfg);
    CHECK_MSG(srv == NULL, "a bad %s was taken", field);
    CHECK_ERRNO(EINVAL);
    const char *why = ss_last_error();
    CHECK_MSG(why && strncmp(why, field, strlen(field)) == 0, "ss_last_error() = '%s', expected it to name %s",
              why ? why : "(null)", field);
    CHECK_EQ_INT(h_count_fds(), fds);
}

TEST(server_new_rejects_bad_config)
{
    refused((ss_config){ 0 }, "handler");
    refused((ss_config){ .listen = "" }, "listen");
    refused((ss_config){ .strategy = (ss_strategy)42 }, "strategy");
    refused((ss_config){ .request_timeout = NAN }, "request_timeout");
    refused((ss_config){ .request_timeout = -1 }, "request_timeout");
    refused((ss_config){ .timeout = -0.5 }, "timeout");
    refused((ss_config){ .timeout = NAN }, "timeout");
    refused((ss_config){ .workers = -2, .strategy = SS_POOL }, "workers");
    refused((ss_config){ .workers = 1 << 30, .strategy = SS_POOL }, "workers"); /* 4 x workers wrapped */
    refused((ss_config){ .queue_size = INT_MAX, .strategy = SS_POOL }, "queue_size");
    refused((ss_config){ .max_children = INT_MAX, .strategy = SS_FORKING }, "max_children");
    refused((ss_config){ .queue_size = -1, .strategy = SS_POOL }, "queue_size");
    refused((ss_config){ .max_connections = -1 }, "max_connections");
    refused((ss_config){ .max_children = -1, .strategy = SS_FORKING }, "max_children");
    refused((ss_config){ .request_queue_size = -5 }, "request_queue_size");
    refused((ss_config){ .rbufsize = SIZE_MAX }, "rbufsize");
    refused((ss_config){ .wbufsize = (size_t)1 << 40 }, "wbufsize");
    refused((ss_config){ .max_packet_size = SIZE_MAX / 2 }, "max_packet_size");
    refused((ss_config){ .stack_size = SIZE_MAX }, "stack_size");
    refused((ss_config){ .socket_mode = 01777, .listen = h_url("unix:", "m.sock") }, "socket_mode");
    refused((ss_config){ .socket_mode = 0600 }, "socket_mode"); /* on TCP */
    refused((ss_config){ .listen = "unix:/tmp/x\ny" }, "listen");
    /* A good config afterwards clears the reason. */
    static const ss_handler empty = { 0 };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                                .request_timeout = INFINITY });
    CHECK(ss_last_error() == NULL);
    ss_server_close(srv);
}

/* A host name the resolver does not know: its reason, not "cannot assign
 * requested address" (EADDRNOTAVAIL). */
TEST(unknown_host_says_so)
{
    static const ss_handler empty = { 0 };
    errno = 0;
    CHECK(ss_server_new(&(ss_config){ .listen = "tcp://no-such-host.invalid:80", .handler = &empty }) == NULL);
    CHECK_MSG(errno == ENXIO || errno == EAGAIN, "errno %d (%s)", errno, strerror(errno));
    const char *why = ss_last_error();
    CHECK_MSG(why && strstr(why, "cannot resolve host 'no-such-host.invalid'"), "ss_last_error() = '%s'",
              why ? why : "(null)");
}

/* ---- Flat memory with many threads (gh-81374) -------------------------- */

TEST_T(threads_memory_flat, 90)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = SS_THREADING });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    long rss_warm = 0;
    unsigned max_threads = 0;
    for (int i = 0; i < 2000; i++) {
        h_exchange(srv, "flat\n");
        unsigned t = h_stats(srv).threads;
        if (t > max_threads)
            max_threads = t;
        if (i == 199)
            rss_warm = h_vmrss_kb();
    }
    long rss_end = h_vmrss_kb();
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    h_note("threads at most %u; VmRSS %ld kB after 200, %ld kB after 2000", max_threads, rss_warm,
           rss_end);
    CHECK_LE(max_threads, 50);
    CHECK_GT(rss_warm, 0);
    if (h_sanitized())
        h_note("sanitizer build: its allocator quarantine makes VmRSS meaningless; not checked");
    else
        CHECK_LT(rss_end - rss_warm, 16 * 1024);
    ss_server_close(srv);
}

/* The same for pool and event: memory stays flat over 2000 requests, and
 * the thread count is the configured one (workers / loops), never more. */
static void memory_flat_test(ss_strategy strategy, int workers)
{
    int baseline = h_thread_baseline();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy,
                                                .workers = workers });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    long rss_warm = 0;
    unsigned max_threads = 0;
    int max_tasks = 0;
    for (int i = 0; i < 2000; i++) {
        h_exchange(srv, "flat\n");
        unsigned t = h_stats(srv).threads;
        if (t > max_threads)
            max_threads = t;
        if (i % 50 == 0) {
            int n = h_task_count();
            if (n > max_tasks)
                max_tasks = n;
        }
        if (i == 199)
            rss_warm = h_vmrss_kb();
    }
    long rss_end = h_vmrss_kb();
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    h_note("%s: threads at most %u (tasks %d, baseline %d); VmRSS %ld kB after 200, %ld kB after 2000",
           h_strategy_name(strategy), max_threads, max_tasks, baseline, rss_warm, rss_end);
    CHECK_EQ_INT(max_threads, workers);
    /* The workers or loops, the serving thread, and nothing else. */
    CHECK_LE(max_tasks, baseline + workers + 1);
    CHECK_GT(rss_warm, 0);
    if (h_sanitized())
        h_note("sanitizer build: its allocator quarantine makes VmRSS meaningless; not checked");
    else
        CHECK_LT(rss_end - rss_warm, 16 * 1024);
    ss_server_close(srv);
    CHECK_MSG(WAIT_FOR(h_thread_count() == baseline, 5), "%d threads after close, %d before",
              h_thread_count(), baseline);
}

TEST_T(pool_memory_flat, 90) { memory_flat_test(SS_POOL, 4); }
TEST_T(event_memory_flat, 90) { memory_flat_test(SS_EVENT, 2); }
