/* test_observe.c: observability: bytes in and out and the duration histogram in every strategy, the log callback, its events and levels, the default line. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static ss_strategy strategy;
static ss_stats final;      /* the counters at close (cfg.final_stats) */
static int log_fd = -1;     /* the log's file (to_file), opened before the server */

static void set_strategy(ss_strategy s)
{
    strategy = s;
}
#define TEST_S(name) TEST_EACH_STRATEGY(name, set_strategy)

/* The requests counted in the histogram. */
static uint64_t histogram_count(const ss_stats *st)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < SS_DURATION_BUCKETS; i++)
        n += st->duration[i];
    return n;
}

/* The first bucket that holds a request (SS_DURATION_BUCKETS: none). */
static unsigned first_bucket_used(const ss_stats *st)
{
    unsigned i = 0;
    while (i < SS_DURATION_BUCKETS && st->duration[i] == 0)
        i++;
    return i;
}

/* Sleep 20 ms, then echo every line until end of input. */
static int slow_echo(ss_request *req)
{
    int rc = ss_sleep(req, 0.02);
    if (rc < 0)
        return rc;
    return h_echo_lines_handler.handle(req);
}
static const ss_handler slow_echo_handler = {.handle = slow_echo};

/* A server in the case's strategy, serving on a thread. */
static ss_server *start(ss_config cfg, h_serve *serve)
{
    cfg.strategy = strategy;
    cfg.workers = cfg.workers ? cfg.workers : 2;
    cfg.final_stats = &final;
    memset(&final, 0xff, sizeof final);
    ss_server *srv = h_server_new(&cfg);
    h_serve_start(serve, srv, 0.01);
    return srv;
}

/* Close the server once serving stopped; the counters once every request ended. */
static ss_stats stop_and_close(ss_server *srv, h_serve *serve)
{
    CHECK_EQ_INT(h_serve_stop(serve), 0);
    ss_server_close(srv);
    return final;
}

/* Three clients, two lines each (6 + 8 bytes in, echoed: 14 out), over TCP
 * in every strategy: exact byte counts, one histogram entry per request,
 * none under the handler's 20 ms sleep (bucket 15 starts at 16.384 ms). */
TEST_S(stream_bytes_and_durations)
{
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &slow_echo_handler}, &serve);
    for (int i = 0; i < 3; i++) {
        int fd = h_connect(srv);
        char buf[64];
        h_send_str(fd, "hello\n");
        CHECK_EQ_INT(h_recv_line(fd, buf, sizeof buf, 10), 6);
        h_send_str(fd, "world!!\n");
        CHECK_EQ_INT(h_recv_line(fd, buf, sizeof buf, 10), 8);
        CHECK_EQ_INT(shutdown(fd, SHUT_WR), 0);
        CHECK(h_wait_eof(fd, 10));
        close(fd);
    }
    ss_stats st = stop_and_close(srv, &serve);
    CHECK_EQ_INT(st.accepted, 3);
    CHECK_EQ_INT(st.completed, 3);
    if (!ss_stats_detailed()) {
        CHECK_EQ_INT(st.bytes_in, 0);
        CHECK_EQ_INT(st.bytes_out, 0);
        CHECK_EQ_INT(st.duration_sum_us, 0);
        CHECK_EQ_INT(histogram_count(&st), 0);
        return;
    }
    CHECK_EQ_INT(st.bytes_in, 3 * 14);
    CHECK_EQ_INT(st.bytes_out, 3 * 14);
    CHECK_EQ_INT(histogram_count(&st), 3);
    CHECK_GE(first_bucket_used(&st), 15);
    CHECK_GE(st.duration_sum_us, 3 * 20000);
}

/* A request's thread (threading) or process (forking) is in the gauges
 * before the request can answer anyone: a client that got its reply sees it
 * counted at once, without waiting (seen in CI under TSan: the thread was
 * counted after pthread_create returned, by then the reply was out). */
