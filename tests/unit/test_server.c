/* test_server.c: the server life cycle and hooks: handle_request/timeout, verify_request, service_actions, bind/activate, addresses, socket options. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

static const ss_handler empty = { 0 };

/* ---- handle_request and its timeout ----------------------------------- */

static atomic_int timeouts;

static void on_timeout(ss_server *srv)
{
    (void)srv;
    atomic_fetch_add(&timeouts, 1);
}

static void handle_request_timeout_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy,
                                                .timeout = 0.2,
                                                .handle_timeout = on_timeout });
    double t0 = h_now();
    CHECK_EQ_INT(ss_handle_request(srv), -ETIMEDOUT);
    double el = h_now() - t0;
    CHECK_GE_DBL(el, 0.15);
    CHECK_LT_DBL(el, 5.0);
    CHECK_EQ_INT(atomic_load(&timeouts), 1);
    /* With a client waiting, it handles the request and does not time out. */
    int c = h_connect(srv);
    h_send_str(c, "hi\n");
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    char buf[16];
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "hi\n");
    CHECK_EQ_INT(atomic_load(&timeouts), 1);
    close(c);
    ss_server_close(srv);
    CHECK(h_no_children_left());
}

TEST(handle_request_timeout) { handle_request_timeout_test(SS_SYNC); }
TEST(handle_request_timeout_threading) { handle_request_timeout_test(SS_THREADING); }
TEST(handle_request_timeout_forking) { handle_request_timeout_test(SS_FORKING); }
TEST(handle_request_timeout_pool) { handle_request_timeout_test(SS_POOL); }
TEST(handle_request_timeout_event) { handle_request_timeout_test(SS_EVENT); }

/* A datagram server times out the same way. */
TEST(handle_request_timeout_udp)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "udp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .timeout = 0.1,
                                                .handle_timeout = on_timeout });
    CHECK_EQ_INT(ss_handle_request(srv), -ETIMEDOUT);
    CHECK_EQ_INT(atomic_load(&timeouts), 1);
    ss_server_close(srv);
}

/* timeout 0 waits for a request (no handle_timeout). */
static void *late_client(void *arg)
{
    ss_server *srv = arg;
    h_sleep(0.3);
    int c = h_connect(srv);
    h_send_str(c, "late\n");
    char buf[16];
    h_recv_line(c, buf, sizeof buf, 5);
    close(c);
    return NULL;
}

TEST(handle_request_no_timeout_waits)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .handle_timeout = on_timeout });
    pthread_t t;
    pthread_create(&t, NULL, late_client, srv);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    pthread_join(t, NULL);
    CHECK_EQ_INT(atomic_load(&timeouts), 0);
    CHECK_EQ_INT(h_stats(srv).accepted, 1);
    ss_server_close(srv);
}

/* ---- verify_request ---------------------------------------------------- */

static atomic_int verified;
static char verified_peer[64], verified_first[64];
static pid_t verify_tid;

static bool verify_odd(ss_server *srv, ss_request *req)
{
    (void)srv;
    int n = atomic_fetch_add(&verified, 1);
    snprintf(verified_peer, sizeof verified_peer, "%s", ss_request_peer_str(req));
    if (n == 0)
        snprintf(verified_first, sizeof verified_first, "%s", verified_peer);
    verify_tid = gettid();
    return n % 2 == 0;
}

static pid_t handler_tid;

static int tid_echo(ss_request *req)
{
    handler_tid = gettid();
    return h_echo_line_handler.handle(req);
}

/* verify_request sees the client; true serves it, false refuses it; it runs
 * in the serving thread, before the request's own thread (threading, pool).
 * Under event the loops accept: it runs on a loop, before the handler. */
