/* test_stream_io.c: stream requests: ss_read, ss_read1, ss_readline(_ref), ss_read_all, ss_write, wbufsize, timeouts, TCP_NODELAY, SIGPIPE. */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static ss_server *srv;
static h_serve sv;

/* Every case runs under every strategy. What a handler tells the case
 * besides its replies goes through X, memory shared with forked children. */
static ss_strategy g_strategy = SS_SYNC;

static struct io_shared {
    ssize_t big_ret;
    atomic_int wb_step, wb_flush_ret;
    atomic_int dribble_started;
    ssize_t tw_ret;
    double tw_elapsed;
    atomic_int tw_done;
    atomic_int sp_client_gone, sp_done;
    int sp_err, sp_flush_err;
} *X;

static void begin(ss_strategy s)
{
    g_strategy = s;
    X = h_shared_alloc(sizeof *X);
    atomic_store(&X->wb_flush_ret, 99);
}

#define TEST_S(name) TEST_EACH_STRATEGY(name, begin)

static void start(ss_config cfg)
{
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    cfg.strategy = g_strategy;
    srv = h_server_new(&cfg);
    h_serve_start(&sv, srv, 0.01);
}

static void stop(void)
{
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
}

/* Text for a summary: '\n' shown as "\n". */
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

/* The client's half: send chunks (with a pause between), optionally shut down
 * the write side, then read the server's summary line. */
static void client_check(const char *const *chunks, bool shut, const char *want)
{
    int c = h_connect(srv);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = 0; chunks[i]; i++) {
        if (i)
            h_sleep(0.02);
        h_send_str(c, chunks[i]);
    }
    if (shut)
        shutdown(c, SHUT_WR);
    char got[4096];
    ssize_t n = h_recv_line(c, got, sizeof got, 10);
    CHECK_MSG(n > 0, "no summary from the handler (%zd)", n);
    CHECK_EQ_STR(got, want);
    close(c);
}

/* ---- ss_read ---------------------------------------------------------- */

static int read_handle(ss_request *req)
{
    char a[16] = "", b[16] = "";
    ssize_t n1 = ss_read(req, a, 10);
    ssize_t n2 = ss_read(req, b, 10);
    ssize_t n3 = ss_read(req, b + 8, 4);
    return ss_writef(req, "%zd:%.*s|%zd:%.*s|%zd\n", n1, (int)(n1 > 0 ? n1 : 0), a, n2,
                     (int)(n2 > 0 ? n2 : 0), b, n3) < 0 ? -EIO : 0;
}

/* read(n) waits for exactly n bytes across chunks, is short at EOF, then 0. */
TEST_S(read_exact_and_short_at_eof)
{
    static const ss_handler h = { .handle = read_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ "abcd", "efg", "hijkl", "mn", NULL }, true,
                 "10:abcdefghij|4:klmn|0\n");
    stop();
}

/* ---- ss_read1 --------------------------------------------------------- */

static int read1_handle(ss_request *req)
{
    char buf[128];
    ssize_t n = ss_read1(req, buf, 100);
    if (ss_writef(req, "%zd:%.*s\n", n, (int)(n > 0 ? n : 0), buf) < 0)
        return -EIO;
    ssize_t a = ss_read1(req, buf, 2);
    ssize_t b = ss_read1(req, buf + 2, 100);
    if (ss_writef(req, "%zd+%zd:%.*s\n", a, b, (int)(a + b > 0 ? a + b : 0), buf) < 0)
        return -EIO;
    ssize_t z = ss_read1(req, buf, 100);
    return ss_writef(req, "%zd\n", z) < 0 ? -EIO : 0;
}

/* read1(n) returns what one receive brings, without waiting for n bytes. */
TEST_S(read1_single_receive)
{
    static const ss_handler h = { .handle = read1_handle };
    start((ss_config){ .handler = &h, .request_timeout = 3 });
    int c = h_connect(srv);
    char got[256];
    double t0 = h_now();
    h_send_str(c, "abc");
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_LT_DBL(h_now() - t0, 2.0); /* not waiting out request_timeout */
    CHECK_EQ_STR(got, "3:abc\n");
    h_send_str(c, "defgh");
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "2+3:defgh\n");
    shutdown(c, SHUT_WR);
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "0\n");
    close(c);
    stop();
}

