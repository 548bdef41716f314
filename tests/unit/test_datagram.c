/* test_datagram.c: datagram requests: the packet is the input, the reply goes to the sender after finish, max_packet_size. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct dg_shared {
    atomic_int handled;
    atomic_int errors;
    int last_err;
    bool is_dgram;
    bool fd_is_server;
} dg_shared;

static dg_shared *S;
static ss_server *srv;
static h_serve sv;

static void dg_handle_error(ss_server *s, ss_request *req, int err)
{
    (void)s;
    (void)req;
    S->last_err = err;
    atomic_fetch_add(&S->errors, 1);
}

static void start(ss_config cfg)
{
    if (!S)
        S = h_shared_alloc(sizeof *S);
    if (!cfg.listen)
        cfg.listen = "udp://127.0.0.1:0";
    if (!cfg.handle_error)
        cfg.handle_error = dg_handle_error;
    srv = h_server_new(&cfg);
    CHECK_EQ_INT(h_server_socktype(srv), SOCK_DGRAM);
    h_serve_start(&sv, srv, 0.01);
}

static void stop(void)
{
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
    CHECK(h_no_children_left());
}

/* Send one datagram on a connected client, return the reply (NUL-terminated). */
static ssize_t ask(int c, const void *msg, size_t n, char *reply, size_t size)
{
    CHECK_EQ_INT(send(c, msg, n, 0), (ssize_t)n);
    ssize_t r = h_recv_timeout(c, reply, size - 1, 10);
    if (r >= 0)
        reply[r] = '\0';
    return r;
}

