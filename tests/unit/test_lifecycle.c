/* test_lifecycle.c: the handler life cycle (setup -> handle -> finish), handle_error, and the request accessors. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* What the hooks saw, shared with forked children. */
typedef struct lc_event {
    char name[16];
    pid_t pid;
    pid_t tid;
    int err;
    bool has_reason;
    char reason[128];
} lc_event;

typedef struct lc_shared {
    atomic_int n;         /* events reserved */
    atomic_int committed; /* events written */
    lc_event ev[32];
    /* What the hooks do. */
    int setup_ret, handle_ret, finish_ret;
    bool use_fail; /* fail through ss_request_fail() with a reason */
    atomic_int errors;
    pid_t serving_tid; /* recorded by service_actions */
} lc_shared;

static lc_shared *S;

static void lc_record(const char *name, int err, const char *reason)
{
    int i = atomic_fetch_add(&S->n, 1);
    if (i >= 32)
        FAIL("too many events");
    lc_event *e = &S->ev[i];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->pid = getpid();
    e->tid = gettid();
    e->err = err;
    e->has_reason = reason != NULL;
    if (reason)
        snprintf(e->reason, sizeof e->reason, "%s", reason);
    atomic_fetch_add(&S->committed, 1);
}

static int lc_ret(ss_request *req, int ret, const char *what)
{
    if (ret == 0)
        return 0;
    if (S->use_fail)
        return ss_request_fail(req, ret, "%s failed on purpose", what);
    return ret;
}

static int lc_setup(ss_request *req)
{
    lc_record("setup", 0, ss_request_error(req));
    return lc_ret(req, S->setup_ret, "setup");
}

static int lc_handle(ss_request *req)
{
    lc_record("handle", 0, ss_request_error(req));
    ss_write(req, "x", 1);
    return lc_ret(req, S->handle_ret, "handle");
}

static int lc_finish(ss_request *req)
{
    lc_record("finish", 0, ss_request_error(req));
    return lc_ret(req, S->finish_ret, "finish");
}

static void lc_handle_error(ss_server *srv, ss_request *req, int err)
{
    (void)srv;
    atomic_fetch_add(&S->errors, 1);
    lc_record("error", err, ss_request_error(req));
}

static void lc_service_actions(ss_server *srv)
{
    (void)srv;
    S->serving_tid = gettid();
}

static const ss_handler lc_handler = { .setup = lc_setup, .handle = lc_handle, .finish = lc_finish };

/* Runs one request through a served server and waits for `nevents` events. */
static void lc_run(ss_strategy strategy, int nevents)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &lc_handler,
                                                .strategy = strategy,
                                                .handle_error = lc_handle_error,
                                                .service_actions = lc_service_actions });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    h_send_str(c, "ping\n");
    CHECK(h_wait_eof(c, 10));
    close(c);
    CHECK_MSG(WAIT_FOR(atomic_load(&S->committed) >= nevents, 10), "only %d of %d events",
              atomic_load(&S->committed), nevents);
    h_sleep(0.05); /* an extra event would come now */
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(atomic_load(&S->n), nevents);
    CHECK(h_no_children_left());
}

static void lc_begin(void)
{
    S = h_shared_alloc(sizeof *S);
}

static void lc_expect(int i, const char *name)
{
    CHECK_MSG(strcmp(S->ev[i].name, name) == 0, "event %d is %s, expected %s", i, S->ev[i].name,
              name);
}

/* The hooks run in order, all in one thread: the serving thread for sync,
 * another thread for threading, a child process for forking. */
static void order_test(ss_strategy strategy)
{
    lc_begin();
    lc_run(strategy, 3);
    lc_expect(0, "setup");
    lc_expect(1, "handle");
    lc_expect(2, "finish");
    for (int i = 1; i < 3; i++) {
        CHECK_EQ_INT(S->ev[i].pid, S->ev[0].pid);
        CHECK_EQ_INT(S->ev[i].tid, S->ev[0].tid);
    }
    if (strategy == SS_FORKING)
        CHECK_NE_INT(S->ev[0].pid, getpid());
    else
        CHECK_EQ_INT(S->ev[0].pid, getpid());
    /* The serving thread is not the test's main thread: threading and sync differ by
     * whether the hooks ran in a thread of their own (pool: a worker; event: a loop). */
    if (strategy == SS_THREADING || strategy == SS_POOL || strategy == SS_EVENT)
        CHECK_NE_INT(S->ev[0].tid, S->serving_tid);
    if (strategy != SS_FORKING)
        CHECK_NE_INT(S->ev[0].tid, gettid());
    if (strategy == SS_SYNC)
        CHECK_EQ_INT(S->ev[0].tid, S->serving_tid);
}