/* ---- ss_readline ------------------------------------------------------ */

static size_t rl_size = 11;

static int readline_handle(ss_request *req)
{
    char sum[2048] = "", buf[512], e[600];
    ssize_t n;
    do {
        memset(buf, 'Z', sizeof buf);
        n = ss_readline(req, buf, rl_size);
        size_t len = strlen(sum);
        if (n >= 0 && buf[n] != '\0')
            snprintf(sum + len, sizeof sum - len, "NOTNUL|");
        else
            snprintf(sum + len, sizeof sum - len, "%zd:%s|", n,
                     n > 0 ? esc(buf, (size_t)n, e, sizeof e) : "");
    } while (n > 0);
    return ss_writef(req, "%s\n", sum) < 0 ? -EIO : 0;
}

/* readline(limit) cuts long lines at size - 1 bytes, and returns a last line without '\n'. */
TEST_S(readline_limit_and_last_line)
{
    static const ss_handler h = { .handle = readline_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ "short\n0123456789ABC", "DEFGHIJ\nlast", NULL }, true,
                 "6:short\\n|10:0123456789|10:ABCDEFGHIJ|1:\\n|4:last|0:|\n");
    stop();
}

/* The same with the input arriving one byte at a time. */
TEST_S(readline_bytewise)
{
    static const ss_handler h = { .handle = readline_handle };
    rl_size = 100;
    start((ss_config){ .handler = &h });
    const char *text = "line one\nline two\n\nlast";
    int c = h_connect(srv);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t i = 0; text[i]; i++) {
        h_send_all(c, text + i, 1);
        h_sleep(0.001);
    }
    shutdown(c, SHUT_WR);
    char got[1024];
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "9:line one\\n|9:line two\\n|1:\\n|4:last|0:|\n");
    close(c);
    stop();
}

/* ---- ss_readline_ref -------------------------------------------------- */

static int ref_collect(ss_request *req, size_t max, char *sum, size_t size)
{
    const char *line;
    ssize_t n;
    char e[1024];
    do {
        n = ss_readline_ref(req, &line, max);
        size_t len = strlen(sum);
        snprintf(sum + len, size - len, "[%zd:%s]", n, n > 0 ? esc(line, (size_t)n, e, sizeof e) : "");
    } while (n > 0);
    return (int)n;
}

static int ref_bytewise_handle(ss_request *req)
{
    char sum[2048] = "";
    ref_collect(req, 100, sum, sizeof sum);
    return ss_writef(req, "%s\n", sum) < 0 ? -EIO : 0;
}

/* Lines split across arbitrary TCP chunking (one byte per segment). */
TEST_S(readline_ref_bytewise)
{
    static const ss_handler h = { .handle = ref_bytewise_handle };
    start((ss_config){ .handler = &h });
    const char *text = "line one\nline two\n\nlast";
    int c = h_connect(srv);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t i = 0; text[i]; i++) {
        h_send_all(c, text + i, 1);
        h_sleep(0.001);
    }
    shutdown(c, SHUT_WR);
    char got[1024];
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "[9:line one\\n][9:line two\\n][1:\\n][4:last][0:]\n");
    close(c);
    stop();
}

