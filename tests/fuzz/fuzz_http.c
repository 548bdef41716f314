/* fuzz_http.c: fuzz target: the --metrics listener's HTTP/1.x (tools/sockserv/http.c) as metrics.c drives it: a head read from hostile bytes in chunks, parsed, answered, the rest drained; each step checked against a model written apart from it. */
#include "fuzz.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "metrics.h"

/* The one path answered, as metrics.c's. */
#define WANT "/metrics"
/* What a response's head holds at most (http.c's bound), and what this
 * target reads of one. */
#define RESPONSE_MAX 8192
/* Input left for http_linger below which it must reach the client's close
 * (far below its 64 KiB, and quick enough for its one second). */
#define LINGER_SURE 4096

/* -------------------------------------------------------------- the model */

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return true;
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < sizeof extra - 1; i++)
        if (c == (unsigned char)extra[i])
            return true;
    return false;
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool same_nocase(const char *s, size_t n, const char *lower)
{
    if (n != strlen(lower))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

/* Where the first empty line ends in p[0..n) (just past its '\n'; an empty
 * line is "\n" or "\r\n" after a line's "\n"), or 0: what a head is. */
static size_t model_head_end(const uint8_t *p, size_t n)
{
    for (size_t e = 2; e <= n; e++) {
        if (p[e - 1] != '\n')
            continue;
        if (p[e - 2] == '\n' || (e >= 3 && p[e - 2] == '\r' && p[e - 3] == '\n'))
            return e;
    }
    return 0;
}

/* What a head asks, by the grammar http.h documents (RFC 9112, bare LF
 * accepted), with `want` the one path: head_only only where the request
 * line's method decides the answer (200, 404, 405). */
static struct http_ask model_ask(const char *h, size_t n, const char *want)
{
    const struct http_ask bad = { .status = 400 };
    struct http_ask ask = bad;
    size_t pos = 0, line_no = 0, hosts = 0;
    int minor = 0;

    for (size_t i = 0; i < n; i++)
        if (h[i] == '\0')
            return bad;
    for (;;) {
        /* One line: up to '\n', without it and one '\r' before it. */
        size_t start = pos, stop = pos;
        while (stop < n && h[stop] != '\n')
            stop++;
        if (stop == n)
            return bad; /* no empty line ends the head */
        pos = stop + 1;
        if (stop > start && h[stop - 1] == '\r')
            stop--;
        for (size_t i = start; i < stop; i++)
            if (h[i] == '\r')
                return bad;
        const char *s = h + start;
        size_t len = stop - start;

        if (line_no++ == 0) { /* METHOD SP TARGET SP HTTP/d.d */
            size_t a = 0, b;
            while (a < len && s[a] != ' ')
                a++;
            if (a == len)
                return bad;
            b = a + 1;
            while (b < len && s[b] != ' ')
                b++;
            if (b == len)
                return bad;
            const char *method = s, *target = s + a + 1, *v = s + b + 1;
            size_t mlen = a, tlen = b - a - 1, vlen = len - b - 1;
            if (!is_token(method, mlen) || tlen == 0)
                return bad;
            for (size_t i = 0; i < tlen; i++)
                if ((unsigned char)target[i] < 0x21 || (unsigned char)target[i] > 0x7E)
                    return bad;
            if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
                v[7] < '0' || v[7] > '9')
                return bad;
            if (v[5] != '1') {
                ask.status = 505;
                return ask;
            }
            minor = v[7] - '0';
            /* The path: origin form, or what follows the authority of an
             * absolute http:// URI ("/" without one); no query, no fragment. */
            const char *path;
            size_t plen;
            if (target[0] == '/') {
                path = target;
                plen = tlen;
            } else if (tlen > 7 && same_nocase(target, 7, "http://")) {
                size_t k = 7;
                while (k < tlen && target[k] != '/')
                    k++;
                path = k < tlen ? target + k : "/";
                plen = k < tlen ? tlen - k : 1;
            } else {
                return bad;
            }
            for (size_t i = 0; i < plen; i++)
                if (path[i] == '?' || path[i] == '#') {
                    plen = i;
                    break;
                }
            bool get = mlen == 3 && memcmp(method, "GET", 3) == 0;
            ask.head_only = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
            if (plen != strlen(want) || memcmp(path, want, plen) != 0)
                ask.status = 404;
            else
                ask.status = get || ask.head_only ? 200 : 405;
            continue;
        }
        if (len == 0)
            break;
        size_t colon = 0;
        while (colon < len && s[colon] != ':')
            colon++;
        if (colon == len || !is_token(s, colon))
            return bad;
        for (size_t i = colon + 1; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            if ((c < 0x20 && c != '\t') || c == 0x7F)
                return bad;
        }
        if (same_nocase(s, colon, "host"))
            hosts++;
    }
    if (hosts > 1 || (minor > 0 && hosts == 0))
        return bad;
    return ask;
}