static const char *esc(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < size; i++) {
        if (s[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- The packet is the input ------------------------------------------- */

static int lines_handle(ss_request *req)
{
    char sum[512] = "", line[64], e[128];
    ssize_t n;
    do {
        n = ss_readline(req, line, sizeof line);
        size_t len = strlen(sum);
        snprintf(sum + len, sizeof sum - len, "[%zd:%s]", n, n > 0 ? esc(line, (size_t)n, e, sizeof e) : "");
    } while (n > 0);
    atomic_fetch_add(&S->handled, 1);
    return ss_writef(req, "%s", sum) < 0 ? -EIO : 0;
}

static void packet_lines_test(const char *listen, ss_strategy strategy)
{
    static const ss_handler h = { .handle = lines_handle };
    start((ss_config){ .listen = listen, .handler = &h, .strategy = strategy });
    int c = h_connect(srv);
    char reply[1024];
    CHECK_GT(ask(c, "one\ntwo\nthree", 13, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, "[4:one\\n][4:two\\n][5:three][0:]");
    /* Each datagram is a request of its own: the next starts fresh. */
    CHECK_GT(ask(c, "four\n", 5, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, "[5:four\\n][0:]");
    close(c);
    stop();
}

TEST(packet_is_the_input_udp) { packet_lines_test("udp://127.0.0.1:0", SS_SYNC); }
TEST(packet_is_the_input_unix_dgram) { packet_lines_test(h_url("unix-dgram:", "d"), SS_SYNC); }
TEST(packet_is_the_input_threading) { packet_lines_test("udp://127.0.0.1:0", SS_THREADING); }
TEST(packet_is_the_input_forking) { packet_lines_test("udp://127.0.0.1:0", SS_FORKING); }
TEST(packet_is_the_input_pool) { packet_lines_test("udp://127.0.0.1:0", SS_POOL); }
TEST(packet_is_the_input_event) { packet_lines_test("udp://127.0.0.1:0", SS_EVENT); }
TEST(packet_is_the_input_unix_dgram_pool) { packet_lines_test(h_url("unix-dgram:", "d"), SS_POOL); }
TEST(packet_is_the_input_unix_dgram_event) { packet_lines_test(h_url("unix-dgram:", "d"), SS_EVENT); }

static int pieces_handle(ss_request *req)
{
    char a[8] = "", b[64] = "", z[8];
    const char *line;
    ssize_t n1 = ss_read(req, a, 3);
    ssize_t n2 = ss_read1(req, b, 4);
    ssize_t n3 = ss_readline_ref(req, &line, 100);
    ssize_t n4 = ss_read(req, z, 8);
    return ss_writef(req, "%zd:%.3s %zd:%.4s %zd:%.*s %zd", n1, a, n2, b, n3,
                     (int)(n3 > 0 ? n3 : 0), n3 > 0 ? line : "", n4) < 0 ? -EIO : 0;
}

/* read, read1 and readline_ref all read the packet, then 0 at its end. */
static void packet_read_calls_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = pieces_handle };
    start((ss_config){ .handler = &h, .strategy = strategy });
    int c = h_connect(srv);
    char reply[256];
    CHECK_GT(ask(c, "abcdefgXYZ", 10, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, "3:abc 4:defg 3:XYZ 0");
    close(c);
    stop();
}

TEST(packet_read_calls) { packet_read_calls_test(SS_SYNC); }
TEST(packet_read_calls_pool) { packet_read_calls_test(SS_POOL); }
TEST(packet_read_calls_event) { packet_read_calls_test(SS_EVENT); }

static int ref_max_handle(ss_request *req)
{
    const char *line;
    ssize_t a = ss_readline_ref(req, &line, 10);
    ssize_t b = ss_readline_ref(req, &line, 100);
    return ss_writef(req, "%zd %zd", a, b) < 0 ? -EIO : 0;
}

TEST(packet_readline_ref_max)
{
    static const ss_handler h = { .handle = ref_max_handle };
    start((ss_config){ .handler = &h });
    int c = h_connect(srv);
    char reply[256], want[64];
    CHECK_GT(ask(c, "twenty bytes long..\n", 20, reply, sizeof reply), 0);
    snprintf(want, sizeof want, "%d 20", -EMSGSIZE);
    CHECK_EQ_STR(reply, want);
    close(c);
    stop();
}

/* ---- The reply ---------------------------------------------------------- */

static int ab_handle(ss_request *req)
{
    return ss_write(req, "A", 1) == 1 ? 0 : -EIO;
}

static int ab_finish(ss_request *req)
{
    return ss_write(req, "B", 1) == 1 ? 0 : -EIO;
}

/* The reply is buffered and sent once, after finish. */
static void reply_after_finish_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = ab_handle, .finish = ab_finish };
    start((ss_config){ .handler = &h, .strategy = strategy });
    int c = h_connect(srv);
    char reply[64];
    CHECK_EQ_INT(ask(c, "go", 2, reply, sizeof reply), 2);
    CHECK_EQ_STR(reply, "AB");
    CHECK_EQ_INT(h_recv_timeout(c, reply, sizeof reply, 0.1), -ETIMEDOUT);
    close(c);
    stop();
}

TEST(reply_sent_after_finish_sync) { reply_after_finish_test(SS_SYNC); }
TEST(reply_sent_after_finish_threading) { reply_after_finish_test(SS_THREADING); }
TEST(reply_sent_after_finish_forking) { reply_after_finish_test(SS_FORKING); }
TEST(reply_sent_after_finish_pool) { reply_after_finish_test(SS_POOL); }
TEST(reply_sent_after_finish_event) { reply_after_finish_test(SS_EVENT); }

static int who_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return -EPROTO;
    return ss_writef(req, "%s from %s", line, ss_request_peer_str(req)) < 0 ? -EIO : 0;
}

/* Each reply goes to its own sender. */
static void reply_to_each_sender_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = who_handle };
    start((ss_config){ .handler = &h, .strategy = strategy, .workers = 3 });
    enum { N = 5 };
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(srv);
        char msg[16];
        snprintf(msg, sizeof msg, "id%d", i);
        CHECK_EQ_INT(send(c[i], msg, strlen(msg), 0), (ssize_t)strlen(msg));
    }
    for (int i = 0; i < N; i++) {
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        CHECK_EQ_INT(getsockname(c[i], (struct sockaddr *)&me, &len), 0);
        char want[64], reply[128];
        snprintf(want, sizeof want, "id%d from 127.0.0.1:%d", i, ntohs(me.sin_port));
        ssize_t r = h_recv_timeout(c[i], reply, sizeof reply - 1, 10);
        CHECK_GT(r, 0);
        reply[r] = '\0';
        CHECK_EQ_STR(reply, want);
        close(c[i]);
    }
    stop();
}