static int ref_max_handle(ss_request *req)
{
    const char *line;
    char sum[1024] = "";
    size_t len;
    /* 100 'a' + '\n': over max 50, left unread. */
    ssize_t r1 = ss_readline_ref(req, &line, 50);
    ssize_t r2 = ss_readline_ref(req, &line, 200);
    bool same = r2 == 101 && line[0] == 'a' && line[99] == 'a' && line[100] == '\n';
    /* "123456789\n" is exactly 10 bytes: fits max 10. "1234567890\n" does not. */
    ssize_t r3 = ss_readline_ref(req, &line, 10);
    bool ok3 = r3 == 10 && memcmp(line, "123456789\n", 10) == 0;
    ssize_t r4 = ss_readline_ref(req, &line, 10);
    ssize_t r5 = ss_readline_ref(req, &line, 11);
    bool ok5 = r5 == 11 && memcmp(line, "1234567890\n", 11) == 0;
    snprintf(sum, sizeof sum, "%zd %zd%s %zd%s %zd %zd%s ", r1, r2, same ? "" : "!", r3,
             ok3 ? "" : "!", r4, r5, ok5 ? "" : "!");
    len = strlen(sum);
    /* The rest, bytewise-sent with a too-long line in it. */
    ssize_t r6 = ss_readline_ref(req, &line, 50);
    char *all = NULL;
    ssize_t r7 = ss_read_all(req, &all, 1000);
    snprintf(sum + len, sizeof sum - len, "%zd %zd", r6, r7);
    free(all);
    return ss_writef(req, "%s\n", sum) < 0 ? -EIO : 0;
}

/* -EMSGSIZE when no '\n' comes within max bytes; nothing is consumed then. */
TEST_S(readline_ref_max)
{
    static const ss_handler h = { .handle = ref_max_handle };
    start((ss_config){ .handler = &h });
    char big[200];
    memset(big, 'a', 100);
    snprintf(big + 100, sizeof big - 100, "\n123456789\n1234567890\n");
    int c = h_connect(srv);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h_send_str(c, big);
    h_sleep(0.02);
    /* 60 bytes without '\n', sent one by one, then the newline. */
    for (int i = 0; i < 60; i++) {
        h_send_all(c, "b", 1);
        h_sleep(0.001);
    }
    h_send_str(c, "\n");
    shutdown(c, SHUT_WR);
    char got[256], want[256];
    snprintf(want, sizeof want, "%d 101 10 %d 11 %d 61\n", -EMSGSIZE, -EMSGSIZE, -EMSGSIZE);
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, want);
    close(c);
    stop();
}

#define LONG_LINE 20000

static int ref_long_handle(ss_request *req)
{
    const char *line;
    ssize_t n = ss_readline_ref(req, &line, 65536);
    bool ok = n == LONG_LINE + 1 && line[LONG_LINE] == '\n';
    for (ssize_t i = 0; ok && i < LONG_LINE; i++)
        ok = line[i] == (char)('A' + i % 26);
    return ss_writef(req, "%zd %s\n", n, ok ? "ok" : "bad") < 0 ? -EIO : 0;
}

/* A line longer than the read buffer (default 8192) within max is returned whole. */
TEST_S(readline_ref_longer_than_rbufsize)
{
    static const ss_handler h = { .handle = ref_long_handle };
    for (int small = 0; small < 2; small++) {
        start((ss_config){ .handler = &h, .rbufsize = small ? 16 : 0 });
        char *buf = malloc(LONG_LINE + 2);
        for (int i = 0; i < LONG_LINE; i++)
            buf[i] = (char)('A' + i % 26);
        buf[LONG_LINE] = '\n';
        buf[LONG_LINE + 1] = '\0';
        char want[64];
        snprintf(want, sizeof want, "%d ok\n", LONG_LINE + 1);
        client_check((const char *const[]){ buf, NULL }, false, want);
        free(buf);
        stop();
    }
}

/* A tiny read buffer still reads lines, exact counts and everything in order. */
static int small_buf_handle(ss_request *req)
{
    char line[200], rest[300];
    ssize_t a = ss_readline(req, line, sizeof line);
    ssize_t b = ss_read(req, rest, 50);
    ssize_t c = ss_readline(req, rest + 50, 200);
    bool ok = a == 101 && line[0] == 'x' && line[100] == '\n' && b == 50 && rest[0] == '0' &&
              rest[49] == '9' && c == 2 && rest[50] == '!' && rest[51] == '\n';
    return ss_writef(req, "%zd %zd %zd %s\n", a, b, c, ok ? "ok" : "bad") < 0 ? -EIO : 0;
}

TEST_S(small_rbufsize)
{
    static const ss_handler h = { .handle = small_buf_handle };
    start((ss_config){ .handler = &h, .rbufsize = 16 });
    char text[300];
    memset(text, 'x', 100);
    text[100] = '\n';
    for (int i = 0; i < 50; i++)
        text[101 + i] = (char)('0' + i % 10);
    snprintf(text + 151, sizeof text - 151, "!\n");
    client_check((const char *const[]){ text, NULL }, false, "101 50 2 ok\n");
    stop();
}

