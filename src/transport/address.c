/* address.c: listen URLs (tcp://, udp://, unix:, unix-dgram:) parsed, and socket addresses as text. */
#include "core/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int parse_port(const char *s, unsigned *port, const char **why)
{
    if (*s == '\0') {
        *why = "missing port";
        return -EINVAL;
    }
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            *why = "port is not a number";
            return -EINVAL;
        }
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535) {
            *why = "port out of range (0-65535)";
            return -EINVAL;
        }
    }
    *port = (unsigned)v;
    return 0;
}

static bool valid_hostname(const char *h)
{
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
            return false;
    return true;
}

/* "HOST:PORT" or "[V6ADDR]:PORT" after the scheme. */
static int parse_inet(const char *rest, ss__url *u, const char **why)
{
    const char *colon;
    size_t hostlen;
    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (!close) {
            *why = "missing ']' after IPv6 address";
            return -EINVAL;
        }
        hostlen = (size_t)(close - rest - 1);
        if (hostlen == 0 || hostlen >= sizeof u->host) {
            *why = "bad IPv6 address";
            return -EINVAL;
        }
        memcpy(u->host, rest + 1, hostlen);
        u->host[hostlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1) {
            *why = "bad IPv6 address";
            return -EINVAL;
        }
        if (close[1] != ':') {
            *why = "missing port";
            return -EINVAL;
        }
        u->family = AF_INET6;
        return parse_port(close + 2, &u->port, why);
    }
    colon = strrchr(rest, ':');
    if (!colon) {
        *why = "missing port";
        return -EINVAL;
    }
    hostlen = (size_t)(colon - rest);
    if (memchr(rest, ':', hostlen)) {
        *why = "IPv6 address must be in brackets, e.g. tcp://[::1]:9999";
        return -EINVAL;
    }
    if (hostlen == 0) {
        *why = "missing host";
        return -EINVAL;
    }
    if (hostlen >= sizeof u->host) {
        *why = "host name too long";
        return -EINVAL;
    }
    memcpy(u->host, rest, hostlen);
    u->host[hostlen] = '\0';
    if (!valid_hostname(u->host)) {
        *why = "bad host name";
        return -EINVAL;
    }
    struct in_addr a4;
    u->family = inet_pton(AF_INET, u->host, &a4) == 1 ? AF_INET : AF_UNSPEC;
    return parse_port(colon + 1, &u->port, why);
}

static int parse_unix(const char *path, ss__url *u, const char **why)
{
    size_t len = strlen(path);
    if (len == 0 || (path[0] == '@' && len == 1)) {
        *why = "empty socket path";
        return -EINVAL;
    }
    /* sun_path holds the path and its NUL; an abstract name trades the '@'
     * for the leading NUL, so the limit is the same. */
    if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        *why = "socket path too long (at most 107 bytes)";
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) {
            *why = "control character in socket path";
            return -EINVAL;
        }
    memcpy(u->path, path, len + 1);
    u->family = AF_UNIX;
    return 0;
}

int ss__url_parse(const char *text, ss__url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text) {
        *why = "empty URL";
        return -EINVAL;
    }
    const ss__transport *tp = ss__transport_by_prefix(text);
    if (!tp) {
        *why = "unknown scheme (expected tcp://, udp://, tls://, unix: or unix-dgram:)";
        return -EINVAL;
    }
    out->tp = tp;
    out->socktype = tp->socktype;
    const char *rest = text + strlen(tp->prefix);
    return tp->inet ? parse_inet(rest, out, why) : parse_unix(rest, out, why);
}

const char *ss_url_error(const char *url)
{
    ss__url u;
    const char *why = NULL;
    return ss__url_parse(url, &u, &why) < 0 ? why : NULL;
}

/* Socket address as text: "1.2.3.4:80", "[::1]:80", "/path", "./relative",
 * "@abstract"; an unnamed Unix address gives "". A Unix name is chosen by
 * whoever bound it (a client, for a peer), so it is escaped (ss__escape,
 * SS__ESC_NAME: one printable ASCII word), and written so that no name can
 * pass for another kind: a path that is not absolute gets "./", an abstract
 * name "@"; neither can then look like an IP address or the "unix:#N" the
 * library gives unnamed peers. Returns 0, or -EINVAL for a family we do not
 * know. */
int ss__sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    if (size == 0)
        return -EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
        return 0;
    }
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? (size_t)len - off : 0;
        const char *name = un->sun_path, *lead = "";
        if (n > sizeof un->sun_path)
            n = sizeof un->sun_path;
        if (n > 0 && name[0] == '\0') { /* abstract: length-delimited */
            lead = "@";
            name++;
            n--;
        } else if (n > 0) {
            n = strnlen(name, n);
            lead = name[0] == '/' ? "" : "./";
        }
        if (n == 0 && lead[0] == '\0') {
            buf[0] = '\0';
            return 0;
        }
        size_t l = strlen(lead);
        if (l >= size)
            return -EINVAL;
        memcpy(buf, lead, l);
        ss__escape(name, n, buf + l, size - l, SS__ESC_NAME);
        return 0;
    }
    snprintf(buf, size, "%s", "?");
    return -EINVAL;
}

/* A peer address's length, 0 for an unnamed Unix socket (the kernel gives
 * just the family). */
socklen_t ss__peer_len(const struct sockaddr_storage *sa, socklen_t len)
{
    if (sa->ss_family == AF_UNIX && len <= offsetof(struct sockaddr_un, sun_path))
        return 0;
    return len;
}