TEST(reply_to_each_sender) { reply_to_each_sender_test(SS_THREADING); }
TEST(reply_to_each_sender_forking) { reply_to_each_sender_test(SS_FORKING); }
TEST(reply_to_each_sender_pool) { reply_to_each_sender_test(SS_POOL); }
TEST(reply_to_each_sender_event) { reply_to_each_sender_test(SS_EVENT); }

static int acc_handle(ss_request *req)
{
    S->is_dgram = ss_request_is_datagram(req);
    S->fd_is_server = ss_request_fd(req) == ss_server_fd(ss_request_server(req));
    return ss_write(req, "ok", 2) == 2 ? 0 : -EIO;
}

/* A datagram request says so, and its fd is the server's socket. */
static void accessors_test_s(const char *listen, ss_strategy strategy)
{
    static const ss_handler h = { .handle = acc_handle };
    start((ss_config){ .listen = listen, .handler = &h, .strategy = strategy });
    int c = h_connect(srv);
    char reply[16];
    CHECK_EQ_INT(ask(c, "x", 1, reply, sizeof reply), 2);
    close(c);
    stop();
    CHECK(S->is_dgram);
    CHECK(S->fd_is_server);
}

static void accessors_test(const char *listen)
{
    accessors_test_s(listen, SS_SYNC);
}

TEST(datagram_accessors_udp) { accessors_test("udp://127.0.0.1:0"); }
TEST(datagram_accessors_unix) { accessors_test(h_url("unix-dgram:", "acc")); }
TEST(datagram_accessors_udp_pool) { accessors_test_s("udp://127.0.0.1:0", SS_POOL); }
TEST(datagram_accessors_udp_event) { accessors_test_s("udp://127.0.0.1:0", SS_EVENT); }
TEST(datagram_accessors_unix_event) { accessors_test_s(h_url("unix-dgram:", "acc"), SS_EVENT); }

/* ---- max_packet_size -------------------------------------------------- */

static int size_handle(ss_request *req)
{
    char *all = NULL;
    ssize_t n = ss_read_all(req, &all, 1u << 20);
    free(all);
    atomic_fetch_add(&S->handled, 1);
    return ss_writef(req, "%zd", n) < 0 ? -EIO : 0;
}

/* Datagrams up to max_packet_size are handled whole; a larger one is
 * reported with -EMSGSIZE, never handled, and the server serves on. */
