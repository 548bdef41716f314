/* test_cpython_port.c: every case of CPython's Lib/test/test_socketserver.py, ported to sockserv. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_STR "hello world\n"

/* ---- SocketServerTest: the server classes -------------------------------
 * CPython's 12 (4 transports x sync/threading/forking) and ours: the same
 * 4 transports under pool and event, 20 in all. */

/* CPython's simple_subprocess: a custom child of the test that the library
 * must not reap (issue 1540386). */
static pid_t simple_subprocess_start(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(72);
    return pid;
}

static void simple_subprocess_end(pid_t pid)
{
    int status = 0;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    CHECK_MSG(r == pid, "the test's own child %d was reaped by someone else (waitpid: %s)",
              (int)pid, strerror(errno));
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 72);
}

static void stream_examine(const ss_server *srv)
{
    int fd = h_connect(srv);
    h_send_str(fd, TEST_STR);
    char buf[200];
    ssize_t n = h_recv_line(fd, buf, sizeof buf, 10);
    CHECK_EQ_INT(n, (ssize_t)strlen(TEST_STR));
    CHECK_EQ_STR(buf, TEST_STR);
    close(fd);
}

static void dgram_examine(const ss_server *srv, int i)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK_NOT_NULL(sa);
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    if (sa->sa_family == AF_UNIX) {
        /* As CPython does: the client binds a file name of its own. */
        struct sockaddr_un me = { .sun_family = AF_UNIX };
        char name[32];
        snprintf(name, sizeof name, "client.%d", i);
        snprintf(me.sun_path, sizeof me.sun_path, "%s", h_path(name));
        CHECK_EQ_INT(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    }
    CHECK_EQ_INT(sendto(fd, TEST_STR, strlen(TEST_STR), 0, sa, len), (ssize_t)strlen(TEST_STR));
    char buf[200];
    ssize_t n = h_recv_timeout(fd, buf, sizeof buf - 1, 10);
    CHECK_EQ_INT(n, (ssize_t)strlen(TEST_STR));
    CHECK_EQ_MEM(buf, TEST_STR, strlen(TEST_STR));
    close(fd);
}

static void run_server(const char *listen, ss_strategy strategy)
{
    pid_t custom = strategy == SS_FORKING ? simple_subprocess_start() : -1;
    ss_server *srv = h_server_new(&(ss_config){
        .listen = listen, .handler = &h_echo_line_handler, .strategy = strategy });
    /* make_server: server_address == socket.getsockname() */
    h_check_server_address(srv);
    int fd = ss_server_fd(srv);
    CHECK_GE(fd, 0);
    bool dgram = h_server_socktype(srv) == SOCK_DGRAM;

    h_serve s;
    h_serve_start(&s, srv, 0.01);
    for (int i = 0; i < 3; i++) {
        if (dgram)
            dgram_examine(srv, i);
        else
            stream_examine(srv);
    }
    /* Finished children are reaped by the serving loop (a few poll intervals). */
    if (strategy == SS_FORKING)
        CHECK_MSG(WAIT_FOR(h_stats(srv).children == 0, 10), "children not reaped: %u",
                  h_stats(srv).children);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, 3);
    /* The last request may still be closing its connection after its reply
     * went out (a thread, a worker or a loop of its own): it ends soon. */
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == 0, 10), "%u requests still active",
              h_stats(srv).active);
    CHECK_MSG(WAIT_FOR(h_stats(srv).completed == 3, 10), "%llu of 3 requests completed",
              (unsigned long long)h_stats(srv).completed);
    ss_server_close(srv);
    /* server.socket.fileno() == -1: the listening socket is closed. */
    CHECK(!h_fd_open(fd));
    if (custom > 0)
        simple_subprocess_end(custom);
    /* bpo-31151: server_close() waited for every child; none is left. */
    CHECK(h_no_children_left());
}