/* readline, then read, then a last line at EOF: one buffer, in order. */
static int mixed_handle(ss_request *req)
{
    char a[64], b[8] = "";
    const char *line;
    ssize_t n1 = ss_readline(req, a, sizeof a);
    ssize_t n2 = ss_read(req, b, 4);
    ssize_t n3 = ss_readline_ref(req, &line, 100);
    char e1[128];
    return ss_writef(req, "%zd:%s|%zd:%.4s|%zd:%.*s\n", n1, esc(a, (size_t)(n1 > 0 ? n1 : 0), e1, sizeof e1),
                     n2, b, n3, (int)(n3 > 0 ? n3 : 0), n3 > 0 ? line : "") < 0 ? -EIO : 0;
}

TEST_S(mixed_reads_share_one_buffer)
{
    static const ss_handler h = { .handle = mixed_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ "line1\nABCDEFGH rest", NULL }, true,
                 "6:line1\\n|4:ABCD|9:EFGH rest\n");
    stop();
}

/* ---- ss_read_all ------------------------------------------------------ */

static int read_all_handle(ss_request *req)
{
    char head[32];
    ssize_t h1 = ss_readline(req, head, sizeof head);
    char *all = NULL;
    ssize_t n = ss_read_all(req, &all, 10000);
    bool ok = n == 3000 && all != NULL;
    for (ssize_t i = 0; ok && i < n; i++)
        ok = all[i] == (char)('a' + i % 26);
    free(all);
    return ss_writef(req, "%zd %zd %s\n", h1, n, ok ? "ok" : "bad") < 0 ? -EIO : 0;
}

/* read_all returns the rest until EOF, buffered bytes included. */
TEST_S(read_all)
{
    static const ss_handler h = { .handle = read_all_handle };
    start((ss_config){ .handler = &h });
    char *text = malloc(3006);
    CHECK_NOT_NULL(text);
    snprintf(text, 3006, "head\n");
    for (int i = 0; i < 3000; i++)
        text[5 + i] = (char)('a' + i % 26);
    text[3005] = '\0';
    client_check((const char *const[]){ text, NULL }, true, "5 3000 ok\n");
    free(text);
    stop();
}

static size_t ra_max;

static int read_all_max_handle(ss_request *req)
{
    char *all = NULL;
    ssize_t n = ss_read_all(req, &all, ra_max);
    if (n >= 0)
        free(all);
    return ss_writef(req, "%zd\n", n) < 0 ? -EIO : 0;
}

/* -EMSGSIZE past max bytes; exactly max is fine. */
TEST_S(read_all_max)
{
    static const ss_handler h = { .handle = read_all_max_handle };
    char text[3001];
    memset(text, 'q', 3000);
    text[3000] = '\0';
    start((ss_config){ .handler = &h });
    char want[32];
    ra_max = 1000;
    snprintf(want, sizeof want, "%d\n", -EMSGSIZE);
    client_check((const char *const[]){ text, NULL }, true, want);
    ra_max = 3000;
    client_check((const char *const[]){ text, NULL }, true, "3000\n");
    stop();
}

/* ---- ss_write --------------------------------------------------------- */

#define BIG_WRITE (8u << 20)

static unsigned char *big_buf;

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 13 + 5) % 253);
}

static int big_handle(ss_request *req)
{
    X->big_ret = ss_write(req, big_buf, BIG_WRITE);
    return X->big_ret < 0 ? (int)X->big_ret : 0;
}

