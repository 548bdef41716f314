/* http.c: the HTTP/1.x of a small server with one resource (the metrics listener): a request's head read within its limits and parsed (RFC 9112's grammar, strictly but for bare LF line ends), an answer written, the client's leftovers drained. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "clock.h"
#include "http.h"

/* A response's status line and headers. */
#define RESPONSE_HEAD_MAX 512
/* http_linger's bounds: how long, how many bytes. */
#define LINGER_SECS 1.0
#define LINGER_MAX ((size_t)64 << 10)

/* RFC 9110's tchar: the characters of a method or a header name. */
static bool tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool all_tchar(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!tchar((unsigned char)s[i]))
            return false;
    return n > 0;
}

/* A header value: visible ASCII, blanks, and obs-text (bytes >= 0x80). */
static bool field_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\t' && (c < 0x20 || c == 0x7F))
            return false;
    }
    return true;
}

/* The next line of the head at *p (before `end`): its text, without its
 * "\n" or "\r\n", into *line and *len; *p moves past it. False for a
 * line with another CR in it. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return false;
    *line = *p;
    *len = (size_t)(nl - *p);
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl + 1;
    return memchr(*line, '\r', *len) == NULL;
}

/* The path of a request target: origin form ("/metrics?x"), or absolute
 * form ("http://host:9100/metrics"). NULL for another form ("*", an
 * authority). The query is not part of it: *len stops before '?'. */
static const char *target_path(const char *target, size_t n, size_t *len)
{
    const char *path = NULL;

    if (n > 0 && target[0] == '/') {
        path = target;
    } else if (n > 7 && strncasecmp(target, "http://", 7) == 0) {
        const char *slash = memchr(target + 7, '/', n - 7);
        path = slash ? slash : "/";
        n = slash ? n - (size_t)(slash - target) : 1;
    } else {
        return NULL;
    }
    *len = 0;
    while (*len < n && path[*len] != '?' && path[*len] != '#')
        (*len)++;
    return path;
}

/* The request line: METHOD SP TARGET SP HTTP/1.x, asking for `want`. */
static struct http_ask parse_request_line(const char *line, size_t n, const char *want, int *minor)
{
    struct http_ask ask = { .status = 400 };
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1)
        return ask;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', n - (size_t)(target - line));
    if (!sp2)
        return ask;
    const char *version = sp2 + 1;
    size_t mlen = (size_t)(sp1 - line), tlen = (size_t)(sp2 - target);
    size_t vlen = n - (size_t)(version - line);

    if (!all_tchar(line, mlen) || tlen == 0)
        return ask;
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= ' ' || (unsigned char)target[i] >= 0x7F)
            return ask;
    if (vlen != 8 || strncmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char)version[5]) ||
        version[6] != '.' || !isdigit((unsigned char)version[7]))
        return ask;
    if (version[5] != '1') {
        ask.status = 505;
        return ask;
    }
    *minor = version[7] - '0';
    size_t plen;
    const char *path = target_path(target, tlen, &plen);
    if (!path)
        return ask;
    ask.head_only = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
    if (plen != strlen(want) || memcmp(path, want, plen) != 0)
        ask.status = 404;
    else if (!ask.head_only && !(mlen == 3 && memcmp(line, "GET", 3) == 0))
        ask.status = 405;
    else
        ask.status = 200;
    return ask;
}

struct http_ask http_parse_head(const char *head, size_t end, const char *want)
{
    const char *p = head, *stop = head + end, *line;
    size_t len;
    int minor = 0;
    unsigned hosts = 0;
    struct http_ask bad = { .status = 400 };

    if (memchr(head, '\0', end) || !next_line(&p, stop, &line, &len))
        return bad;
    struct http_ask ask = parse_request_line(line, len, want, &minor);
    if (ask.status == 400 || ask.status == 505)
        return ask;
    for (;;) {
        if (!next_line(&p, stop, &line, &len))
            return bad;
        if (len == 0)
            break;
        const char *colon = memchr(line, ':', len);
        if (!colon || !all_tchar(line, (size_t)(colon - line)) ||
            !field_value(colon + 1, len - (size_t)(colon + 1 - line)))
            return bad; /* a line folded onto the previous one starts with a blank: no tchar */
        if (colon - line == 4 && strncasecmp(line, "host", 4) == 0)
            hosts++;
    }
    /* HTTP/1.1 names its host once (RFC 9112, 3.2); HTTP/1.0 at most once. */
    if (hosts > 1 || (minor >= 1 && hosts == 0))
        return bad;
    return ask;
}

/* The end of the head in buf[0..len) (just past its empty line), looking
 * from `from` on, or 0 when it has not come yet. */
static size_t head_end(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

ssize_t http_read_head(ss_request *req, char *buf, size_t size, double deadline)
{
    size_t len = 0;
    int fd = ss_request_fd(req);

    for (;;) {
        if (len == size)
            return -EMSGSIZE;
        if (!ss_input_buffered(req)) {
            double left = deadline - monotonic_secs();
            if (left <= 0)
                return -ETIMEDOUT;
            int rc = ss_wait_fd(req, fd, POLLIN, left);
            if (rc < 0)
                return rc;
        }
        ssize_t n = ss_read1(req, buf + len, size - len);
        if (n < 0)
            return n;
        if (n == 0)
            return len == 0 ? 0 : -EPROTO;
        size_t from = len >= 2 ? len - 2 : 0;
        len += (size_t)n;
        size_t end = head_end(buf, len, from);
        if (end > 0)
            return (ssize_t)end;
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

int http_respond(ss_request *req, int status, bool head_only, const char *body, size_t len,
                 const char *type)
{
    char head[RESPONSE_HEAD_MAX];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                     status, reason_phrase(status), type, len,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -EOVERFLOW;
    ssize_t rc = ss_write(req, head, (size_t)n);
    if (rc >= 0 && !head_only && len > 0)
        rc = ss_write(req, body, len);
    if (rc >= 0)
        rc = ss_flush(req);
    if (rc < 0)
        return (int)rc;
    shutdown(ss_request_fd(req), SHUT_WR);
    return 0;
}

void http_linger(ss_request *req)
{
    char sink[4096];
    size_t taken = 0;
    double deadline = monotonic_secs() + LINGER_SECS;

    while (taken < LINGER_MAX) {
        if (!ss_input_buffered(req)) {
            double left = deadline - monotonic_secs();
            if (left <= 0 || ss_wait_fd(req, ss_request_fd(req), POLLIN, left) < 0)
                return;
        }
        ssize_t n = ss_read1(req, sink, sizeof sink);
        if (n <= 0)
            return;
        taken += (size_t)n;
    }
}