TEST(TCPServer) { run_server("tcp://127.0.0.1:0", SS_SYNC); }
TEST(ThreadingTCPServer) { run_server("tcp://127.0.0.1:0", SS_THREADING); }
TEST(ForkingTCPServer) { run_server("tcp://127.0.0.1:0", SS_FORKING); }
TEST(UnixStreamServer) { run_server(h_url("unix:", "unix_socket.s"), SS_SYNC); }
TEST(ThreadingUnixStreamServer) { run_server(h_url("unix:", "unix_socket.s"), SS_THREADING); }
TEST(ForkingUnixStreamServer) { run_server(h_url("unix:", "unix_socket.s"), SS_FORKING); }
TEST(UDPServer) { run_server("udp://127.0.0.1:0", SS_SYNC); }
TEST(ThreadingUDPServer) { run_server("udp://127.0.0.1:0", SS_THREADING); }
TEST(ForkingUDPServer) { run_server("udp://127.0.0.1:0", SS_FORKING); }
TEST(UnixDatagramServer) { run_server(h_url("unix-dgram:", "unix_socket.d"), SS_SYNC); }
TEST(ThreadingUnixDatagramServer) { run_server(h_url("unix-dgram:", "unix_socket.d"), SS_THREADING); }
TEST(ForkingUnixDatagramServer) { run_server(h_url("unix-dgram:", "unix_socket.d"), SS_FORKING); }
TEST(PoolTCPServer) { run_server("tcp://127.0.0.1:0", SS_POOL); }
TEST(EventTCPServer) { run_server("tcp://127.0.0.1:0", SS_EVENT); }
TEST(PoolUnixStreamServer) { run_server(h_url("unix:", "unix_socket.s"), SS_POOL); }
TEST(EventUnixStreamServer) { run_server(h_url("unix:", "unix_socket.s"), SS_EVENT); }
TEST(PoolUDPServer) { run_server("udp://127.0.0.1:0", SS_POOL); }
TEST(EventUDPServer) { run_server("udp://127.0.0.1:0", SS_EVENT); }
TEST(PoolUnixDatagramServer) { run_server(h_url("unix-dgram:", "unix_socket.d"), SS_POOL); }
TEST(EventUnixDatagramServer) { run_server(h_url("unix-dgram:", "unix_socket.d"), SS_EVENT); }

/* Issue #2302: shutdown() always makes serve_forever() return. */
static void shutdown_test(ss_strategy strategy)
{
    enum { N = 20 };
    static const ss_handler empty = { 0 };
    ss_server *srv[N];
    h_serve s[N];
    for (int i = 0; i < N; i++)
        srv[i] = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                            .strategy = strategy, .workers = 2 });
    for (int i = 0; i < N; i++) {
        h_serve_start(&s[i], srv[i], 0.01);
        ss_shutdown(srv[i]);
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(h_serve_join(&s[i], 10), 0);
        ss_server_close(srv[i]);
    }
}

TEST(shutdown) { shutdown_test(SS_SYNC); }
TEST(shutdown_threading) { shutdown_test(SS_THREADING); }
TEST(shutdown_forking) { shutdown_test(SS_FORKING); }
TEST(shutdown_pool) { shutdown_test(SS_POOL); }
TEST(shutdown_event) { shutdown_test(SS_EVENT); }

static void close_immediately_test(ss_strategy strategy)
{
    static const ss_handler empty = { 0 };
    ss_server *srv = h_server_new(&(ss_config){
        .listen = "tcp://127.0.0.1:0", .handler = &empty, .strategy = strategy });
    int fd = ss_server_fd(srv);
    CHECK_GE(fd, 0);
    ss_server_close(srv);
    CHECK(!h_fd_open(fd));
}

TEST(close_immediately) { close_immediately_test(SS_THREADING); }
TEST(close_immediately_pool) { close_immediately_test(SS_POOL); }
TEST(close_immediately_event) { close_immediately_test(SS_EVENT); }