TEST_S(gauges_count_a_request_before_it_answers)
{
    if (strategy != SS_THREADING && strategy != SS_FORKING)
        return;
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &h_echo_lines_handler}, &serve);
    for (int i = 0; i < 20; i++) {
        int fd = h_connect(srv);
        char buf[16];
        h_send_str(fd, "hello\n");
        CHECK_EQ_INT(h_recv_line(fd, buf, sizeof buf, 10), 6);
        ss_stats st = h_stats(srv);
        CHECK_EQ_INT(strategy == SS_THREADING ? st.threads : st.children, 1);
        CHECK_EQ_INT(shutdown(fd, SHUT_WR), 0);
        CHECK(h_wait_eof(fd, 10));
        close(fd);
        CHECK_MSG(WAIT_FOR(h_stats(srv).active == 0 &&
                           (strategy == SS_THREADING ? h_stats(srv).threads : h_stats(srv).children) == 0, 10),
                  "request %d not reaped", i);
    }
    stop_and_close(srv, &serve);
}

/* Echo one line, flush it, wait 20 ms, then tell the client the request's
 * figures: "IN OUT MILLISECONDS DETAILED\n" (written after they were read). */
static int counts_reply(ss_request *req)
{
    char line[64];
    uint64_t in = 1, out = 1;
    double seconds = -1;
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : 0;
    if (ss_write(req, line, (size_t)n) < 0 || ss_flush(req) < 0)
        return -EIO;
    int rc = ss_sleep(req, 0.02);
    if (rc < 0)
        return rc;
    ss_request_count_bytes(req, 1, 2); /* moved without the library: counted all the same */
    bool detailed = ss_request_counts(req, &in, &out, &seconds);
    bool nulls_ok = ss_request_counts(req, NULL, NULL, NULL) == detailed;
    ss_writef(req, "%llu %llu %.0f %d\n", (unsigned long long)in, (unsigned long long)out,
              nulls_ok ? seconds * 1e3 : -1.0, detailed);
    return 0;
}
static const ss_handler counts_reply_handler = {.handle = counts_reply};

/* ss_request_counts in a handler, every strategy: its bytes so far on the
 * socket with those ss_request_count_bytes added, its age; all 0 without
 * SS_STATS. The server's counters have them at the end. */
TEST_S(request_counts_in_the_handler)
{
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &counts_reply_handler}, &serve);
    int fd = h_connect(srv);
    char buf[128];
    h_send_str(fd, "hello\n");
    CHECK_EQ_INT(h_recv_line(fd, buf, sizeof buf, 10), 6);
    ssize_t reply = h_recv_line(fd, buf, sizeof buf, 10);
    CHECK(reply > 0);
    char *p = buf;
    unsigned long long in = strtoull(p, &p, 10), out = strtoull(p, &p, 10);
    double ms = strtod(p, &p);
    int detailed = (int)strtol(p, &p, 10);
    CHECK(*p == '\n');
    CHECK_EQ_INT(detailed, ss_stats_detailed());
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    ss_stats st = stop_and_close(srv, &serve);
    if (detailed) {
        CHECK_EQ_INT(in, 6 + 1);
        CHECK_EQ_INT(out, 6 + 2);
        CHECK(ms >= 20 && ms < 60000);
        CHECK_EQ_INT(st.bytes_in, 6 + 1);
        CHECK_EQ_INT(st.bytes_out, 6 + 2 + reply);
    } else {
        CHECK_EQ_INT(in, 0);
        CHECK_EQ_INT(out, 0);
        CHECK(ms == 0);
        CHECK_EQ_INT(st.bytes_in, 0);
    }
}

/* Datagrams: each one taken counts its length in, each reply sent out. */
TEST_S(datagram_bytes_and_durations)
{
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "udp://127.0.0.1:0", .handler = &h_echo_line_handler}, &serve);
    int fd = h_connect(srv);
    const char *msgs[] = {"ping\n", "a longer datagram\n"};
    for (int i = 0; i < 2; i++) {
        char buf[64];
        h_send_str(fd, msgs[i]);
        CHECK_EQ_INT(h_recv_timeout(fd, buf, sizeof buf, 10), (ssize_t)strlen(msgs[i]));
    }
    close(fd);
    ss_stats st = stop_and_close(srv, &serve);
    CHECK_EQ_INT(st.accepted, 2);
    uint64_t want = ss_stats_detailed() ? 5 + 18 : 0;
    CHECK_EQ_INT(st.bytes_in, want);
    CHECK_EQ_INT(st.bytes_out, want);
    CHECK_EQ_INT(histogram_count(&st), ss_stats_detailed() ? 2 : 0);
}

/* A refused client is timed too (every request taken is in the histogram),
 * and moved no byte. */