TEST(order_sync) { order_test(SS_SYNC); }
TEST(order_threading) { order_test(SS_THREADING); }
TEST(order_forking) { order_test(SS_FORKING); }
TEST(order_pool) { order_test(SS_POOL); }
TEST(order_event) { order_test(SS_EVENT); }

/* The index of the first event named `name` (-1 if none) and how many there are. */
static int lc_find(const char *name, int *count)
{
    int first = -1, n = 0, total = atomic_load(&S->n);
    for (int i = 0; i < total; i++)
        if (strcmp(S->ev[i].name, name) == 0) {
            if (first < 0)
                first = i;
            n++;
        }
    if (count)
        *count = n;
    return first;
}

/* finish runs when handle fails; handle_error gets the error, once, where the handler ran. */
static void handle_fails_test(ss_strategy strategy, bool use_fail)
{
    lc_begin();
    S->handle_ret = -EPROTO;
    S->use_fail = use_fail;
    lc_run(strategy, 4);
    lc_expect(0, "setup");
    lc_expect(1, "handle");
    int nfinish, nerror;
    int f = lc_find("finish", &nfinish), e = lc_find("error", &nerror);
    CHECK_EQ_INT(nfinish, 1);
    CHECK_EQ_INT(nerror, 1);
    CHECK_GT(f, 1);
    CHECK_GT(e, 1);
    CHECK_EQ_INT(S->ev[e].err, -EPROTO);
    CHECK_EQ_INT(S->ev[e].pid, S->ev[1].pid);
    CHECK_EQ_INT(S->ev[e].tid, S->ev[1].tid);
    if (use_fail) {
        CHECK(S->ev[e].has_reason);
        CHECK_EQ_STR(S->ev[e].reason, "handle failed on purpose");
    } else {
        CHECK_MSG(!S->ev[e].has_reason, "ss_request_error() is \"%s\" without ss_request_fail()",
                  S->ev[e].reason);
    }
    /* No reason was visible before the failure. */
    CHECK(!S->ev[0].has_reason);
    CHECK(!S->ev[1].has_reason);
}

TEST(finish_runs_when_handle_fails_sync) { handle_fails_test(SS_SYNC, false); }
TEST(finish_runs_when_handle_fails_threading) { handle_fails_test(SS_THREADING, false); }
TEST(finish_runs_when_handle_fails_forking) { handle_fails_test(SS_FORKING, false); }
TEST(handle_error_reason_sync) { handle_fails_test(SS_SYNC, true); }
TEST(handle_error_reason_threading) { handle_fails_test(SS_THREADING, true); }
TEST(handle_error_reason_forking) { handle_fails_test(SS_FORKING, true); }
TEST(finish_runs_when_handle_fails_pool) { handle_fails_test(SS_POOL, false); }
TEST(finish_runs_when_handle_fails_event) { handle_fails_test(SS_EVENT, false); }
TEST(handle_error_reason_pool) { handle_fails_test(SS_POOL, true); }
TEST(handle_error_reason_event) { handle_fails_test(SS_EVENT, true); }

/* setup fails: neither handle nor finish runs; handle_error gets the error. */
static void setup_fails_test(ss_strategy strategy)
{
    lc_begin();
    S->setup_ret = -EACCES;
    S->use_fail = true;
    lc_run(strategy, 2);
    lc_expect(0, "setup");
    lc_expect(1, "error");
    CHECK_EQ_INT(S->ev[1].err, -EACCES);
    CHECK_EQ_STR(S->ev[1].reason, "setup failed on purpose");
    CHECK_EQ_INT(lc_find("handle", NULL), -1);
    CHECK_EQ_INT(lc_find("finish", NULL), -1);
}