/* Issue #22435: a server whose creation fails leaks no socket. */
TEST(tcpserver_bind_leak)
{
    static const ss_handler empty = { 0 };
    int before = h_count_fds();
    for (int i = 0; i < 1024; i++) {
        errno = 0;
        ss_server *srv = ss_server_new(&(ss_config){
            .listen = "tcp://127.0.0.1:-1", .handler = &empty });
        CHECK(srv == NULL);
        CHECK_ERRNO(EINVAL);
    }
    CHECK_EQ_INT(h_count_fds(), before);
}

/* The same with a bind() that really fails (the port is taken). */
TEST(tcpserver_bind_fail_leak)
{
    static const ss_handler empty = { 0 };
    ss_server *holder = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", h_server_port(holder));
    int before = h_count_fds();
    for (int i = 0; i < 1024; i++) {
        errno = 0;
        ss_server *srv = ss_server_new(&(ss_config){ .listen = url, .handler = &empty });
        CHECK(srv == NULL);
        CHECK_ERRNO(EADDRINUSE);
    }
    CHECK_EQ_INT(h_count_fds(), before);
    ss_server_close(holder);
}

/* `with TCPServer(...) as server: pass` closes the socket. */
TEST(context_manager)
{
    static const ss_handler empty = { 0 };
    int before = h_count_fds();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty });
    int fd = ss_server_fd(srv);
    CHECK_GE(fd, 0);
    CHECK(h_fd_open(fd));
    ss_server_close(srv);
    CHECK(!h_fd_open(fd));
    CHECK_EQ_INT(h_count_fds(), before);
}

/* ---- ErrorHandlerTest ------------------------------------------------- */

static char eh_log[512];
static bool eh_fail;

static int eh_handle(ss_request *req)
{
    (void)req;
    h_append_file(eh_log, "Handler called\n");
    return eh_fail ? ss_request_fail(req, -EINVAL, "Test error") : 0;
}

static void eh_handle_error(ss_server *srv, ss_request *req, int err)
{
    (void)srv;
    (void)req;
    (void)err;
    h_append_file(eh_log, "Error handled\n");
}

static const ss_handler eh_handler = { .handle = eh_handle };

static void error_test(ss_strategy strategy, bool handled)
{
    snprintf(eh_log, sizeof eh_log, "%s", h_path("TESTFN"));
    eh_fail = handled;
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0",
                                                .handler = &eh_handler,
                                                .strategy = strategy,
                                                .handle_error = eh_handle_error });
    int c = h_connect(srv);
    close(c);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    /* server_close() waits for the thread or the child (block_on_close). */
    ss_server_close(srv);
    char log[256];
    CHECK_GE(h_read_file(eh_log, log, sizeof log), 0);
    CHECK_EQ_STR(log, handled ? "Handler called\nError handled\n" : "Handler called\n");
    CHECK(h_no_children_left());
}

TEST(error_sync_handled) { error_test(SS_SYNC, true); }
TEST(error_sync_not_handled) { error_test(SS_SYNC, false); }
TEST(error_threading_handled) { error_test(SS_THREADING, true); }
TEST(error_threading_not_handled) { error_test(SS_THREADING, false); }
TEST(error_forking_handled) { error_test(SS_FORKING, true); }
TEST(error_forking_not_handled) { error_test(SS_FORKING, false); }
TEST(error_pool_handled) { error_test(SS_POOL, true); }
TEST(error_pool_not_handled) { error_test(SS_POOL, false); }
TEST(error_event_handled) { error_test(SS_EVENT, true); }
TEST(error_event_not_handled) { error_test(SS_EVENT, false); }

/* ---- SocketWriterTest ------------------------------------------------- */

static struct {
    int fd1, fd2;
    bool peer_ok, local_ok;
    struct sockaddr_storage client;
    socklen_t client_len;
} sw;