/* ------------------------------------------------------------ the checks */

/* http_parse_head on a copy of head[0..n) of exactly that size (a read past
 * it is ASan's), twice, against the model. */
static struct http_ask check_parse(const char *head, size_t n)
{
    char *copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy, "out of memory");
    memcpy(copy, head, n);
    struct http_ask ask = http_parse_head(copy, n, WANT);
    struct http_ask again = http_parse_head(copy, n, WANT);
    FUZZ_CHECK(ask.status == again.status && ask.head_only == again.head_only,
               "a head of %zu bytes parsed as %d, then %d", n, ask.status, again.status);
    FUZZ_CHECK(memcmp(copy, head, n) == 0, "http_parse_head changed its head");
    free(copy);

    FUZZ_CHECK(ask.status == 200 || ask.status == 400 || ask.status == 404 || ask.status == 405 ||
                   ask.status == 505, "a head of %zu bytes parsed as status %d", n, ask.status);
    struct http_ask want = model_ask(head, n, WANT);
    FUZZ_CHECK(ask.status == want.status && ask.head_only == want.head_only,
               "a head of %zu bytes parsed as %d%s, the model says %d%s", n, ask.status,
               ask.head_only ? " (HEAD)" : "", want.status, want.head_only ? " (HEAD)" : "");
    if (ask.status == 200) { /* the promise itself, in plain words */
        bool get = n > 4 && memcmp(head, "GET ", 4) == 0, hd = n > 5 && memcmp(head, "HEAD ", 5) == 0;
        const char *target = head + (get ? 4 : 5);
        FUZZ_CHECK(get || hd, "200 for a method other than GET and HEAD");
        FUZZ_CHECK(ask.head_only == hd, "HEAD and head_only disagree");
        FUZZ_CHECK(strncmp(target, "/metrics ", 9) == 0 || strncmp(target, "/metrics?", 9) == 0 ||
                       strncmp(target, "/metrics#", 9) == 0 || strncasecmp(target, "http://", 7) == 0,
                   "200 for another target");
        const char *nl = memchr(head, '\n', n);
        FUZZ_CHECK(nl, "200 for a head without a line");
        size_t end = (size_t)(nl - head);
        if (end > 0 && head[end - 1] == '\r')
            end--;
        /* HTTP/1.x: a higher minor version is served as 1.1 (RFC 9112, 2.3). */
        FUZZ_CHECK(end >= 9 && memcmp(head + end - 9, " HTTP/1.", 8) == 0 && head[end - 1] >= '0' &&
                       head[end - 1] <= '9', "200 for another version");
    }
    return ask;
}

/* The answer the client received (all of it: the server shut its side):
 * the status, a Content-Length that is the body's, the body unless HEAD. */