TEST(finish_not_run_when_setup_fails_sync) { setup_fails_test(SS_SYNC); }
TEST(finish_not_run_when_setup_fails_threading) { setup_fails_test(SS_THREADING); }
TEST(finish_not_run_when_setup_fails_forking) { setup_fails_test(SS_FORKING); }
TEST(finish_not_run_when_setup_fails_pool) { setup_fails_test(SS_POOL); }
TEST(finish_not_run_when_setup_fails_event) { setup_fails_test(SS_EVENT); }

/* A failing finish is reported too. */
static void finish_fails_test(ss_strategy strategy)
{
    lc_begin();
    S->finish_ret = -EIO;
    lc_run(strategy, 4);
    lc_expect(0, "setup");
    lc_expect(1, "handle");
    lc_expect(2, "finish");
    lc_expect(3, "error");
    CHECK_EQ_INT(S->ev[3].err, -EIO);
}

TEST(finish_fails_reported) { finish_fails_test(SS_SYNC); }
TEST(finish_fails_reported_threading) { finish_fails_test(SS_THREADING); }
TEST(finish_fails_reported_forking) { finish_fails_test(SS_FORKING); }
TEST(finish_fails_reported_pool) { finish_fails_test(SS_POOL); }
TEST(finish_fails_reported_event) { finish_fails_test(SS_EVENT); }

/* ss_request_fail() returns its err and records the formatted reason. */
static int rf_ret;
static char rf_reason[128];
static bool rf_null_before;

static int rf_handle(ss_request *req)
{
    rf_null_before = ss_request_error(req) == NULL;
    rf_ret = ss_request_fail(req, -EMSGSIZE, "line too long: %d > %s", 70000, "65536");
    const char *r = ss_request_error(req);
    snprintf(rf_reason, sizeof rf_reason, "%s", r ? r : "(null)");
    return rf_ret;
}

static int rf_err;
static char rf_err_reason[128];

static void rf_handle_error(ss_server *srv, ss_request *req, int err)
{
    (void)srv;
    rf_err = err;
    const char *r = ss_request_error(req);
    snprintf(rf_err_reason, sizeof rf_err_reason, "%s", r ? r : "(null)");
}

TEST(request_fail_formats_reason)
{
    static const ss_handler h = { .handle = rf_handle };
    ss_server *srv = h_server_new(&(ss_config){
        .listen = "tcp://127.0.0.1:0", .handler = &h, .handle_error = rf_handle_error });
    int c = h_connect(srv);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    CHECK(rf_null_before);
    CHECK_EQ_INT(rf_ret, -EMSGSIZE);
    CHECK_EQ_STR(rf_reason, "line too long: 70000 > 65536");
    CHECK_EQ_INT(rf_err, -EMSGSIZE);
    CHECK_EQ_STR(rf_err_reason, "line too long: 70000 > 65536");
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.errors, 1);
    ss_server_close(srv);
}

/* A handler with no hooks accepts and closes. */
TEST(no_hooks_accepts_and_closes)
{
    static const ss_handler empty = { 0 };
    for (ss_strategy strategy = 0; ss_strategy_name(strategy); strategy++) {
        ss_server *srv = h_server_new(&(ss_config){
            .listen = "tcp://127.0.0.1:0", .handler = &empty, .strategy = strategy });
        h_serve s;
        h_serve_start(&s, srv, 0.01);
        int c = h_connect(srv);
        h_send_str(c, "hello\n");
        CHECK(h_wait_eof(c, 10));
        close(c);
        CHECK_EQ_INT(h_serve_stop(&s), 0);
        ss_server_close(srv);
    }
    CHECK(h_no_children_left());
}

/* The default handle_error writes one line naming the client and the reason
 * to stderr, and the server serves on. */
static int de_handle(ss_request *req)
{
    char line[100];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n > 0 && strncmp(line, "fail", 4) == 0) /* the reason quotes the client */
        return ss_request_fail(req, -EPROTO, "bad thing happened:%s", line + 4);
    return n < 0 ? (int)n : (int)ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

