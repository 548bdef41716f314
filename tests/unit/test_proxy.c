/* test_proxy.c: the PROXY protocol (v1 and v2) under every strategy, trusted proxies, refusals, and address ranges (ss_cidr). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

static ss_strategy strategy;
static ss_server *srv;
static h_serve serve;

static void set_strategy(ss_strategy s)
{
    strategy = s;
}
#define TEST_S(name) TEST_EACH_STRATEGY(name, set_strategy)

/* "CLIENT PROXY LINE": who the handler sees, the proxy, the first line. */
static int who_handle(ss_request *req)
{
    char line[256], proxy[128] = "-";
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n < 0)
        return (int)n;
    socklen_t len;
    const struct sockaddr *p = ss_request_proxy(req, &len);
    if (p) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (p->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)p)->sin_addr, host, sizeof host);
        else if (p->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)p)->sin6_addr, host, sizeof host);
        else if (p->sa_family == AF_UNIX)
            snprintf(host, sizeof host, "unix");
        snprintf(proxy, sizeof proxy, "%s", host);
    }
    return ss_writef(req, "%s %s %s", ss_request_peer_str(req), proxy, line) < 0 ? -EIO : 0;
}
static const ss_handler who = {.handle = who_handle};

static void start(ss_config cfg)
{
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    cfg.handler = cfg.handler ? cfg.handler : &who;
    cfg.strategy = strategy;
    cfg.proxy_protocol = true;
    cfg.workers = cfg.workers ? cfg.workers : 2;
    srv = h_server_new(&cfg);
    h_serve_start(&serve, srv, 0.01);
}

static void stop(void)
{
    CHECK_EQ_INT(h_serve_stop(&serve), 0);
    ss_server_close(srv);
    srv = NULL;
}

/* Send the bytes (in pieces of `chunk`, pausing between them, when
 * chunk > 0) and read the answer line. */
static void ask(const void *bytes, size_t n, size_t chunk, char *answer, size_t size)
{
    int fd = h_connect(srv);
    const char *p = bytes;
    for (size_t off = 0; off < n;) {
        size_t k = chunk && n - off > chunk ? chunk : n - off;
        h_send_all(fd, p + off, k);
        off += k;
        if (chunk)
            h_sleep(0.002);
    }
    ssize_t got = h_recv_line(fd, answer, size, 10);
    CHECK_GE(got, 0);
    close(fd);
}

static void expect(const void *bytes, size_t n, size_t chunk, const char *want)
{
    char answer[512];
    ask(bytes, n, chunk, answer, sizeof answer);
    CHECK_EQ_STR(answer, want);
}

/* A v2 header: command (0 LOCAL, 1 PROXY), family byte, the addresses,
 * then `tlv` bytes of TLVs (type 0xEE, its length, zeros). */
static size_t v2(unsigned char *out, unsigned cmd, unsigned fam, const void *addrs, size_t alen, size_t tlv)
{
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    size_t rest = alen + (tlv ? 3 + tlv : 0);
    memcpy(out, sig, 12);
    out[12] = (unsigned char)(0x20 | cmd);
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(rest >> 8);
    out[15] = (unsigned char)rest;
    if (alen)
        memcpy(out + 16, addrs, alen);
    if (tlv) {
        unsigned char *t = out + 16 + alen;
        t[0] = 0xEE;
        t[1] = (unsigned char)(tlv >> 8);
        t[2] = (unsigned char)tlv;
        memset(t + 3, 0, tlv);
    }
    return 16 + rest;
}

/* The connection's first bytes after the header at msg[n]: n + their length. */
static size_t then(unsigned char *msg, size_t n, const char *text)
{
    size_t len = strlen(text);
    memcpy(msg + n, text, len + 1);
    return n + len;
}

TEST_S(v1_client_address)
{
    start((ss_config){0});
    const char *msg = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n";
    expect(msg, strlen(msg), 0, "192.0.2.1:5555 127.0.0.1 hello\n");
    const char *six = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\nsix\n";
    expect(six, strlen(six), 0, "[2001:db8::1]:1 127.0.0.1 six\n");
    /* Byte by byte: the header is waited for, nothing past it is taken. */
    expect(msg, strlen(msg), 1, "192.0.2.1:5555 127.0.0.1 hello\n");
    stop();
}