static void max_packet_test(const char *listen, ss_strategy strategy, size_t setting, size_t limit)
{
    static const ss_handler h = { .handle = size_handle };
    start((ss_config){ .listen = listen, .handler = &h, .strategy = strategy,
                       .max_packet_size = setting });
    int c = h_connect(srv);
    int big = 1 << 20;
    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    char *msg = calloc(1, limit + 2);
    memset(msg, 'p', limit + 1);
    char reply[64], want[64];
    snprintf(want, sizeof want, "%zu", limit);
    CHECK_GT(ask(c, msg, limit, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, want);
    CHECK_EQ_INT(send(c, msg, limit + 1, 0), (ssize_t)(limit + 1));
    CHECK(WAIT_FOR(atomic_load(&S->errors) == 1, 10));
    CHECK_EQ_INT(S->last_err, -EMSGSIZE);
    /* The next reply is the small datagram's: the oversize one had none. */
    CHECK_GT(ask(c, "small", 5, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, "5");
    CHECK_EQ_INT(atomic_load(&S->handled), 2);
    CHECK_EQ_INT(atomic_load(&S->errors), 1);
    free(msg);
    close(c);
    stop();
}

TEST(max_packet_size_default_8192) { max_packet_test("udp://127.0.0.1:0", SS_SYNC, 0, 8192); }
TEST(max_packet_size_small) { max_packet_test("udp://127.0.0.1:0", SS_SYNC, 100, 100); }
TEST(max_packet_size_large) { max_packet_test("udp://127.0.0.1:0", SS_SYNC, 60000, 60000); }
TEST(max_packet_size_unix_dgram) { max_packet_test(h_url("unix-dgram:", "m"), SS_SYNC, 100, 100); }
TEST(max_packet_size_threading) { max_packet_test("udp://127.0.0.1:0", SS_THREADING, 0, 8192); }
TEST(max_packet_size_forking) { max_packet_test("udp://127.0.0.1:0", SS_FORKING, 100, 100); }
TEST(max_packet_size_pool) { max_packet_test("udp://127.0.0.1:0", SS_POOL, 100, 100); }
TEST(max_packet_size_event) { max_packet_test("udp://127.0.0.1:0", SS_EVENT, 100, 100); }
TEST(max_packet_size_event_default) { max_packet_test("udp://127.0.0.1:0", SS_EVENT, 0, 8192); }
TEST(max_packet_size_event_large) { max_packet_test("udp://127.0.0.1:0", SS_EVENT, 60000, 60000); }
TEST(max_packet_size_unix_dgram_event) { max_packet_test(h_url("unix-dgram:", "m"), SS_EVENT, 100, 100); }

/* A Unix datagram client without a name gets no reply, and the server survives. */
TEST(unix_dgram_unnamed_client)
{
    static const ss_handler h = { .handle = size_handle };
    start((ss_config){ .listen = h_url("unix-dgram:", "u"), .handler = &h });
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK_EQ_INT(sendto(c, "anon", 4, 0, sa, len), 4);
    CHECK(WAIT_FOR(atomic_load(&S->handled) == 1, 10));
    close(c);
    /* Still serving. */
    c = h_connect(srv);
    char reply[16];
    CHECK_GT(ask(c, "abc", 3, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, "3");
    close(c);
    stop();
}

/* ---- Replies nobody reads ---------------------------------------------- */

static int echo_count_handle(ss_request *req)
{
    char buf[2048];
    ssize_t n = ss_read(req, buf, sizeof buf);
    atomic_fetch_add(&S->handled, 1);
    return n < 0 ? (int)n : (int)ss_write(req, buf, (size_t)n);
}

/* Send one datagram, waiting for room in the client's own buffer. */
static void send_waiting(int c, const void *msg, size_t n)
{
    for (;;) {
        ssize_t w = send(c, msg, n, MSG_DONTWAIT);
        if (w == (ssize_t)n)
            return;
        CHECK_MSG(w < 0 && (errno == EAGAIN || errno == EINTR), "send: %s", strerror(errno));
        struct pollfd p = {.fd = c, .events = POLLOUT};
        poll(&p, 1, 100);
    }
}

/* Ask until a reply comes, as a datagram client must (a reply may be
 * dropped); returns the number of tries. */
static int ask_retrying(int c, const char *msg)
{
    char reply[64];
    for (int tries = 1; tries <= 20; tries++) {
        CHECK_EQ_INT(send(c, msg, strlen(msg), 0), (ssize_t)strlen(msg));
        ssize_t r = h_recv_timeout(c, reply, sizeof reply - 1, 0.5);
        if (r == (ssize_t)strlen(msg) && memcmp(reply, msg, (size_t)r) == 0)
            return tries;
    }
    FAIL("no reply to '%s' in 20 tries", msg);
}

/* A Unix datagram client connected to the server that sends requests and
 * never reads the replies: the kernel charges what it has not read to the
 * server's socket, so waiting to send would stall every request, and
 * sending until the buffer is full would leave none for anyone else.
 * Replies it cannot take are dropped and counted; others are served. */
static void hog_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = echo_count_handle };
    start((ss_config){ .listen = h_url("unix-dgram:", "hog"), .handler = &h, .strategy = strategy,
                       .max_packet_size = 2048 });
    int hog = h_connect(srv);
    char big[1000];
    memset(big, 'h', sizeof big);
    /* Enough unread replies to fill the server's send buffer 1.5 times over
     * (the kernel charges about 2.3 KB for a 1000-byte datagram). */
    int sndbuf = 0;
    socklen_t optlen = sizeof sndbuf;
    CHECK_EQ_INT(getsockopt(ss_server_fd(srv), SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen), 0);
    const int FLOOD = sndbuf / 2304 * 3 / 2;
    for (int i = 0; i < FLOOD; i++)
        send_waiting(hog, big, sizeof big);
    CHECK_MSG(WAIT_FOR(atomic_load(&S->handled) == FLOOD, 60), "handled %d of %d", atomic_load(&S->handled), FLOOD);
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == 0, 10), "requests still in flight: %u", h_stats(srv).active);
    ss_stats st = h_stats(srv);
    CHECK_GT(st.dropped, 0);
    CHECK_EQ_INT(st.errors, 0);
    /* threading: no thread waits on a reply (those that ended are joined as the serve loop goes) */
    CHECK_MSG(WAIT_FOR(h_stats(srv).threads <= 64, 10), "%u request threads left", h_stats(srv).threads);
    /* The hog still holds its unread replies; everyone else is served. */
    for (int k = 0; k < 3; k++) {
        int c = h_connect(srv);
        for (int i = 0; i < 50; i++) {
            char msg[32];
            snprintf(msg, sizeof msg, "client %d line %d", k, i);
            ask_retrying(c, msg);
        }
        close(c);
    }
    /* The hog reads at last: it gets a bounded share, then is served again. */
    int got = 0;
    char buf[2048];
    while (h_recv_timeout(hog, buf, sizeof buf, 0.2) > 0)
        got++;
    h_note("the hog had %d replies waiting, %llu dropped", got, (unsigned long long)h_stats(srv).dropped);
    CHECK_GT(got, 0);
    CHECK_LT((long)got * 2304, sndbuf / 4); /* its share: an eighth of the buffer */
    ask_retrying(hog, "hog is back");
    close(hog);
    stop();
}