static void verify_request_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = tid_echo };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h,
                                                .strategy = strategy,
                                                .verify_request = verify_odd });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    int c = h_connect(srv);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(c, (struct sockaddr *)&me, &len);
    h_send_str(c, "first\n");
    char buf[64];
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "first\n");
    close(c);
    c = h_connect(srv);
    h_send_str(c, "second\n");
    CHECK(h_wait_eof(c, 5));
    close(c);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    CHECK_EQ_INT(atomic_load(&verified), 2);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.refused, 1);
    CHECK_EQ_INT(st.accepted, 2);
    ss_server_close(srv); /* joins the request thread */
    if (strategy != SS_EVENT)
        CHECK_NE_INT(verify_tid, handler_tid);
    /* The first client, as verify_request saw it (the last one was the same host). */
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", ntohs(me.sin_port));
    CHECK_EQ_STR(verified_first, want);
}

TEST(verify_request_true_and_false) { verify_request_test(SS_THREADING); }
TEST(verify_request_true_and_false_pool) { verify_request_test(SS_POOL); }
TEST(verify_request_true_and_false_event) { verify_request_test(SS_EVENT); }

/* ---- service_actions --------------------------------------------------- */

static atomic_int actions;

static void count_actions(ss_server *srv)
{
    (void)srv;
    atomic_fetch_add(&actions, 1);
}

static void service_actions_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy,
                                                .service_actions = count_actions });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    /* Idle: it wakes every poll interval. */
    CHECK_MSG(WAIT_FOR(atomic_load(&actions) >= 5, 5), "service_actions called %d times",
              atomic_load(&actions));
    /* And after requests too. */
    int before = atomic_load(&actions);
    h_exchange(srv, "x\n");
    h_exchange(srv, "y\n");
    CHECK(WAIT_FOR(atomic_load(&actions) > before + 2, 5));
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(service_actions_called_repeatedly) { service_actions_test(SS_SYNC); }
TEST(service_actions_called_repeatedly_pool) { service_actions_test(SS_POOL); }
TEST(service_actions_called_repeatedly_event) { service_actions_test(SS_EVENT); }

/* ---- Bind and activate as separate steps ------------------------------ */

TEST(defer_activate)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .defer_activate = true });
    int fd = ss_server_fd(srv);
    CHECK_GE(fd, 0);
    /* Not bound yet: the caller may set socket options now. */
    struct sockaddr_in a = { 0 }; /* clang-analyzer 14 does not see getsockname fill it */
    socklen_t len = sizeof a;
    CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ_INT(ntohs(a.sin_port), 0);
    int big = 200000;
    CHECK_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big), 0);
    /* Serving before activation is refused at once. */
    CHECK_LT(ss_serve_forever(srv, 0.01), 0);
    CHECK_OK(ss_server_bind(srv));
    len = sizeof a;
    CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    CHECK_GT(ntohs(a.sin_port), 0);
    h_check_server_address(srv);
    char want[64];
    snprintf(want, sizeof want, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_EQ_STR(ss_server_url(srv), want);
    CHECK_OK(ss_server_activate(srv));
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "deferred\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(defer_activate_unix)
{
    const char *path = h_path("deferred.sock");
    char url[600];
    snprintf(url, sizeof url, "unix:%s", path);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url,
                                                .handler = &h_echo_line_handler,
                                                .defer_activate = true });
    CHECK(!h_exists(path));
    CHECK_OK(ss_server_bind(srv));
    CHECK(h_exists(path));
    CHECK_OK(ss_server_activate(srv));
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "deferred\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK(!h_exists(path));
}

/* ---- Addresses --------------------------------------------------------- */

static void check_url(const char *listen, const char *scheme)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = listen, .handler = &empty });
    h_check_server_address(srv);
    int port = h_server_port(srv);
    CHECK_GT(port, 0);
    char want[64];
    snprintf(want, sizeof want, "%s://127.0.0.1:%d", scheme, port);
    CHECK_EQ_STR(ss_server_url(srv), want);
    ss_server_close(srv);
}

/* Port 0 is resolved: ss_server_url and ss_server_address match getsockname. */
TEST(port0_resolved_tcp) { check_url("tcp://127.0.0.1:0", "tcp"); }
TEST(port0_resolved_udp) { check_url("udp://127.0.0.1:0", "udp"); }