static void check_response(int peer, int status, bool head_only, const char *body, size_t blen)
{
    static char got[RESPONSE_MAX + 65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof got && (r = recv(peer, got + n, sizeof got - n, 0)) > 0)
        n += (size_t)r;
    FUZZ_CHECK(n < sizeof got && recv(peer, got, 1, 0) == 0, "the answer does not end (%zu bytes read)", n);

    char start[16];
    int slen = snprintf(start, sizeof start, "HTTP/1.1 %d ", status);
    FUZZ_CHECK(n > (size_t)slen && memcmp(got, start, (size_t)slen) == 0, "the answer does not start with '%s'",
               start);
    const char *end = NULL;
    for (size_t i = 0; i + 4 <= n && !end; i++)
        if (memcmp(got + i, "\r\n\r\n", 4) == 0)
            end = got + i + 4;
    FUZZ_CHECK(end, "the answer's head does not end");
    size_t hlen = (size_t)(end - got);
    FUZZ_CHECK(hlen <= RESPONSE_MAX, "an answer head of %zu bytes", hlen);

    /* Its header lines, each CRLF-ended: one Content-Length, Connection:
     * close, Allow for 405 only. */
    unsigned lengths = 0, closes = 0, allows = 0;
    unsigned long long clen = 0;
    const char *line = memchr(got, '\n', hlen);
    FUZZ_CHECK(line, "no status line");
    line++;
    while (line < end - 2) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        FUZZ_CHECK(nl && nl > line && nl[-1] == '\r', "an answer's header line without CRLF");
        size_t len = (size_t)(nl - line) - 1;
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] < 0x7F,
                       "an answer's header with byte 0x%02x", (unsigned char)line[i]);
        if (len > 16 && strncasecmp(line, "Content-Length: ", 16) == 0) {
            lengths++;
            clen = 0;
            for (size_t i = 16; i < len; i++) {
                FUZZ_CHECK(line[i] >= '0' && line[i] <= '9' && clen < 1000000000ULL, "a bad Content-Length");
                clen = clen * 10 + (unsigned)(line[i] - '0');
            }
        }
        closes += len == 17 && memcmp(line, "Connection: close", 17) == 0;
        allows += len == 16 && memcmp(line, "Allow: GET, HEAD", 16) == 0;
        line = nl + 1;
    }
    FUZZ_CHECK(lengths == 1 && clen == blen, "%u Content-Length headers, %llu for a body of %zu bytes", lengths,
               clen, blen);
    FUZZ_CHECK(closes == 1, "no Connection: close");
    FUZZ_CHECK(allows == (status == 405), "Allow: GET, HEAD %s for %d", allows ? "sent" : "missing", status);
    size_t sent = n - hlen;
    if (head_only)
        FUZZ_CHECK(sent == 0, "a HEAD answer with %zu bytes of body", sent);
    else
        FUZZ_CHECK(sent == blen && memcmp(end, body, blen) == 0, "a body of %zu bytes sent as %zu", blen, sent);
}

/* ------------------------------------------------------- the wait, the server */

/* http.c waits with ss_wait_fd on the request's own socket: served here by
 * the feed (feed.c) as a wait of the connection. That wait does not clear
 * the stream's "drained" mark (src/conn/stream.c), so the ss_read1 after it
 * waits again through the connection, with the socket readable: a poll
 * (the thread strategies') returns at once then, and so does this one;
 * the feed is asked only when no input is there. */
static ss__strategy http_strategy;
static int (*feed_wait_conn)(ss_request *req, short events, int64_t deadline);
static int (*other_wait_fd)(ss_request *req, int fd, short events, int64_t deadline);

static int http_wait_conn(ss_request *req, short events, int64_t deadline)
{
    struct pollfd p = {.fd = ss_request_fd(req), .events = events};
    if (events == POLLIN && poll(&p, 1, 0) > 0)
        return 0;
    return feed_wait_conn(req, events, deadline);
}

static int http_wait_fd(ss_request *req, int fd, short events, int64_t deadline)
{
    if (fd == ss_request_fd(req))
        return http_wait_conn(req, events, deadline);
    return other_wait_fd(req, fd, events, deadline);
}