static int sw_basics_handle(ss_request *req)
{
    sw.fd1 = ss_request_fd(req);
    sw.fd2 = ss_request_fd(req);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    sw.peer_ok = getpeername(sw.fd1, (struct sockaddr *)&peer, &plen) == 0 &&
                 h_addr_equal((struct sockaddr *)&peer, plen, (struct sockaddr *)&sw.client,
                              sw.client_len);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    socklen_t slen = 0;
    const struct sockaddr *sa = ss_server_address(ss_request_server(req), &slen);
    sw.local_ok = getsockname(sw.fd1, (struct sockaddr *)&local, &llen) == 0 &&
                  h_addr_equal((struct sockaddr *)&local, llen, sa, slen);
    return 0;
}

TEST(socketwriter_basics)
{
    static const ss_handler h = { .handle = sw_basics_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h });
    sw.fd1 = sw.fd2 = -2;
    int c = h_connect(srv);
    sw.client_len = sizeof sw.client;
    CHECK_EQ_INT(getsockname(c, (struct sockaddr *)&sw.client, &sw.client_len), 0);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    /* The request's fd is the connection itself. */
    CHECK_GE(sw.fd1, 0);
    CHECK_EQ_INT(sw.fd1, sw.fd2);
    CHECK_NE_INT(sw.fd1, ss_server_fd(srv));
    CHECK(sw.peer_ok);
    CHECK(sw.local_ok);
    /* And it was closed after the request. */
    CHECK(h_wait_eof(c, 5));
    close(c);
    ss_server_close(srv);
}

#define SW_BIG (16u << 20) /* test.support.SOCK_MAX_SIZE */

static unsigned char sw_pattern(size_t i)
{
    return (unsigned char)((i * 7 + 3) % 251);
}

static struct {
    unsigned char *big;
    ssize_t sent1, sent2, received_len;
    char received[100];
    atomic_int interrupted;
    pthread_t main_thread;
    char response1[100];
    ssize_t response1_len;
    size_t received2;
    bool content_ok;
    int port;
    const char *client_error;
} wr;

static void wr_on_sigusr1(int sig)
{
    (void)sig;
    atomic_store(&wr.interrupted, 1);
}

static int wr_handle(ss_request *req)
{
    wr.sent1 = ss_write(req, "write data\n", 11);
    /* Should be sent immediately, without ss_flush(). */
    wr.received_len = ss_readline(req, wr.received, sizeof wr.received);
    wr.sent2 = ss_write(req, wr.big, SW_BIG);
    return 0;
}

static void *wr_client(void *arg)
{
    (void)arg;
    int fd = h_connect_ip("127.0.0.1", wr.port, SOCK_STREAM);
    wr.response1_len = h_recv_line(fd, wr.response1, sizeof wr.response1, 10);
    h_send_str(fd, "client response\n");
    unsigned char first[100];
    if (h_recv_exact(fd, first, 100, 10) != 100) {
        wr.client_error = "first 100 bytes did not come";
        close(fd);
        return NULL;
    }
    /* The serving thread should now block in send(): interrupt it. */
    for (int i = 0; i < 30 && !atomic_load(&wr.interrupted); i++) {
        pthread_kill(wr.main_thread, SIGUSR1);
        WAIT_FOR(atomic_load(&wr.interrupted), 1.0);
    }
    wr.content_ok = true;
    for (size_t i = 0; i < 100; i++)
        if (first[i] != sw_pattern(i))
            wr.content_ok = false;
    size_t off = 100;
    static unsigned char buf[1 << 16];
    for (;;) {
        ssize_t n = h_recv_timeout(fd, buf, sizeof buf, 20);
        if (n < 0) {
            wr.client_error = "timeout or error reading the big write";
            break;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != sw_pattern(off + (size_t)i))
                wr.content_ok = false;
        off += (size_t)n;
    }
    wr.received2 = off - 100;
    close(fd);
    return NULL;
}