static void default_handle_error_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = de_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    const char *log = h_path("stderr.log");
    fflush(stderr);
    int saved = dup(2);
    int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK_GE(lf, 0);
    CHECK_EQ_INT(dup2(lf, 2), 2);
    close(lf);

    int c = h_connect(srv);
    struct sockaddr_in me = { 0 }; /* clang-analyzer 14 does not see getsockname fill it */
    socklen_t mlen = sizeof me;
    CHECK_EQ_INT(getsockname(c, (struct sockaddr *)&me, &mlen), 0);
    h_send_str(c, "fail \x1b]0;title\x07\x1b[2J\xc2\x9b\n");
    int r = ss_handle_request(srv);
    /* Other strategies run the request elsewhere: wait for its end (the
     * client's EOF, then the error counted) before taking stderr back. */
    bool eof = h_wait_eof(c, 5);
    bool counted = WAIT_FOR(h_stats(srv).errors == 1 && h_stats(srv).active == 0, 5);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_EQ_INT(r, 0);
    CHECK(eof);
    CHECK(counted);
    close(c);

    char text[4096];
    CHECK_GT(h_read_file(log, text, sizeof text), 0);
    char client[64];
    snprintf(client, sizeof client, "127.0.0.1:%d", ntohs(me.sin_port));
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_MSG(lines == 1, "expected one line on stderr, got %d: %s", lines, text);
    CHECK_MSG(strstr(text, client) != NULL, "stderr line does not name the client %s: %s", client,
              text);
    CHECK_MSG(strstr(text, "bad thing happened") != NULL, "stderr line lacks the reason: %s", text);
    /* What the client sent is in it, escaped: no byte of it drives a terminal. */
    CHECK_MSG(strstr(text, ": \\x1b]0;title\\x07\\x1b[2J\\xc2\\x9b\\x0a\n") != NULL,
              "the client's text is not escaped: %s", text);
    for (const char *p = text; *p; p++)
        CHECK_MSG(*p == '\n' || ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f),
                  "raw byte 0x%02x on stderr", (unsigned char)*p);
    /* Named after the program, not the library. */
    CHECK_MSG(strncmp(text, "test_lifecycle: request from ", 29) == 0, "stderr line: %s", text);

    /* The server serves on. */
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "still here\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, 2);
    CHECK_EQ_INT(st.errors, 1);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

TEST(default_handle_error_logs_one_line) { default_handle_error_test(SS_SYNC); }
TEST(default_handle_error_logs_one_line_threading) { default_handle_error_test(SS_THREADING); }
TEST(default_handle_error_logs_one_line_forking) { default_handle_error_test(SS_FORKING); }
TEST(default_handle_error_logs_one_line_pool) { default_handle_error_test(SS_POOL); }
TEST(default_handle_error_logs_one_line_event) { default_handle_error_test(SS_EVENT); }

/* Access to the request's fd, client address and server, userdata, and per-request data. */
static struct {
    ss_server *srv;
    struct sockaddr_in client;
    bool server_ok, userdata_ok, peer_ok, peer_str_ok, not_dgram, data_null_at_start;
    bool data_seen_in_handle, data_seen_in_finish, config_ok;
    char peer_str[80];
    int fd;
} ac;

static int ac_marker;

static int ac_setup(ss_request *req)
{
    ac.data_null_at_start = ss_request_data(req) == NULL;
    int *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    *p = 4242;
    ss_request_set_data(req, p);
    return 0;
}

static int ac_handle(ss_request *req)
{
    int *p = ss_request_data(req);
    ac.data_seen_in_handle = p && *p == 4242;
    if (p)
        *p = 4343;
    ac.server_ok = ss_request_server(req) == ac.srv;
    ac.userdata_ok = ss_server_userdata(ss_request_server(req)) == &ac_marker;
    ac.config_ok = ss_server_config(ss_request_server(req)) != NULL &&
                   ss_server_config(ss_request_server(req))->userdata == &ac_marker;
    socklen_t len = 0;
    const struct sockaddr *peer = ss_request_peer(req, &len);
    ac.peer_ok = peer && h_addr_equal(peer, len, (struct sockaddr *)&ac.client, sizeof ac.client);
    const char *ps = ss_request_peer_str(req);
    snprintf(ac.peer_str, sizeof ac.peer_str, "%s", ps ? ps : "(null)");
    ac.not_dgram = !ss_request_is_datagram(req);
    ac.fd = ss_request_fd(req);
    return 0;
}

