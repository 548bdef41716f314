/* allow.c: --allow: the client address ranges (IPv4 and IPv6 CIDR) let in, checked in verify_request. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "allow.h"

/* One range: the family's address bytes with the host bits cleared. */
struct range {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* 4 or 16 bytes used */
    unsigned prefix;
};

struct allow_list {
    struct range *v;
    size_t n, cap;
};

struct allow_list *allow_new(void)
{
    return calloc(1, sizeof(struct allow_list));
}

void allow_free(struct allow_list *al)
{
    if (!al)
        return;
    free(al->v);
    free(al);
}

/* The prefix length after '/': decimal digits, at most max. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (*s == '\0' || strlen(s) > 3)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static void clear_host_bits(unsigned char *addr, unsigned bytes, unsigned prefix)
{
    for (unsigned i = 0; i < bytes; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : (prefix > 8 * i ? prefix - 8 * i : 0);
        addr[i] &= (unsigned char)(0xFFu << (8 - keep));
    }
}

/* One item: ADDR or ADDR/PREFIX, IPv6 optionally in brackets. */
static int parse_range(const char *item, size_t len, struct range *r, const char **why)
{
    char text[INET6_ADDRSTRLEN + 8];
    if (len == 0) {
        *why = "empty range";
        return -EINVAL;
    }
    if (len >= sizeof text) {
        *why = "not an IPv4 or IPv6 address";
        return -EINVAL;
    }
    memcpy(text, item, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    char *host = text;
    size_t hlen = strlen(host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        host++;
    }
    memset(r, 0, sizeof *r);
    if (inet_pton(AF_INET, host, r->addr) == 1) {
        r->family = AF_INET;
        r->prefix = 32;
    } else if (inet_pton(AF_INET6, host, r->addr) == 1) {
        r->family = AF_INET6;
        r->prefix = 128;
    } else {
        *why = "not an IPv4 or IPv6 address";
        return -EINVAL;
    }
    if (slash && parse_prefix(slash + 1, r->prefix, &r->prefix) < 0) {
        *why = r->family == AF_INET ? "prefix length must be 0 to 32" : "prefix length must be 0 to 128";
        return -EINVAL;
    }
    clear_host_bits(r->addr, r->family == AF_INET ? 4 : 16, r->prefix);
    return 0;
}

int allow_add(struct allow_list *al, const char *spec, const char **why)
{
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        struct range r;
        int rc = parse_range(p, len, &r, why);
        if (rc < 0)
            return rc;
        if (al->n == al->cap) {
            size_t cap = al->cap ? 2 * al->cap : 8, size;
            struct range *v = NULL;
            if (cap > al->cap && !__builtin_mul_overflow(cap, sizeof *v, &size))
                v = realloc(al->v, size);
            if (!v) {
                *why = "out of memory";
                return -ENOMEM;
            }
            al->v = v;
            al->cap = cap;
        }
        al->v[al->n++] = r;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static bool in_range(const struct range *r, const unsigned char *addr)
{
    unsigned full = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(r->addr, addr, full) != 0)
        return false;
    return rest == 0 || (addr[full] & (unsigned char)(0xFFu << (8 - rest))) == r->addr[full];
}

bool allow_match(const struct allow_list *al, const struct sockaddr *sa, socklen_t len)
{
    const unsigned char *v4 = NULL, *v6 = NULL;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        v4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        v6 = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) /* a dual-stack socket's IPv4 client */
            v4 = v6 + 12;
    } else {
        return false;
    }
    for (size_t i = 0; i < al->n; i++) {
        const struct range *r = &al->v[i];
        if ((r->family == AF_INET && v4 && in_range(r, v4)) || (r->family == AF_INET6 && v6 && in_range(r, v6)))
            return true;
    }
    return false;
}