/* wfile.write() sends at once and is not truncated when a signal interrupts it. */
TEST(socketwriter_write)
{
    static const ss_handler h = { .handle = wr_handle };
    wr.big = malloc(SW_BIG);
    CHECK_NOT_NULL(wr.big);
    for (size_t i = 0; i < SW_BIG; i++)
        wr.big[i] = sw_pattern(i);
    struct sigaction sa = { .sa_handler = wr_on_sigusr1 }; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    CHECK_EQ_INT(sigaction(SIGUSR1, &sa, NULL), 0);

    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h });
    wr.port = h_server_port(srv);
    wr.main_thread = pthread_self();
    pthread_t client;
    CHECK_EQ_INT(pthread_create(&client, NULL, wr_client, NULL), 0);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    pthread_join(client, NULL);
    ss_server_close(srv);
    free(wr.big);

    CHECK_EQ_STR(wr.client_error, NULL);
    CHECK(atomic_load(&wr.interrupted));
    CHECK_EQ_INT(wr.sent1, 11);
    CHECK_EQ_INT(wr.response1_len, 11);
    CHECK_EQ_STR(wr.response1, "write data\n");
    CHECK_EQ_INT(wr.received_len, 16);
    CHECK_EQ_STR(wr.received, "client response\n");
    CHECK_EQ_INT(wr.sent2, SW_BIG);
    CHECK_EQ_INT(wr.received2, SW_BIG - 100);
    CHECK(wr.content_ok);
}

/* ---- MiscTestCase ----------------------------------------------------- */

static atomic_int vr_verify_calls, vr_handled;

static bool vr_refuse(ss_server *srv, ss_request *req)
{
    (void)srv;
    (void)req;
    atomic_fetch_add(&vr_verify_calls, 1);
    return false;
}

static int vr_handle(ss_request *req)
{
    (void)req;
    atomic_fetch_add(&vr_handled, 1);
    return 0;
}

/* Issue #26309: the request is shut down even when verify_request refuses it. */
static void verify_false_test(ss_strategy strategy)
{
    static const ss_handler h = { .setup = vr_handle, .handle = vr_handle, .finish = vr_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy,
                                                .verify_request = vr_refuse });
    /* CPython's form: the client is gone already. */
    int c = h_connect(srv);
    close(c);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    /* Ours too: a client that waits sees EOF promptly. */
    c = h_connect(srv);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    double t0 = h_now();
    CHECK(h_wait_eof(c, 5));
    CHECK_LT_DBL(h_now() - t0, 2.0);
    close(c);
    CHECK_EQ_INT(atomic_load(&vr_verify_calls), 2);
    CHECK_EQ_INT(atomic_load(&vr_handled), 0);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.refused, 2);
    CHECK_EQ_INT(st.completed, 0);
    ss_server_close(srv);
    CHECK_EQ_INT(atomic_load(&vr_handled), 0);
    CHECK(h_no_children_left());
}

TEST(shutdown_request_called_if_verify_request_false) { verify_false_test(SS_SYNC); }
TEST(verify_request_false_threading) { verify_false_test(SS_THREADING); }
TEST(verify_request_false_forking) { verify_false_test(SS_FORKING); }
TEST(verify_request_false_pool) { verify_false_test(SS_POOL); }
TEST(verify_request_false_event) { verify_false_test(SS_EVENT); }

/* Issue #37193: finished request threads are not kept forever. */
TEST(threads_reaped)
{
    static const ss_handler empty = { 0 };
    ss_server *srv = h_server_new(&(ss_config){
        .listen = "tcp://127.0.0.1:0", .handler = &empty, .strategy = SS_THREADING });
    for (int i = 0; i < 10; i++) {
        int c = h_connect(srv);
        CHECK_EQ_INT(ss_handle_request(srv), 0);
        /* The request's thread closes the connection as it ends; waiting
         * for that keeps the test from depending on the scheduler (a busy
         * machine may not run the new thread before the next request). */
        CHECK(h_wait_eof(c, 5));
        close(c);
    }
    CHECK_LT(h_stats(srv).threads, 10);
    ss_server_close(srv);
}