TEST(explicit_port_url)
{
    /* Find a free port, then ask for it explicitly. */
    ss_server *probe = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    int port = h_server_port(probe);
    ss_server_close(probe);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty,
                                                .allow_reuse_address = true });
    CHECK_EQ_INT(h_server_port(srv), port);
    CHECK_EQ_STR(ss_server_url(srv), url);
    ss_server_close(srv);
}

TEST(unix_url_as_given)
{
    const char *url = h_url("unix:", "given.sock");
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    h_check_server_address(srv);
    CHECK_EQ_STR(ss_server_url(srv), url);
    ss_server_close(srv);
    url = h_url("unix-dgram:", "given.dgram");
    srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    h_check_server_address(srv);
    CHECK_EQ_STR(ss_server_url(srv), url);
    ss_server_close(srv);
}

/* The config and the listen string may be freed after ss_server_new. */
TEST(config_copied)
{
    static int marker;
    char *listen = strdup("tcp://127.0.0.1:0");
    ss_config *cfg = calloc(1, sizeof *cfg);
    cfg->listen = listen;
    cfg->handler = &h_echo_line_handler;
    cfg->userdata = &marker;
    cfg->request_timeout = 7.5;
    ss_server *srv = h_server_new(cfg);
    memset(listen, 'X', strlen(listen));
    free(listen);
    memset(cfg, 0xA5, sizeof *cfg);
    free(cfg);
    CHECK(ss_server_userdata(srv) == &marker);
    const ss_config *got = ss_server_config(srv);
    CHECK_NOT_NULL(got);
    CHECK(got->handler == &h_echo_line_handler);
    CHECK(got->userdata == &marker);
    CHECK(got->request_timeout == 7.5);
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "copied\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

/* ---- Socket options ---------------------------------------------------- */

static int sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    CHECK_EQ_INT(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static int tw_handle(ss_request *req)
{
    /* The server closes first, so its side of the connection is in TIME_WAIT. */
    return ss_write(req, "bye\n", 4) == 4 ? 0 : -EIO;
}

/* allow_reuse_address sets SO_REUSEADDR, so a new server binds the port at
 * once even with connections in TIME_WAIT. */
TEST(allow_reuse_address)
{
    static const ss_handler h = { .handle = tw_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .allow_reuse_address = true });
    CHECK_NE_INT(sockopt(ss_server_fd(srv), SOL_SOCKET, SO_REUSEADDR), 0);
    int port = h_server_port(srv);
    int c = h_connect(srv);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    CHECK(h_wait_eof(c, 5));
    close(c);
    ss_server_close(srv);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    srv = h_server_new(&(ss_config){ .listen = url, .handler = &h, .allow_reuse_address = true });
    CHECK_EQ_INT(h_server_port(srv), port);
    ss_server_close(srv);

    srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h });
    CHECK_EQ_INT(sockopt(ss_server_fd(srv), SOL_SOCKET, SO_REUSEADDR), 0);
    ss_server_close(srv);
}

/* allow_reuse_port lets two servers listen on one port; without it, the second fails. */
TEST(allow_reuse_port)
{
    ss_server *a = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                              .handler = &h_echo_line_handler,
                                              .allow_reuse_port = true });
    CHECK_NE_INT(sockopt(ss_server_fd(a), SOL_SOCKET, SO_REUSEPORT), 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", h_server_port(a));
    ss_server *b = h_server_new(&(ss_config){ .listen = url, .handler = &h_echo_line_handler,
                                              .allow_reuse_port = true });
    CHECK_EQ_INT(h_server_port(b), h_server_port(a));
    errno = 0;
    ss_server *c = ss_server_new(&(ss_config){ .listen = url, .handler = &h_echo_line_handler });
    CHECK(c == NULL);
    CHECK_ERRNO(EADDRINUSE);
    /* Both serve. */
    h_serve sa, sb;
    h_serve_start(&sa, a, 0.01);
    h_serve_start(&sb, b, 0.01);
    for (int i = 0; i < 10; i++)
        h_exchange(a, "shared port\n");
    CHECK_EQ_INT(h_serve_stop(&sa), 0);
    CHECK_EQ_INT(h_serve_stop(&sb), 0);
    CHECK_EQ_INT(h_stats(a).accepted + h_stats(b).accepted, 10);
    ss_server_close(a);
    ss_server_close(b);
}