static bool refuse_all(ss_server *srv, ss_request *req)
{
    (void)srv, (void)req;
    return false;
}

TEST_S(refused_counted_in_histogram)
{
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &h_echo_line_handler,
                                       .verify_request = refuse_all},
                           &serve);
    int fd = h_connect(srv);
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    ss_stats st = stop_and_close(srv, &serve);
    CHECK_EQ_INT(st.refused, 1);
    CHECK_EQ_INT(st.bytes_in, 0);
    CHECK_EQ_INT(st.bytes_out, 0);
    CHECK_EQ_INT(histogram_count(&st), ss_stats_detailed() ? 1 : 0);
}

/* ---- The log ------------------------------------------------------------ */

/* Each message as a line "LEVEL EVENT R|- MESSAGE" in a file opened
 * beforehand (O_APPEND, one write each: forked children log too; no
 * descriptor is needed when the server has none left). */
/* cppcheck-suppress constParameter ; the signature is cfg.log's */
static void to_file(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *msg)
{
    (void)srv;
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s %c %s\n", ss_log_level_name(level), event, req ? 'R' : '-', msg);
    CHECK(n > 0 && (size_t)n < sizeof line);
    CHECK_EQ_INT(write(log_fd, line, (size_t)n), n);
}

/* The log file's path, opened for to_file. */
static const char *open_log(void)
{
    const char *path = h_path("log");
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    CHECK_GE(log_fd, 0);
    return path;
}

/* The line of the log that starts with prefix (NULL: none). */
static const char *find_line(const char *log, const char *prefix)
{
    for (const char *p = log; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return p;
    return NULL;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* The server's requests in flight now. */
static unsigned active_now(ss_server *srv)
{
    ss_stats st;
    ss_server_stats(srv, &st);
    return st.active;
}

/* Read a line, then fail with a reason that quotes the client's control bytes. */
static int fail_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n < 0)
        return (int)n;
    return ss_request_fail(req, -EPROTO, "bad line %s", line);
}
static const ss_handler fail_handler = {.handle = fail_handle};

/* At info: conn_open, the failure (escaped), conn_close with its bytes,
 * then the drain of a stop, each with its level and request. */
TEST_S(log_events_at_info)
{
    const char *path = open_log();
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &fail_handler, .log = to_file,
                                       .log_level = SS_LOG_INFO},
                           &serve);
    int fd = h_connect(srv);
    struct sockaddr_in me = {0};
    socklen_t len = sizeof me;
    CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&me, &len), 0);
    char client[64];
    snprintf(client, sizeof client, "127.0.0.1:%d", ntohs(me.sin_port));
    h_send_str(fd, "\x1b[2J\n");
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    char text[8192];
    CHECK(WAIT_FOR(h_read_file(path, text, sizeof text) > 0 && find_line(text, "info conn_close"), 10));
    /* Logged just before its slot is given back: the drain below must find none. */
    CHECK(WAIT_FOR(active_now(srv) == 0, 10));
    ss_server_stop(srv, 5);
    CHECK_EQ_INT(h_serve_join(&serve, 10), 0);
    ss_server_close(srv);
    CHECK_GT(h_read_file(path, text, sizeof text), 0);

    char want[256];
    snprintf(want, sizeof want, "info conn_open R new request from %s\n", client);
    const char *open_line = find_line(text, want);
    CHECK_MSG(open_line != NULL, "no '%s' in:\n%s", want, text);
    snprintf(want, sizeof want, "error handler_failed R request from %s failed: bad line \\x1b[2J\\x0a\n", client);
    const char *fail_line = find_line(text, want);
    CHECK_MSG(fail_line != NULL, "no '%s' in:\n%s", want, text);
    snprintf(want, sizeof want, "info conn_close R request from %s done", client);
    const char *close_line = find_line(text, want);
    CHECK_MSG(close_line != NULL, "no '%s' in:\n%s", want, text);
    CHECK(open_line < fail_line && fail_line < close_line);
    if (ss_stats_detailed())
        CHECK_MSG(strstr(close_line, " ms, 5 bytes in, 0 out\n") != NULL, "conn_close: %s", close_line);
    const char *drain = find_line(text, "info drain - closing tcp://127.0.0.1:");
    CHECK_MSG(drain != NULL, "no drain line in:\n%s", text);
    CHECK_MSG(strstr(drain, ": 0 requests in flight, ") != NULL, "drain: %s", drain);
    CHECK_EQ_INT(count_lines(text), 4);
    for (const char *p = text; *p; p++)
        CHECK_MSG(*p == '\n' || ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f), "raw byte 0x%02x in the log",
                  (unsigned char)*p);
}