/* A big write never short-writes: every byte arrives, in order. */
TEST_S(write_big_buffer)
{
    static const ss_handler h = { .handle = big_handle };
    big_buf = malloc(BIG_WRITE);
    for (size_t i = 0; i < BIG_WRITE; i++)
        big_buf[i] = pat(i);
    for (int wb = 0; wb < 2; wb++) {
        start((ss_config){ .handler = &h, .wbufsize = wb ? 4096 : 0 });
        int c = h_connect(srv);
        unsigned char *got = malloc(BIG_WRITE + 1);
        ssize_t n = h_recv_exact(c, got, BIG_WRITE + 1, 20);
        CHECK_EQ_INT(n, BIG_WRITE);
        CHECK_EQ_MEM(got, big_buf, BIG_WRITE);
        free(got);
        close(c);
        stop();
        CHECK_EQ_INT(X->big_ret, BIG_WRITE);
    }
    free(big_buf);
}

static int many_handle(ss_request *req)
{
    char rec[16];
    for (int i = 0; i < 10000; i++) {
        snprintf(rec, sizeof rec, "%08d\n", i);
        if (ss_write(req, rec, 9) != 9)
            return -EIO;
    }
    return 0;
}

/* Many small writes arrive complete and in order. */
TEST_S(write_many_small)
{
    static const ss_handler h = { .handle = many_handle };
    start((ss_config){ .handler = &h });
    int c = h_connect(srv);
    char *got = malloc(90001);
    CHECK_EQ_INT(h_recv_exact(c, got, 90001, 20), 90000);
    for (int i = 0; i < 10000; i++) {
        char rec[16];
        snprintf(rec, sizeof rec, "%08d\n", i);
        CHECK_EQ_MEM(got + (size_t)i * 9, rec, 9);
    }
    free(got);
    close(c);
    stop();
}

static int wbuf_handle(ss_request *req)
{
    if (ss_write(req, "abc", 3) != 3)
        return -EIO;
    atomic_store(&X->wb_step, 1);
    if (!WAIT_FOR(atomic_load(&X->wb_step) == 2, 10))
        return -ETIMEDOUT;
    atomic_store(&X->wb_flush_ret, ss_flush(req));
    if (!WAIT_FOR(atomic_load(&X->wb_step) == 3, 10))
        return -ETIMEDOUT;
    /* Larger than the buffer: goes out without a flush (all but at most wbufsize). */
    char big[4000];
    memset(big, 'B', sizeof big);
    if (ss_write(req, big, sizeof big) != (ssize_t)sizeof big)
        return -EIO;
    atomic_store(&X->wb_step, 4);
    if (!WAIT_FOR(atomic_load(&X->wb_step) == 5, 10))
        return -ETIMEDOUT;
    /* Left in the buffer: finish sends it. */
    return ss_write(req, "tail", 4) == 4 ? 0 : -EIO;
}

/* wbufsize > 0 buffers writes until ss_flush() (or the end of the request). */
TEST_S(wbufsize_buffers_until_flush)
{
    static const ss_handler h = { .handle = wbuf_handle };
    start((ss_config){ .handler = &h, .wbufsize = 1024 });
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&X->wb_step) == 1, 10));
    char buf[8192];
    CHECK_EQ_INT(h_recv_timeout(c, buf, sizeof buf, 0.2), -ETIMEDOUT);
    atomic_store(&X->wb_step, 2);
    CHECK_EQ_INT(h_recv_exact(c, buf, 3, 10), 3);
    CHECK_EQ_MEM(buf, "abc", 3);
    CHECK(WAIT_FOR(atomic_load(&X->wb_flush_ret) != 99, 10));
    CHECK_EQ_INT(atomic_load(&X->wb_flush_ret), 0);
    atomic_store(&X->wb_step, 3);
    CHECK(WAIT_FOR(atomic_load(&X->wb_step) == 4, 10));
    CHECK_EQ_INT(h_recv_exact(c, buf, 4000 - 1024, 10), 4000 - 1024);
    atomic_store(&X->wb_step, 5);
    ssize_t rest = h_recv_exact(c, buf, sizeof buf, 10);
    CHECK_EQ_INT(rest, 1024 + 4);
    CHECK_EQ_MEM(buf + 1024, "tail", 4);
    close(c);
    stop();
}

static int flush_nothing_handle(ss_request *req)
{
    int f = ss_flush(req);
    return ss_writef(req, "%d\n", f) < 0 ? -EIO : 0;
}