TEST_S(v1_unknown_keeps_the_connection)
{
    start((ss_config){0});
    char answer[256];
    const char *msg = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx\n";
    ask(msg, strlen(msg), 0, answer, sizeof answer);
    CHECK_MSG(strncmp(answer, "127.0.0.1:", 10) == 0 && strstr(answer, " 127.0.0.1 x\n"), "answer %s", answer);
    stop();
}

TEST_S(v2_addresses_tlvs_and_local)
{
    start((ss_config){0});
    unsigned char msg[1024];
    unsigned char in4[12] = {192, 0, 2, 7, 10, 0, 0, 1, 0x1F, 0x90, 0x00, 0x50}; /* :8080 -> :80 */
    size_t n = v2(msg, 1, 0x11, in4, sizeof in4, 0);
    expect(msg, then(msg, n, "four\n"), 0, "192.0.2.7:8080 127.0.0.1 four\n");
    /* TLVs longer than what is read at once: skipped, the data intact. */
    n = v2(msg, 1, 0x11, in4, sizeof in4, 600);
    size_t all = then(msg, n, "tlv\n");
    expect(msg, all, 0, "192.0.2.7:8080 127.0.0.1 tlv\n");
    expect(msg, all, 97, "192.0.2.7:8080 127.0.0.1 tlv\n");
    unsigned char in6[36] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9, [16] = 0x20, [17] = 0x01, [32] = 0, [33] = 1, [35] = 2};
    n = v2(msg, 1, 0x21, in6, sizeof in6, 5);
    expect(msg, then(msg, n, "v6\n"), 0, "[2001:db8::9]:1 127.0.0.1 v6\n");
    /* LOCAL: a health check of the proxy; the real endpoints stand. */
    n = v2(msg, 0, 0x00, NULL, 0, 0);
    char answer[256];
    ask(msg, then(msg, n, "hc\n"), 0, answer, sizeof answer);
    CHECK_MSG(strncmp(answer, "127.0.0.1:", 10) == 0 && strstr(answer, " 127.0.0.1 hc\n"), "answer %s", answer);
    stop();
}

/* Closed without an answer, the handler never run. */
static void refused(const void *bytes, size_t n)
{
    int fd = h_connect(srv);
    if (n)
        h_send_all(fd, bytes, n);
    char buf[64];
    CHECK_EQ_INT(h_recv_timeout(fd, buf, sizeof buf, 10), 0);
    close(fd);
}

static atomic_int handled;
static int count_handle(ss_request *req)
{
    (void)req;
    atomic_fetch_add(&handled, 1);
    return 0;
}

static void quiet_error(ss_server *s, ss_request *req, int err)
{
    (void)s, (void)req, (void)err;
}

TEST_S(malformed_or_missing_header_refused)
{
    static const ss_handler h = {.handle = count_handle};
    atomic_store(&handled, 0);
    start((ss_config){.handler = &h, .request_timeout = 0.3, .handle_error = quiet_error});
    const char *bad[] = {"GET / HTTP/1.0\r\n\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\n", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
                         "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                         "PROXY TCP4 ::1 ::1 1 2\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                         "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i], strlen(bad[i]));
    char longline[200];
    memset(longline, 'A', sizeof longline);
    for (size_t i = 0; i < 6; i++) /* "PROXY " then no CRLF */
        longline[i] = "PROXY "[i];
    refused(longline, sizeof longline); /* no CRLF within 107 bytes */
    unsigned char msg[64];
    size_t n = v2(msg, 1, 0x11, "short", 5, 0); /* too short for IPv4 addresses */
    refused(msg, n);
    msg[12] = 0x31; /* version 3 */
    refused(msg, n);
    refused(NULL, 0); /* nothing sent: refused once request_timeout ran out */
    size_t count = sizeof bad / sizeof bad[0] + 4;
    CHECK(WAIT_FOR(h_stats(srv).refused == count, 10));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.errors, 0);
    CHECK_EQ_INT(st.completed, 0);
    CHECK_EQ_INT(atomic_load(&handled), 0);
    stop();
}