/* The default level (warning) leaves info out: the failure alone. */
TEST_S(log_default_level_errors_only)
{
    const char *path = open_log();
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &fail_handler, .log = to_file},
                           &serve);
    int fd = h_connect(srv);
    h_send_str(fd, "x\n");
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    ss_server_stop(srv, 5);
    CHECK_EQ_INT(h_serve_join(&serve, 10), 0);
    ss_server_close(srv);
    char text[4096];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_MSG(count_lines(text) == 1, "expected one line:\n%s", text);
    CHECK_MSG(strncmp(text, "error handler_failed R request from 127.0.0.1:", 46) == 0, "log: %s", text);
}

/* A handle_error of one's own replaces the failure's message. */
static void quiet_error(ss_server *srv, ss_request *req, int err)
{
    (void)req, (void)err;
    (void)srv;
    CHECK_EQ_INT(write(log_fd, "handle_error\n", 13), 13);
}

TEST(log_own_handle_error_replaces_the_message)
{
    strategy = SS_SYNC;
    const char *path = open_log();
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &fail_handler, .log = to_file,
                                       .handle_error = quiet_error},
                           &serve);
    int fd = h_connect(srv);
    h_send_str(fd, "x\n");
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    CHECK_EQ_INT(h_serve_stop(&serve), 0);
    ss_server_close(srv);
    char text[4096];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "handle_error\n");
}

/* Accepting runs out of descriptors (EMFILE): one warning per pause,
 * counted; once descriptors are free again the client is served. */
static void emfile_case(ss_strategy s)
{
    strategy = s;
    const char *path = open_log();
    h_serve serve;
    ss_server *srv = start((ss_config){.listen = "tcp://127.0.0.1:0", .handler = &h_echo_line_handler,
                                       .log = to_file},
                           &serve);
    struct rlimit rl;
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    /* The client's socket first; then every descriptor left is taken, and
     * only then does it connect, so the server's accept fails. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    int fillers[4096], n = 0;
    struct rlimit low = {.rlim_cur = (rlim_t)fd + 64, .rlim_max = rl.rlim_max};
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    int f;
    while (n < 4096 && (f = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fillers[n++] = f;
    CHECK_EQ_INT(errno, EMFILE);
    socklen_t len;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK_EQ_INT(connect(fd, sa, len), 0);
    CHECK(WAIT_FOR(h_stats(srv).accept_errors >= 1, 10));
    while (n > 0)
        close(fillers[--n]);
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
    h_send_str(fd, "served\n");
    char buf[64];
    CHECK_EQ_INT(h_recv_line(fd, buf, sizeof buf, 10), 7);
    close(fd);
    CHECK_EQ_INT(h_serve_stop(&serve), 0);
    ss_server_close(srv);
    char text[8192];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    const char *line = find_line(text, "warning accept_backoff - accept failed: ");
    CHECK_MSG(line != NULL, "log:\n%s", text);
    CHECK_MSG(strstr(line, "; accepting pauses for 100 ms\n") != NULL, "log:\n%s", text);
}

TEST(log_accept_backoff) { emfile_case(SS_SYNC); }
TEST(log_accept_backoff_event) { emfile_case(SS_EVENT); }

/* The default line: "PROGRAM: MESSAGE" for errors, "PROGRAM: LEVEL: MESSAGE" else. */
TEST(log_stderr_line_format)
{
    const char *path = h_path("err");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK_GE(fd, 0);
    int saved = dup(STDERR_FILENO);
    CHECK_GE(saved, 0);
    CHECK_EQ_INT(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    ss_server *srv = h_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &h_echo_line_handler});
    ss_log_stderr(srv, SS_LOG_ERROR, NULL, "handler_failed", "request from x failed: y");
    ss_log_stderr(srv, SS_LOG_WARNING, NULL, "accept_backoff", "w");
    ss_log_stderr(srv, SS_LOG_INFO, NULL, "conn_open", "i");
    ss_log_stderr(srv, SS_LOG_DEBUG, NULL, "something", "d");
    ss_server_close(srv);
    CHECK_EQ_INT(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    close(fd);
    char text[1024];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "test_observe: request from x failed: y\n"
                       "test_observe: warning: w\n"
                       "test_observe: info: i\n"
                       "test_observe: debug: d\n");
}