static int ac_finish(ss_request *req)
{
    int *p = ss_request_data(req);
    ac.data_seen_in_finish = p && *p == 4343;
    free(p);
    ss_request_set_data(req, NULL);
    return 0;
}

TEST(request_accessors_and_data)
{
    static const ss_handler h = { .setup = ac_setup, .handle = ac_handle, .finish = ac_finish };
    ac.srv = h_server_new(&(ss_config){
        .listen = "tcp://127.0.0.1:0", .handler = &h, .userdata = &ac_marker });
    CHECK(ss_server_userdata(ac.srv) == &ac_marker);
    int c = h_connect(ac.srv);
    socklen_t mlen = sizeof ac.client;
    CHECK_EQ_INT(getsockname(c, (struct sockaddr *)&ac.client, &mlen), 0);
    CHECK_EQ_INT(ss_handle_request(ac.srv), 0);
    close(c);
    CHECK(ac.data_null_at_start);
    CHECK(ac.data_seen_in_handle);
    CHECK(ac.data_seen_in_finish);
    CHECK(ac.server_ok);
    CHECK(ac.userdata_ok);
    CHECK(ac.config_ok);
    CHECK(ac.peer_ok);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", ntohs(ac.client.sin_port));
    CHECK_EQ_STR(ac.peer_str, want);
    CHECK(ac.not_dgram);
    CHECK_GE(ac.fd, 0);
    ss_server_close(ac.srv);
}

/* Per-request data is per request: concurrent threaded requests do not share it. */
static int pd_setup(ss_request *req)
{
    char *buf = calloc(1, 128);
    if (!buf)
        return -ENOMEM;
    ss_request_set_data(req, buf);
    return 0;
}

static int pd_handle(ss_request *req)
{
    char *buf = ss_request_data(req);
    ssize_t n = ss_readline(req, buf, 128);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    /* Let the others overlap (ss_sleep: under event, the loop runs them meanwhile). */
    int r = ss_sleep(req, 0.05);
    if (r < 0)
        return r;
    return 0;
}

static int pd_finish(ss_request *req)
{
    char *buf = ss_request_data(req);
    ssize_t w = ss_write(req, buf, strlen(buf));
    free(buf);
    return w < 0 ? (int)w : 0;
}

static void per_request_data_test(ss_strategy strategy)
{
    static const ss_handler h = { .setup = pd_setup, .handle = pd_handle, .finish = pd_finish };
    ss_server *srv = h_server_new(&(ss_config){
        .listen = "tcp://127.0.0.1:0", .handler = &h, .strategy = strategy, .workers = 2 });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    enum { N = 6 };
    int c[N];
    h_connect_clients(srv, c, N);
    for (int i = 0; i < N; i++) {
        char want[32], got[64];
        snprintf(want, sizeof want, "client %d\n", i);
        CHECK_GT(h_recv_line(c[i], got, sizeof got, 10), 0);
        CHECK_EQ_STR(got, want);
        close(c[i]);
    }
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(per_request_data_is_per_request) { per_request_data_test(SS_THREADING); }
TEST(per_request_data_is_per_request_pool) { per_request_data_test(SS_POOL); }
TEST(per_request_data_is_per_request_event) { per_request_data_test(SS_EVENT); }

/* The counters: accepted, completed, errors, active. */
static void stats_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = de_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h,
                                                .strategy = strategy,
                                                .handle_error = rf_handle_error });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "hi\n");
    int c = h_connect(srv);
    h_send_str(c, "fail\n");
    CHECK(h_wait_eof(c, 10));
    close(c);
    CHECK(WAIT_FOR(h_stats(srv).errors == 1 && h_stats(srv).active == 0, 10));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, 4);
    CHECK_GE(st.completed, 3);
    CHECK_LE(st.completed, 4);
    CHECK_EQ_INT(st.errors, 1);
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.cancelled, 0);
    CHECK_EQ_INT(st.active, 0);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

TEST(stats_counters) { stats_test(SS_THREADING); }
TEST(stats_counters_sync) { stats_test(SS_SYNC); }
TEST(stats_counters_forking) { stats_test(SS_FORKING); }
TEST(stats_counters_pool) { stats_test(SS_POOL); }
TEST(stats_counters_event) { stats_test(SS_EVENT); }