/* Count client connections whose handshake completes against a server that does not accept. */
static int established(const ss_server *srv, int n)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    int *fds = calloc((size_t)n, sizeof *fds);
    CHECK_NOT_NULL(fds);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK_GE(fds[i], 0);
        int r = connect(fds[i], sa, len);
        CHECK_MSG(r == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    }
    h_sleep(0.3);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = { .fd = fds[i], .events = POLLOUT };
        int err = -1;
        socklen_t el = sizeof err;
        if (poll(&p, 1, 0) == 1 && getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
            ok++;
        close(fds[i]);
    }
    free(fds);
    return ok;
}

/* request_queue_size is the listen backlog: a small one holds few pending connections. */
TEST(request_queue_size)
{
    ss_server *small = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                                  .request_queue_size = 1 });
    int n_small = established(small, 16);
    ss_server_close(small);
    ss_server *dflt = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    int n_dflt = established(dflt, 16);
    ss_server_close(dflt);
    CHECK_LE(n_small, 4);
    CHECK_GE(n_small, 1);
    CHECK_EQ_INT(n_dflt, 16);
}

/* ---- serve_forever ---------------------------------------------------- */

static void serve_again_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy });
    for (int round = 0; round < 3; round++) {
        h_serve s;
        h_serve_start(&s, srv, 0.01);
        h_exchange(srv, "again\n");
        CHECK_EQ_INT(h_serve_stop(&s), 0);
    }
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    CHECK_EQ_INT(h_stats(srv).accepted, 3);
    ss_server_close(srv);
}

TEST(serve_forever_again_after_return) { serve_again_test(SS_THREADING); }
TEST(serve_forever_again_after_return_pool) { serve_again_test(SS_POOL); }
TEST(serve_forever_again_after_return_event) { serve_again_test(SS_EVENT); }

/* Between two serve_forever calls nobody accepts: a client that connects
 * then waits in the backlog and is served by the next call. */
static void not_served_between_test(ss_strategy strategy)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "first\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    int c = h_connect(srv);
    h_send_str(c, "between\n");
    char buf[32];
    CHECK_EQ_INT(h_recv_line(c, buf, sizeof buf, 0.3), -ETIMEDOUT);
    CHECK_EQ_INT(h_stats(srv).accepted, 1);
    h_serve_start(&s, srv, 0.01);
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "between\n");
    close(c);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(not_served_between_serve_forever_calls_threading) { not_served_between_test(SS_THREADING); }
TEST(not_served_between_serve_forever_calls_pool) { not_served_between_test(SS_POOL); }
TEST(not_served_between_serve_forever_calls_event) { not_served_between_test(SS_EVENT); }

TEST(serve_forever_twice_at_once_refused)
{
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &h_echo_line_handler,
                                                .service_actions = count_actions });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    CHECK(WAIT_FOR(atomic_load(&actions) > 0, 5));
    double t0 = h_now();
    CHECK_LT(ss_serve_forever(srv, 0.01), 0);
    CHECK_LT_DBL(h_now() - t0, 2.0);
    /* The first loop still serves. */
    h_exchange(srv, "one loop\n");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

/* Two servers in one process do not interfere: each serves its own clients,
 * and stopping one leaves the other running. */
static int tagged(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return (int)n;
    const char *tag = ss_server_userdata(ss_request_server(req));
    return ss_writef(req, "%s:%s", tag, line) < 0 ? -EIO : 0;
}