/* verify_request sees the client the proxy names. */
static bool not_66(ss_server *s, ss_request *req)
{
    (void)s;
    socklen_t len;
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss_request_peer(req, &len);
    return !(in->sin_family == AF_INET && in->sin_addr.s_addr == htonl(0xC0000242)); /* 192.0.2.66 */
}

TEST_S(verify_request_sees_the_client)
{
    start((ss_config){.verify_request = not_66});
    const char *ok = "PROXY TCP4 192.0.2.65 127.0.0.1 1000 1\r\nok\n";
    expect(ok, strlen(ok), 0, "192.0.2.65:1000 127.0.0.1 ok\n");
    const char *no = "PROXY TCP4 192.0.2.66 127.0.0.1 1000 1\r\nno\n";
    refused(no, strlen(no));
    CHECK(WAIT_FOR(h_stats(srv).refused == 1, 10));
    CHECK(WAIT_FOR(h_stats(srv).completed == 1, 10)); /* counted once its connection closed */
    stop();
}

TEST_S(untrusted_proxy_refused)
{
    start((ss_config){.proxy_trusted = "10.0.0.0/8,::1", .handle_error = quiet_error});
    const char *msg = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n";
    refused(msg, strlen(msg));
    CHECK(WAIT_FOR(h_stats(srv).refused == 1, 10));
    stop();
}

/* Why a header was refused reaches handle_error, where the handler runs
 * (in memory a forked request shares; published by the flag). */
typedef struct {
    atomic_int ready;
    char text[256];
} kept_reason;
static kept_reason *reason;

static void keep_reason(ss_server *s, ss_request *req, int err)
{
    (void)s;
    snprintf(reason->text, sizeof reason->text, "%d %s", err,
             ss_request_error(req) ? ss_request_error(req) : "-");
    atomic_store_explicit(&reason->ready, 1, memory_order_release);
}

TEST_S(refusal_reason_reported)
{
    reason = h_shared_alloc(sizeof *reason);
    start((ss_config){.proxy_trusted = "10.0.0.0/8, [::1]/128", .handle_error = keep_reason});
    const char *msg = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n";
    refused(msg, strlen(msg));
    CHECK(WAIT_FOR(h_stats(srv).refused == 1, 10));
    CHECK(WAIT_FOR(atomic_load_explicit(&reason->ready, memory_order_acquire), 10));
    char want[64];
    snprintf(want, sizeof want, "%d PROXY protocol: 127.0.0.1:", -EACCES);
    CHECK_MSG(strncmp(reason->text, want, strlen(want)) == 0 && strstr(reason->text, "is not a trusted proxy"),
              "%s", reason->text);
    stop();
    h_shared_free(reason, sizeof *reason);
}

TEST(unix_stream_proxy)
{
    strategy = SS_EVENT;
    start((ss_config){.listen = h_url("unix:", "p.sock")});
    const char *msg = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n";
    expect(msg, strlen(msg), 0, "192.0.2.1:5555 unix hello\n");
    stop();
}

TEST(proxy_config_errors)
{
    errno = 0;
    CHECK(!ss_server_new(&(ss_config){.listen = "udp://127.0.0.1:0", .handler = &who, .proxy_protocol = true}));
    CHECK_ERRNO(EINVAL);
    CHECK(strstr(ss_last_error(), "proxy_protocol") != NULL);
    CHECK(!ss_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &who, .proxy_trusted = "::1"}));
    CHECK_ERRNO(EINVAL);
    CHECK(strstr(ss_last_error(), "proxy_trusted") != NULL);
    CHECK(!ss_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &who, .proxy_protocol = true,
                                      .proxy_trusted = "10.0.0.0/33"}));
    CHECK_ERRNO(EINVAL);
    CHECK_MSG(strstr(ss_last_error(), "prefix length") != NULL, "%s", ss_last_error());
}

/* ---- Address ranges ---------------------------------------------------- */

static bool in_list(const ss_cidr *c, const char *ip)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        CHECK_EQ_INT(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        CHECK_EQ_INT(inet_pton(AF_INET, ip, &a->sin_addr), 1);
        len = sizeof *a;
    }
    return ss_cidr_match(c, (struct sockaddr *)&ss, len);
}