static int buffered_echo_handle(ss_request *req)
{
    const char *line;
    ssize_t n;
    while ((n = ss_readline_ref(req, &line, 256)) > 0)
        if (ss_write(req, line, (size_t)n) < 0) /* buffered: no ss_flush */
            return -EIO;
    return (int)n;
}

/* With wbufsize, a request/response client still gets each reply: a read
 * that needs input from the connection sends what is buffered first
 * (before, the reply sat in the buffer while both sides waited). */
TEST_S(buffered_reply_flushed_before_next_read)
{
    static const ss_handler h = { .handle = buffered_echo_handle };
    start((ss_config){ .handler = &h, .wbufsize = 4096 });
    int c = h_connect(srv);
    for (int i = 0; i < 3; i++) {
        char got[64];
        h_send_str(c, "ping\n");
        CHECK_EQ_INT(h_recv_line(c, got, sizeof got, 5), 5);
        CHECK_EQ_STR(got, "ping\n");
    }
    /* Pipelined requests already in the buffer are answered together. */
    h_send_str(c, "a\nb\nc\n");
    char got[64];
    CHECK_EQ_INT(h_recv_exact(c, got, 6, 5), 6);
    CHECK_EQ_MEM(got, "a\nb\nc\n", 6);
    shutdown(c, SHUT_WR); /* end of input (a forked child holds a copy of c) */
    close(c);
    stop();
}

/* ss_flush with nothing buffered (wbufsize 0) succeeds. */
TEST_S(flush_unbuffered)
{
    static const ss_handler h = { .handle = flush_nothing_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ NULL }, false, "0\n");
    stop();
}

static int writef_handle(ss_request *req)
{
    ssize_t a = ss_writef(req, "%d-%s\n", 42, "x");
    char *big = malloc(10001);
    memset(big, 'w', 10000);
    big[10000] = '\0';
    ssize_t b = ss_writef(req, "%s\n", big);
    free(big);
    ssize_t c = ss_writef(req, "%zd %zd\n", a, b);
    return c < 0 ? (int)c : 0;
}

/* ss_writef formats any length and returns the byte count. */
TEST_S(writef)
{
    static const ss_handler h = { .handle = writef_handle };
    start((ss_config){ .handler = &h });
    int c = h_connect(srv);
    char line[16384];
    CHECK_GT(h_recv_line(c, line, sizeof line, 10), 0);
    CHECK_EQ_STR(line, "42-x\n");
    CHECK_EQ_INT(h_recv_line(c, line, sizeof line, 10), 10001);
    CHECK_GT(h_recv_line(c, line, sizeof line, 10), 0);
    CHECK_EQ_STR(line, "5 10001\n");
    close(c);
    stop();
}

/* ---- Timeouts --------------------------------------------------------- */

static int timeout_handle(ss_request *req)
{
    char buf[64];
    char *all = NULL;
    ssize_t r[4];
    double el[4];
    double t0 = h_now();
    r[0] = ss_readline(req, buf, sizeof buf);
    el[0] = h_now() - t0;
    t0 = h_now();
    r[1] = ss_read(req, buf, 10);
    el[1] = h_now() - t0;
    t0 = h_now();
    r[2] = ss_read1(req, buf, 10);
    el[2] = h_now() - t0;
    t0 = h_now();
    r[3] = ss_read_all(req, &all, 100);
    el[3] = h_now() - t0;
    if (r[3] >= 0)
        free(all);
    bool ok = true;
    for (int i = 0; i < 4; i++)
        ok = ok && el[i] >= 0.15 && el[i] < 3.0;
    return ss_writef(req, "%zd %zd %zd %zd %s\n", r[0], r[1], r[2], r[3], ok ? "ok" : "badtime") < 0
               ? -EIO
               : 0;
}

/* request_timeout bounds every read with -ETIMEDOUT. */
TEST_S(request_timeout_reads)
{
    static const ss_handler h = { .handle = timeout_handle };
    start((ss_config){ .handler = &h, .request_timeout = 0.2 });
    char want[128];
    snprintf(want, sizeof want, "%d %d %d %d ok\n", -ETIMEDOUT, -ETIMEDOUT, -ETIMEDOUT, -ETIMEDOUT);
    int c = h_connect(srv);
    char got[128];
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, want);
    close(c);
    stop();
}