static ss_server *http_server(void)
{
    static ss_server *srv;
    if (!srv) {
        char url[64];
        snprintf(url, sizeof url, "unix:@sockserv-fuzz-http-%d", (int)getpid());
        srv = fuzz_feed_server((ss_config){.listen = url});
        http_strategy = *srv->st;
        feed_wait_conn = http_strategy.wait_conn;
        other_wait_fd = http_strategy.wait_fd;
        http_strategy.wait_conn = http_wait_conn;
        http_strategy.wait_fd = http_wait_fd;
        srv->st = &http_strategy;
    }
    return srv;
}

/* ------------------------------------------------------------- the target */

/* The bodies: fixed text for errors (as metrics.c's), the counters' stand-in
 * for 200: a length from the input. */
static const char error_body[] = "Bad Request\n";

/* Input: byte 0 = n, n control bytes (the head's size limit, the body's
 * length or 0xFF for a deadline already passed, the read buffer's size, then
 * at each wait a fault byte and a chunk size; see fuzz.h), then what the
 * client sends. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char body[255 * 7];
    fuzz_ctl ctl;
    const uint8_t *payload;
    size_t len;
    fuzz_feed f;

    fuzz_split(data, size, &ctl, &payload, &len);
    if (len > 0)
        check_parse((const char *)payload, len); /* any bytes, not only a head */

    size_t limit = fuzz_ctl_size(&ctl, METRICS_HEAD_MAX);
    unsigned b = fuzz_ctl_byte(&ctl);
    bool late = b == 0xFF;
    size_t blen = late ? 0 : (size_t)b * 7;
    for (size_t i = 0; i < blen; i++)
        body[i] = (char)('a' + i % 26);
    char *buf = malloc(limit); /* exactly: a write past it is ASan's */
    FUZZ_CHECK(buf, "out of memory");
    fuzz_feed_start_on(&f, http_server(), &ss__conn_stream, NULL, payload, len, &ctl);

    double deadline = late ? monotonic_secs() - 1 : monotonic_secs() + 3600;
    ssize_t end = http_read_head(f.req, buf, limit, deadline);

    /* The model's answer: the first empty line's end within the limit, else
     * too big when the client sent that much, else its close. */
    size_t e = model_head_end(payload, len);
    ssize_t want = e > 0 && e <= limit ? (ssize_t)e : len >= limit ? -EMSGSIZE : len == 0 ? 0 : -EPROTO;
    if (late)
        want = -ETIMEDOUT;
    FUZZ_CHECK(end == want || (f.faults > 0 && end == f.fault), "http_read_head: %zd, the model says %zd", end,
               want);
    if (end > 0)
        FUZZ_CHECK(memcmp(buf, payload, (size_t)end) == 0, "a head that is not the client's bytes");

    /* What metrics.c does with it. */
    int status = 0;
    bool head_only = false;
    if (end == -EMSGSIZE || end == -EPROTO) {
        status = end == -EMSGSIZE ? 431 : 400;
    } else if (end > 0) {
        struct http_ask ask = check_parse(buf, (size_t)end);
        status = ask.status;
        head_only = ask.head_only;
    }
    const char *b_text = status == 200 ? body : error_body;
    size_t b_len = status == 200 ? blen : sizeof error_body - 1;
    if (status != 0) {
        int rc = http_respond(f.req, status, head_only, b_text, b_len,
                              status == 200 ? "text/plain; version=0.0.4" : "text/plain; charset=utf-8");
        FUZZ_CHECK(rc == 0, "http_respond(%d): %d", status, rc);
        http_linger(f.req); /* a head read means no fault so far: any is the linger's */
        if (f.faults == 0 && len - (size_t)(end > 0 ? end : 0) < LINGER_SURE)
            FUZZ_CHECK(f.eof_sent && f.sent == len, "http_linger stopped before the client's close (%zu of %zu sent)",
                       f.sent, len);
        check_response(f.peer, status, head_only, b_text, b_len);
    } else {
        char c;
        FUZZ_CHECK(recv(f.peer, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "an answer to no request");
    }
    free(buf);
    fuzz_feed_end(&f);
    return 0;
}