TEST(cidr_ranges)
{
    ss_cidr *c = ss_cidr_new();
    CHECK_NOT_NULL(c);
    CHECK(!in_list(c, "127.0.0.1"));
    CHECK_OK(ss_cidr_add(c, "10.1.2.3/8,192.0.2.128/25", NULL));
    CHECK_OK(ss_cidr_add(c, "[2001:db8::]/33", NULL));
    CHECK_OK(ss_cidr_add(c, "203.0.113.9", NULL));
    CHECK(in_list(c, "10.255.0.1"));
    CHECK(!in_list(c, "11.0.0.0"));
    CHECK(in_list(c, "192.0.2.200") && !in_list(c, "192.0.2.127"));
    CHECK(in_list(c, "2001:db8:7fff::1") && !in_list(c, "2001:db8:8000::1"));
    CHECK(in_list(c, "203.0.113.9") && !in_list(c, "203.0.113.8"));
    CHECK(in_list(c, "::ffff:10.0.0.1")); /* a dual-stack socket's IPv4 client */
    const char *why = NULL;
    const char *bad[] = {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/ 8", "1.2.3",
                         "10.0.0.0/8,", "host.example", "1.2.3.4/0x8", "::1/0128"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        CHECK_MSG(ss_cidr_add(c, bad[i], &why) == -EINVAL && why, "'%s' accepted", bad[i]);
    }
    ss_cidr_free(c);
    c = ss_cidr_new();
    CHECK_OK(ss_cidr_add(c, "0.0.0.0/0", NULL));
    CHECK(in_list(c, "1.2.3.4") && !in_list(c, "::1"));
    CHECK_OK(ss_cidr_add(c, "::/0", NULL));
    CHECK(in_list(c, "::1"));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    CHECK(!ss_cidr_match(c, (struct sockaddr *)&un, sizeof un));
    ss_cidr_free(c);
    ss_cidr_free(NULL);
}

/* The header's bytes are the connection's: counted in bytes_in with the
 * rest, v2 TLVs skipped unread too. */
TEST_S(header_bytes_counted)
{
    ss_stats final;
    memset(&final, 0xff, sizeof final); /* written by the close */
    start((ss_config){.final_stats = &final});
    const char *msg = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n";
    const char *answer = "192.0.2.1:5555 127.0.0.1 hello\n";
    expect(msg, strlen(msg), 0, answer);
    unsigned char v2msg[1024];
    unsigned char in4[12] = {192, 0, 2, 7, 10, 0, 0, 1, 0x1F, 0x90, 0x00, 0x50};
    size_t all = then(v2msg, v2(v2msg, 1, 0x11, in4, sizeof in4, 600), "tlv\n");
    const char *answer2 = "192.0.2.7:8080 127.0.0.1 tlv\n";
    expect(v2msg, all, 0, answer2);
    stop();
    CHECK_EQ_INT(final.accepted, 2);
    CHECK_EQ_INT(final.bytes_in, ss_stats_detailed() ? strlen(msg) + all : 0);
    CHECK_EQ_INT(final.bytes_out, ss_stats_detailed() ? strlen(answer) + strlen(answer2) : 0);
}

/* A refusal is logged as proxy_refused (by handle_error's default). */
static _Atomic int *refusals;
/* cppcheck-suppress constParameter ; the signature is cfg.log's */
static void count_refusal(ss_server *s, ss_log_level level, ss_request *req, const char *event, const char *msg)
{
    (void)s;
    if (level == SS_LOG_ERROR && req && strcmp(event, "proxy_refused") == 0 && strstr(msg, "is not a trusted proxy"))
        atomic_fetch_add(refusals, 1);
}

TEST_S(refusal_logged)
{
    refusals = h_shared_alloc(sizeof *refusals);
    start((ss_config){.proxy_trusted = "10.0.0.0/8", .log = count_refusal});
    int fd = h_connect(srv);
    h_send_str(fd, "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello\n");
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    stop();
    CHECK_EQ_INT(atomic_load(refusals), 1);
}