static int tiny_timeout_handle(ss_request *req)
{
    char buf[64];
    ssize_t r = ss_readline(req, buf, sizeof buf);
    return ss_writef(req, "%zd\n", r) < 0 ? -EIO : 0;
}

/* A tiny request_timeout (0.1 ns) is a timeout, the same under every
 * strategy: it runs out at once (it used to mean "none" except under
 * threading). */
TEST_S(tiny_request_timeout_runs_out)
{
    static const ss_handler h = { .handle = tiny_timeout_handle };
    start((ss_config){ .handler = &h, .request_timeout = 1e-10 });
    char want[32], got[32];
    snprintf(want, sizeof want, "%d\n", -ETIMEDOUT);
    int c = h_connect(srv);
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, want);
    close(c);
    stop();
}

static int dribble_handle(ss_request *req)
{
    char buf[64];
    double t0 = h_now();
    atomic_store(&X->dribble_started, 1); /* the client's times count from here */
    /* Bytes trickle in, never a '\n', then stop: at the deadline (not a
     * timeout after the last byte) the call returns what came (a timeout
     * after some data returns the data). */
    ssize_t r0 = ss_readline(req, buf, sizeof buf);
    double el = h_now() - t0;
    ssize_t r1 = ss_readline(req, buf, sizeof buf); /* the line, 0.4 s in */
    return ss_writef(req, "%s %s %zd\n", r0 >= 5 && r0 <= 7 ? "partial" : "bad", el >= 0.75 && el < 3.0 ? "ok" : "badtime",
                     r0 + r1) < 0
               ? -EIO
               : 0;
}

/* A read call's timeout runs from its start: bytes trickling in do not
 * extend it (a dribbling slowloris is shed), and the next call gets the
 * whole timeout again. */
TEST_S(request_timeout_not_extended_by_dribble)
{
    static const ss_handler h = { .handle = dribble_handle };
    atomic_store(&X->dribble_started, 0);
    start((ss_config){ .handler = &h, .request_timeout = 0.8 });
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&X->dribble_started), 10));
    for (int i = 0; i < 7; i++) { /* a byte every 0.1 s, then nothing for 0.6 s */
        h_send_str(c, "x");
        h_sleep(0.1);
    }
    h_sleep(0.5);
    h_send_str(c, "line\n"); /* 0.4 s into the second call's 0.8 */
    char got[128];
    CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
    CHECK_EQ_STR(got, "partial ok 12\n");
    close(c);
    stop();
}

static int timeout_write_handle(ss_request *req)
{
    size_t n = 64u << 20;
    char *big = calloc(1, n);
    double t0 = h_now();
    X->tw_ret = ss_write(req, big, n);
    X->tw_elapsed = h_now() - t0;
    free(big);
    atomic_store(&X->tw_done, 1);
    return 0;
}

/* A write to a client that never reads fails with -ETIMEDOUT too. */
TEST_S(request_timeout_write)
{
    static const ss_handler h = { .handle = timeout_write_handle };
    ss_server *s = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                              .request_timeout = 0.3, .strategy = g_strategy });
    int c = h_connect(s);
    CHECK_EQ_INT(ss_handle_request(s), 0);
    /* (Returns once the request started elsewhere under other strategies.) */
    CHECK(WAIT_FOR(atomic_load(&X->tw_done), 20));
    CHECK_EQ_INT(X->tw_ret, -ETIMEDOUT);
    CHECK_LT_DBL(X->tw_elapsed, 5.0);
    close(c);
    ss_server_close(s);
}

/* ---- Socket options ---------------------------------------------------- */

static int nodelay_handle(ss_request *req)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(ss_request_fd(req), IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
        v = -2;
    return ss_writef(req, "%d\n", v != 0) < 0 ? -EIO : 0;
}

/* TCP_NODELAY is set on every TCP connection unless tcp_nagle asks to
 * keep Nagle's algorithm. */