static void two_servers_test(ss_strategy sa_strategy, ss_strategy sb_strategy)
{
    static const ss_handler h = { .handle = tagged };
    static char tag_a[] = "A", tag_b[] = "B";
    ss_server *a = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                              .strategy = sa_strategy, .userdata = tag_a,
                                              .timeout = 0.05 });
    ss_server *b = h_server_new(&(ss_config){ .listen = h_url("unix:", "b.sock"), .handler = &h,
                                              .strategy = sb_strategy, .userdata = tag_b,
                                              .timeout = 5 });
    h_serve sa, sb;
    h_serve_start(&sa, a, 0.01);
    h_serve_start(&sb, b, 0.5);
    for (int i = 0; i < 5; i++) {
        int ca = h_connect(a), cb = h_connect(b);
        h_send_str(cb, "to b\n");
        h_send_str(ca, "to a\n");
        char buf[64];
        CHECK_GT(h_recv_line(ca, buf, sizeof buf, 5), 0);
        CHECK_EQ_STR(buf, "A:to a\n");
        CHECK_GT(h_recv_line(cb, buf, sizeof buf, 5), 0);
        CHECK_EQ_STR(buf, "B:to b\n");
        close(ca);
        close(cb);
    }
    CHECK_EQ_INT(h_serve_stop(&sa), 0);
    int cb = h_connect(b);
    h_send_str(cb, "still\n");
    char buf[64];
    CHECK_GT(h_recv_line(cb, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "B:still\n");
    close(cb);
    ss_server_close(a);
    CHECK_EQ_INT(h_serve_stop(&sb), 0);
    CHECK_EQ_INT(h_stats(b).accepted, 6);
    ss_server_close(b);
}

TEST(two_servers_independent) { two_servers_test(SS_THREADING, SS_SYNC); }
TEST(two_servers_independent_event_pool) { two_servers_test(SS_EVENT, SS_POOL); }
TEST(two_servers_independent_pool_event) { two_servers_test(SS_POOL, SS_EVENT); }
TEST(two_servers_independent_event_event) { two_servers_test(SS_EVENT, SS_EVENT); }

/* ---- Helpers ----------------------------------------------------------- */

/* Each strategy by name and back; numbered from 0 without gaps. */
TEST(strategy_names)
{
    static const char *const names[] = { "sync", "threading", "forking", "pool", "event" };
    ss_strategy s;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_STR(ss_strategy_name((ss_strategy)i), names[i]);
        CHECK_EQ_INT(ss_strategy_from_name(names[i], &s), 0);
        CHECK_EQ_INT(s, i);
    }
    CHECK(ss_strategy_name((ss_strategy)5) == NULL);
    CHECK(ss_strategy_name((ss_strategy)-1) == NULL);
    CHECK_EQ_INT(ss_strategy_from_name("fork", &s), -EINVAL);
    CHECK_EQ_INT(ss_strategy_from_name("", &s), -EINVAL);
    CHECK_EQ_INT(ss_strategy_from_name(NULL, &s), -EINVAL);
}

TEST(strerror_and_version)
{
    CHECK_EQ_STR(ss_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
    CHECK_EQ_STR(ss_strerror(ETIMEDOUT), strerror(ETIMEDOUT));
    /* ECANCELED may have a text of the library's own ("cut short by server stop"). */
    CHECK(ss_strerror(-ECANCELED) != NULL && ss_strerror(-ECANCELED)[0] != '\0');
    CHECK_EQ_STR(ss_strerror(-ECANCELED), ss_strerror(ECANCELED));
    CHECK_EQ_STR(ss_strerror(-EADDRINUSE), strerror(EADDRINUSE));
    CHECK_EQ_INT(SS_ETIMEDOUT, -ETIMEDOUT);
    CHECK_EQ_INT(SS_ECANCELED, -ECANCELED);
    CHECK_EQ_STR(ss_version(), SS_VERSION_STRING);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", SS_VERSION_MAJOR, SS_VERSION_MINOR, SS_VERSION_PATCH);
    CHECK_EQ_STR(ss_version(), v);
    ss_server_close(NULL); /* a no-op */
}
