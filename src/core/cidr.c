/* cidr.c: lists of IPv4 and IPv6 address ranges (CIDR), and whether an address is in one: for allowing clients and trusting proxies. */
#include "core/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* One range: the family's address bytes with the host bits cleared. */
typedef struct range {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* 4 or 16 bytes used */
    unsigned prefix;
} range;

struct ss_cidr {
    range *v;
    size_t n, cap;
};

ss_cidr *ss_cidr_new(void)
{
    return calloc(1, sizeof(ss_cidr));
}

void ss_cidr_free(ss_cidr *list)
{
    if (!list)
        return;
    free(list->v);
    free(list);
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
static int parse_range(const char *item, size_t len, range *r, const char **why)
{
    char text[INET6_ADDRSTRLEN + 8];
    while (len > 0 && (*item == ' ' || *item == '\t')) /* "a, b" reads as "a,b" */
        item++, len--;
    while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
        len--;
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

int ss_cidr_add(ss_cidr *list, const char *spec, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    if (!spec) {
        *why = "empty range";
        return -EINVAL;
    }
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        range r;
        int rc = parse_range(p, len, &r, why);
        if (rc < 0)
            return rc;
        if (list->n == list->cap) {
            size_t cap = list->cap ? 2 * list->cap : 8, size;
            range *v = NULL;
            if (cap > list->cap && !__builtin_mul_overflow(cap, sizeof *v, &size))
                v = realloc(list->v, size);
            if (!v) {
                *why = "out of memory";
                return -ENOMEM;
            }
            list->v = v;
            list->cap = cap;
        }
        list->v[list->n++] = r;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static bool in_range(const range *r, const unsigned char *addr)
{
    unsigned full = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(r->addr, addr, full) != 0)
        return false;
    return rest == 0 || (addr[full] & (unsigned char)(0xFFu << (8 - rest))) == r->addr[full];
}

bool ss_cidr_match(const ss_cidr *list, const struct sockaddr *sa, socklen_t len)
{
    const unsigned char *v4 = NULL, *v6 = NULL;
    if (!list || !sa)
        return false;
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
    for (size_t i = 0; i < list->n; i++) {
        const range *r = &list->v[i];
        if ((r->family == AF_INET && v4 && in_range(r, v4)) || (r->family == AF_INET6 && v6 && in_range(r, v6)))
            return true;
    }
    return false;
}