TEST_S(tcp_nodelay_by_default)
{
    static const ss_handler h = { .handle = nodelay_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ NULL }, false, "1\n");
    stop();
    start((ss_config){ .handler = &h, .tcp_nagle = true });
    client_check((const char *const[]){ NULL }, false, "0\n");
    stop();
}

static int two_piece_handle(ss_request *req)
{
    const char *line;
    ssize_t n;
    while ((n = ss_readline_ref(req, &line, 256)) > 0) {
        if (ss_write(req, line, (size_t)n - 1) < 0 || ss_write(req, "\n", 1) < 0)
            return -EIO;
    }
    return (int)n;
}

/* Seconds for n round trips of a reply written in two pieces. */
static double two_piece_round_trips(bool nagle, int n)
{
    static const ss_handler h = { .handle = two_piece_handle };
    start((ss_config){ .handler = &h, .tcp_nagle = nagle });
    int c = h_connect(srv);
    double t0 = h_now();
    for (int i = 0; i < n; i++) {
        char got[64];
        h_send_str(c, "value\n");
        CHECK_GT(h_recv_line(c, got, sizeof got, 10), 0);
        CHECK_EQ_STR(got, "value\n");
    }
    double took = h_now() - t0;
    close(c);
    stop();
    return took;
}

/* A reply written in two pieces does not wait for the client's delayed
 * ACK, as it does with Nagle's algorithm (about 40 ms a round trip once
 * the connection leaves quick-ACK mode): side by side, by default many
 * times faster than with tcp_nagle. */
TEST(reply_in_pieces_not_delayed)
{
    double nagle = two_piece_round_trips(true, 40);
    double dflt = two_piece_round_trips(false, 40);
    h_note("40 round trips: %.3f s with Nagle, %.3f s by default", nagle, dflt);
    CHECK_LT_DBL(dflt * 4, nagle);
}

/* ---- SIGPIPE ----------------------------------------------------------- */

static int sigpipe_handle(ss_request *req)
{
    if (!WAIT_FOR(atomic_load(&X->sp_client_gone), 10))
        return -ETIMEDOUT;
    static char chunk[65536];
    X->sp_err = 0;
    for (int i = 0; i < 1000 && X->sp_err == 0; i++) {
        ssize_t w = ss_write(req, chunk, sizeof chunk);
        if (w < 0)
            X->sp_err = (int)w;
    }
    X->sp_flush_err = ss_flush(req);
    atomic_store(&X->sp_done, 1);
    return 0;
}

static void sigpipe_test(const char *listen, size_t wbufsize)
{
    static const ss_handler h = { .handle = sigpipe_handle };
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    ss_server *s = h_server_new(&(ss_config){ .listen = listen, .handler = &h, .wbufsize = wbufsize,
                                              .strategy = g_strategy });
    int c = h_connect(s);
    close(c);
    atomic_store(&X->sp_client_gone, 1);
    CHECK_EQ_INT(ss_handle_request(s), 0);
    CHECK(WAIT_FOR(atomic_load(&X->sp_done), 20));
    /* We are still alive, and the write failed. */
    CHECK_MSG(X->sp_err == -EPIPE || X->sp_err == -ECONNRESET, "ss_write to a closed client returned %d",
              X->sp_err);
    ss_server_close(s);
}

TEST_S(sigpipe_never_kills_tcp) { sigpipe_test("tcp://127.0.0.1:0", 0); }
TEST_S(sigpipe_never_kills_tcp_buffered) { sigpipe_test("tcp://127.0.0.1:0", 100000); }
TEST_S(sigpipe_never_kills_unix) { sigpipe_test(h_url("unix:", "s"), 0); }

/* ---- ss_sleep ---------------------------------------------------------- */

static int sleep_handle(ss_request *req)
{
    double t0 = h_now();
    int r = ss_sleep(req, 0.1);
    double el = h_now() - t0;
    return ss_writef(req, "%d %s\n", r, el >= 0.09 && el < 3 ? "ok" : "badtime") < 0 ? -EIO : 0;
}

TEST_S(sleep_sleeps)
{
    static const ss_handler h = { .handle = sleep_handle };
    start((ss_config){ .handler = &h });
    client_check((const char *const[]){ NULL }, false, "0 ok\n");
    stop();
}