TEST_T(unread_replies_sync, 90) { hog_test(SS_SYNC); }
TEST_T(unread_replies_threading, 90) { hog_test(SS_THREADING); }
TEST_T(unread_replies_forking, 90) { hog_test(SS_FORKING); }
TEST_T(unread_replies_pool, 90) { hog_test(SS_POOL); }
TEST_T(unread_replies_event, 90) { hog_test(SS_EVENT); }

/* A Unix datagram client that is bound but not connected to the server,
 * sends requests and never reads: past the kernel's per-receiver queue
 * limit (net.unix.max_dgram_qlen, 10 by default) a send to it would wait
 * until it reads, however small its share of the send buffer. Each reply
 * is tried once: the ones it cannot take are dropped and counted, no
 * request stays in flight, and everyone else is served. */
static void unconnected_hog_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = echo_count_handle };
    start((ss_config){ .listen = h_url("unix-dgram:", "uh"), .handler = &h, .strategy = strategy });
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    int hog = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un me = { .sun_family = AF_UNIX };
    snprintf(me.sun_path, sizeof me.sun_path, "%s", h_path("hog-client"));
    CHECK_EQ_INT(bind(hog, (const struct sockaddr *)&me, sizeof me), 0);
    long qlen = 10;
    char text[32];
    if (h_read_file("/proc/sys/net/unix/max_dgram_qlen", text, sizeof text) > 0)
        qlen = strtol(text, NULL, 10);
    const int FLOOD = (int)qlen + 40;
    for (int i = 0; i < FLOOD; i++)
        CHECK_EQ_INT(sendto(hog, "unread", 6, 0, sa, len), 6);
    CHECK_MSG(WAIT_FOR(atomic_load(&S->handled) == FLOOD, 30), "handled %d of %d", atomic_load(&S->handled), FLOOD);
    /* No request waits for the hog to read its replies. */
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == 0, 10), "requests still in flight: %u", h_stats(srv).active);
    ss_stats st = h_stats(srv);
    CHECK_GT(st.dropped, 0);
    CHECK_EQ_INT(st.errors, 0);
    int c = h_connect(srv);
    for (int i = 0; i < 20; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "reader line %d", i);
        ask_retrying(c, msg);
    }
    close(c);
    /* The hog finds at most a queue's worth waiting, and is served again. */
    int got = 0;
    char buf[64];
    while (h_recv_timeout(hog, buf, sizeof buf, 0.2) > 0)
        got++;
    CHECK_GT(got, 0);
    CHECK_LE(got, qlen + 1);
    CHECK_EQ_INT(sendto(hog, "back", 4, 0, sa, len), 4);
    CHECK_EQ_INT(h_recv_timeout(hog, buf, sizeof buf, 10), 4);
    close(hog);
    stop();
}

