/* proxy.c: the PROXY protocol (HAProxy's, v1 and v2): the header a proxy sends before a connection's bytes, parsed and read, so the client's own address is the request's peer. */
#include "core/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_MAX 107                     /* "PROXY UNKNOWN ...\r\n" at the most, CRLF included */
#define V2_HEAD 16                     /* signature, version and command, family, length */

/* Is buf[0..n) the start of what a header begins with? */
static bool prefix_of(const unsigned char *buf, size_t n, const void *what, size_t len)
{
    return memcmp(buf, what, n < len ? n : len) == 0;
}

/* A decimal port, 0 to 65535, no sign, no leading zero but "0" itself. */
static bool v1_port(const char *s, unsigned *out)
{
    unsigned long v = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v > 65535)
        return false;
    *out = (unsigned)v;
    return true;
}

/* An IPv4 or IPv6 socket address from an address and a port both in
 * network order (4 or 16 bytes, 2 bytes). Returns its length. */
static socklen_t ip_sockaddr(struct sockaddr_storage *ss, int family, const void *addr, const void *port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr, 4);
        memcpy(&in->sin_port, port, 2);
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, addr, 16);
    memcpy(&in6->sin6_port, port, 2);
    return sizeof *in6;
}

static bool v1_addr(int family, const char *text, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
    unsigned char raw[16];
    uint16_t be = htons((uint16_t)port);

    if (inet_pton(family, text, raw) != 1)
        return false;
    *len = ip_sockaddr(ss, family, raw, &be);
    return true;
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN[ ...]\r\n". */
static int parse_v1(const unsigned char *buf, size_t n, ss__proxy_hdr *out, const char **why)
{
    const unsigned char *end = NULL;
    for (size_t i = 0; i + 1 < n && i + 1 < V1_MAX; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            end = buf + i;
            break;
        }
    if (!end) {
        if (n < V1_MAX)
            return 0;
        *why = "PROXY v1 header without CRLF within 107 bytes";
        return -EPROTO;
    }
    char line[V1_MAX];
    size_t len = (size_t)(end - buf);
    memcpy(line, buf, len);
    line[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e) {
            *why = "PROXY v1 header with a control or non-ASCII byte";
            return -EPROTO;
        }
    out->len = len + 2;
    if (strcmp(line, "PROXY UNKNOWN") == 0 || strncmp(line, "PROXY UNKNOWN ", 14) == 0) {
        out->local = true; /* the real endpoints stand */
        return (int)out->len;
    }
    char *f[7], *save = NULL;
    int nf = 0;
    for (char *t = strtok_r(line, " ", &save); t && nf < 7; t = strtok_r(NULL, " ", &save))
        f[nf++] = t;
    if (nf != 6) {
        *why = "malformed PROXY v1 header";
        return -EPROTO;
    }
    int family = strcmp(f[1], "TCP4") == 0 ? AF_INET : strcmp(f[1], "TCP6") == 0 ? AF_INET6 : 0;
    unsigned sport, dport;
    /* Single spaces only: the fields joined again must be the line. */
    size_t joined = 0;
    for (int i = 0; i < nf; i++)
        joined += strlen(f[i]) + (i ? 1 : 0);
    if (strcmp(f[0], "PROXY") != 0 || !family || joined != len || !v1_port(f[4], &sport) ||
        !v1_port(f[5], &dport) || !v1_addr(family, f[2], sport, &out->src, &out->srclen) ||
        !v1_addr(family, f[3], dport, &out->dst, &out->dstlen)) {
        *why = "malformed PROXY v1 header";
        return -EPROTO;
    }
    return (int)out->len;
}

/* The binary header: its addresses are read once V2_HEAD + their size is
 * there; TLVs after them are skipped (the caller consumes out->len). */
static int parse_v2(const unsigned char *buf, size_t n, ss__proxy_hdr *out, const char **why)
{
    if (n < V2_HEAD)
        return 0;
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0xF, fam = buf[13] >> 4;
    size_t rest = (size_t)buf[14] << 8 | buf[15];
    if (ver != 2 || cmd > 1) {
        *why = "PROXY v2 header with an unknown version or command";
        return -EPROTO;
    }
    size_t need = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
    if (rest < need) {
        *why = "PROXY v2 header too short for its addresses";
        return -EPROTO;
    }
    out->len = V2_HEAD + rest;
    if (cmd == 0 || fam == 0 || fam > 3) { /* LOCAL (a health check), or no address: the real endpoints */
        out->local = true;
        return (int)out->len;
    }
    if (n < V2_HEAD + need)
        return 0;
    const unsigned char *a = buf + V2_HEAD;
    if (fam == 1 || fam == 2) { /* source, destination addresses, then their ports */
        int family = fam == 1 ? AF_INET : AF_INET6;
        size_t alen = fam == 1 ? 4 : 16;
        out->srclen = ip_sockaddr(&out->src, family, a, a + 2 * alen);
        out->dstlen = ip_sockaddr(&out->dst, family, a + alen, a + 2 * alen + 2);
    } else {
        memset(&out->src, 0, sizeof out->src);
        memset(&out->dst, 0, sizeof out->dst);
        struct sockaddr_un *s = (struct sockaddr_un *)&out->src, *d = (struct sockaddr_un *)&out->dst;
        s->sun_family = d->sun_family = AF_UNIX;
        memcpy(s->sun_path, a, 108);
        memcpy(d->sun_path, a + 108, 108);
        size_t off = offsetof(struct sockaddr_un, sun_path);
        out->srclen = (socklen_t)(off + (s->sun_path[0] ? strnlen(s->sun_path, 108) : 108));
        out->dstlen = (socklen_t)(off + (d->sun_path[0] ? strnlen(d->sun_path, 108) : 108));
    }
    return (int)out->len;
}

int ss__proxy_parse(const unsigned char *buf, size_t n, ss__proxy_hdr *hdr, const char **why)
{
    ss__proxy_hdr *out = hdr;
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (n == 0)
        return 0;
    if (prefix_of(buf, n, v2_sig, sizeof v2_sig))
        return n < sizeof v2_sig ? 0 : parse_v2(buf, n, out, why);
    if (prefix_of(buf, n, "PROXY ", 6))
        return n < 6 ? 0 : parse_v1(buf, n, out, why);
    *why = "no PROXY protocol header";
    return -EPROTO;
}

/* Consume exactly n bytes of the header (they are there: the caller
 * peeked them). */
static int take(ss_request *req, unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t got = recv(req->fd, buf, n, MSG_DONTWAIT);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? -errno : -ECONNRESET;
        ss__count_in(req, got);
        buf += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Wait for more of the header: 0, or -errno with the reason. */
static int more(ss_request *req, int64_t deadline, double secs)
{
    int rc = req->srv->st->wait_conn(req, POLLIN, deadline);
    if (rc == -ETIMEDOUT)
        return ss_request_fail(req, rc, "PROXY protocol: no header within %g s", secs);
    return rc;
}

/* Read the header from the socket itself, under the request's connection
 * layers (TLS comes after it), never a byte past it: peek, take what is
 * surely the header's (all of it while its end is unknown: no CRLF yet,
 * or short of its length), wait for more. The client's address becomes
 * the request's peer; the proxy's is kept. */
int ss__proxy_read(ss_request *req)
{
    ss_server *srv = req->srv;
    double secs = srv->cfg.request_timeout > 0 ? srv->cfg.request_timeout : SS__PROXY_SECS;
    int64_t deadline = ss__deadline(secs);
    if (req->peer.ss_family != AF_UNIX &&
        !ss_cidr_match(srv->proxy_trusted, (const struct sockaddr *)&req->peer, req->peerlen))
        return ss_request_fail(req, -EACCES, "PROXY protocol: %s is not a trusted proxy", ss_request_peer_str(req));
    /* The most read before the header's end is known: a v1 line decides
     * within 107 bytes, a v2 header within its 16 + 216 (Unix addresses);
     * v2 TLVs past that are skipped unread. */
    unsigned char buf[V2_HEAD + 216];
    size_t have = 0, total = 0, limit = sizeof buf; /* limit: what to read into buf */
    ss__proxy_hdr hdr;
    const char *why = "no PROXY protocol header";
    while (have < limit) {
        ssize_t n = recv(req->fd, buf + have, sizeof buf - have, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return ss_request_fail(req, -ECONNRESET, "PROXY protocol: the connection closed before its header ended");
        if (n < 0) {
            int rc = errno == EAGAIN || errno == EWOULDBLOCK ? more(req, deadline, secs) : -errno;
            if (rc < 0)
                return rc == -ETIMEDOUT || rc == -ECANCELED ? rc : ss_request_fail(req, rc, "PROXY protocol: %s", ss_strerror(rc));
            continue;
        }
        size_t seen = have + (size_t)n;
        int r = ss__proxy_parse(buf, seen, &hdr, &why);
        if (r < 0)
            return ss_request_fail(req, r, "PROXY protocol: %s", why);
        if (r > 0) {
            total = (size_t)r;
            limit = total < sizeof buf ? total : sizeof buf;
        }
        size_t upto = limit < seen ? limit : seen;
        int rc = take(req, buf + have, upto - have);
        if (rc < 0)
            return ss_request_fail(req, rc, "PROXY protocol: %s", ss_strerror(rc));
        have = upto;
    }
    if (total == 0) /* the parser decides within sizeof buf bytes: never */
        return ss_request_fail(req, -EPROTO, "PROXY protocol: %s", why);
    while (have < total) {
        unsigned char skip[512];
        ssize_t n = recv(req->fd, skip, total - have < sizeof skip ? total - have : sizeof skip, MSG_DONTWAIT);
        if (n > 0) {
            ss__count_in(req, n);
            have += (size_t)n;
            continue;
        }
        if (n == 0)
            return ss_request_fail(req, -ECONNRESET, "PROXY protocol: the connection closed before its header ended");
        if (errno == EINTR)
            continue;
        int rc = errno == EAGAIN || errno == EWOULDBLOCK ? more(req, deadline, secs) : -errno;
        if (rc < 0)
            return rc == -ETIMEDOUT || rc == -ECANCELED ? rc : ss_request_fail(req, rc, "PROXY protocol: %s", ss_strerror(rc));
    }
    req->proxied = true;
    req->proxy = req->peer; /* the proxy itself */
    req->proxylen = req->peerlen;
    if (!hdr.local) {
        req->peer = hdr.src;
        req->peerlen = ss__peer_len(&hdr.src, hdr.srclen);
    }
    free(req->peer_str); /* made from the proxy's address, if asked already */
    req->peer_str = NULL;
    return 0;
}

const struct sockaddr *ss_request_proxy(const ss_request *req, socklen_t *len)
{
    if (len)
        *len = req->proxied ? req->proxylen : 0;
    return req->proxied ? (const struct sockaddr *)&req->proxy : NULL;
}