/* stderr to a new file; JOURNAL_STREAM names it (journal) or another
 * file. Returns the file's path. */
static const char *stderr_to_file(bool journal)
{
    const char *path = h_path("journal");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK_GE(fd, 0);
    CHECK_EQ_INT(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    struct stat st;
    CHECK_EQ_INT(stat(journal ? path : h_tmpdir(), &st), 0);
    char stream[64];
    snprintf(stream, sizeof stream, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    CHECK_EQ_INT(setenv("JOURNAL_STREAM", stream, 1), 0);
    return path;
}

/* stderr is the journal's stream: each default line starts with its
 * syslog priority. (Each test runs in a process of its own: the library
 * looks at JOURNAL_STREAM once per process.) */
TEST(log_stderr_journal_priorities)
{
    const char *path = stderr_to_file(true);
    CHECK(ss_log_to_journal());
    ss_log_stderr(NULL, SS_LOG_ERROR, NULL, "handler_failed", "e");
    ss_log_stderr(NULL, SS_LOG_WARNING, NULL, "accept_backoff", "w");
    ss_log_stderr(NULL, SS_LOG_INFO, NULL, "conn_open", "i");
    ss_log_stderr(NULL, SS_LOG_DEBUG, NULL, "something", "d");
    char text[1024];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "<3>test_observe: e\n"
                       "<4>test_observe: warning: w\n"
                       "<6>test_observe: info: i\n"
                       "<7>test_observe: debug: d\n");
    CHECK_EQ_INT(ss_log_syslog_priority(SS_LOG_ERROR), 3);
    CHECK_EQ_INT(ss_log_syslog_priority(SS_LOG_WARNING), 4);
    CHECK_EQ_INT(ss_log_syslog_priority(SS_LOG_INFO), 6);
    CHECK_EQ_INT(ss_log_syslog_priority(SS_LOG_DEBUG), 7);
    CHECK_EQ_INT(ss_log_syslog_priority((ss_log_level)0), 6);
}

/* JOURNAL_STREAM naming another file (stderr was redirected since
 * systemd set it): plain lines. */
TEST(log_stderr_not_the_journal)
{
    const char *path = stderr_to_file(false);
    CHECK(!ss_log_to_journal());
    ss_log_stderr(NULL, SS_LOG_WARNING, NULL, "accept_backoff", "w");
    char text[1024];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "test_observe: warning: w\n");
}

TEST(log_level_checked)
{
    ss_server *srv = ss_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &h_echo_line_handler,
                                                .log_level = (ss_log_level)(SS_LOG_DEBUG + 1)});
    CHECK(srv == NULL);
    CHECK_ERRNO(EINVAL);
    CHECK_NOT_NULL(ss_last_error());
    CHECK_MSG(strncmp(ss_last_error(), "log_level: ", 11) == 0, "%s", ss_last_error());
    CHECK_EQ_STR(ss_log_level_name(SS_LOG_ERROR), "error");
    CHECK_EQ_STR(ss_log_level_name(SS_LOG_WARNING), "warning");
    CHECK_EQ_STR(ss_log_level_name(SS_LOG_INFO), "info");
    CHECK_EQ_STR(ss_log_level_name(SS_LOG_DEBUG), "debug");
    CHECK(ss_log_level_name((ss_log_level)0) == NULL);
}

TEST(duration_bucket_bounds)
{
    CHECK(ss_duration_bucket_bound(0) == 1e-6);
    CHECK(ss_duration_bucket_bound(1) == 2e-6);
    CHECK(ss_duration_bucket_bound(10) == 1024e-6);
    CHECK(ss_duration_bucket_bound(SS_DURATION_BUCKETS - 2) == (double)(1u << (SS_DURATION_BUCKETS - 2)) * 1e-6);
    CHECK(isinf(ss_duration_bucket_bound(SS_DURATION_BUCKETS - 1)));
    CHECK(isnan(ss_duration_bucket_bound(SS_DURATION_BUCKETS)));
}