TEST_T(unread_replies_unconnected_sync, 60) { unconnected_hog_test(SS_SYNC); }
TEST_T(unread_replies_unconnected_threading, 60) { unconnected_hog_test(SS_THREADING); }
TEST_T(unread_replies_unconnected_forking, 60) { unconnected_hog_test(SS_FORKING); }
TEST_T(unread_replies_unconnected_pool, 60) { unconnected_hog_test(SS_POOL); }
TEST_T(unread_replies_unconnected_event, 60) { unconnected_hog_test(SS_EVENT); }

/* A client that reads each reply before it asks again never loses one. */
TEST_T(prompt_reader_never_dropped, 60)
{
    static const ss_handler h = { .handle = echo_count_handle };
    start((ss_config){ .listen = h_url("unix-dgram:", "prompt"), .handler = &h, .strategy = SS_EVENT });
    int c = h_connect(srv);
    char big[1000], reply[1100];
    memset(big, 'p', sizeof big);
    for (int i = 0; i < 5000; i++) {
        CHECK_EQ_INT(send(c, big, sizeof big, 0), (ssize_t)sizeof big);
        CHECK_EQ_INT(h_recv_timeout(c, reply, sizeof reply, 10), (ssize_t)sizeof big);
    }
    CHECK_EQ_INT(h_stats(srv).dropped, 0);
    close(c);
    stop();
}

/* ---- Sizes that would wrap ---------------------------------------------- */

static int huge_write_handle(ss_request *req)
{
    /* A length no reply can have: refused before a byte is read from buf
     * (growing the reply for it used to double a size_t until it wrapped). */
    ssize_t r = ss_write(req, "x", SIZE_MAX / 2 + 2);
    ssize_t r2 = ss_write(req, "x", SIZE_MAX);
    char text[64];
    int n = snprintf(text, sizeof text, "%zd %zd", r, r2);
    return (int)ss_write(req, text, (size_t)n) < 0 ? -EIO : 0;
}

TEST(reply_size_that_would_wrap_refused)
{
    static const ss_handler h = { .handle = huge_write_handle };
    start((ss_config){ .handler = &h });
    int c = h_connect(srv);
    char reply[64], want[64];
    snprintf(want, sizeof want, "%d %d", -EMSGSIZE, -EMSGSIZE);
    CHECK_GT(ask(c, "go", 2, reply, sizeof reply), 0);
    CHECK_EQ_STR(reply, want);
    close(c);
    stop();
}
