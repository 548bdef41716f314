/* room_url.c: --room's URL, redis://HOST:PORT[/CHANNEL]: parsed byte by byte within bounds, the host resolved once, the credentials taken from the environment. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "room_url.h"

#define SCHEME "redis://"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A host name: labels of letters, digits and '-', not starting or ending
 * with '-', separated by single dots. */
static bool name_ok(const char *s, size_t n)
{
    size_t label = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* HOST at s, up to the ':' before the port; *end past it. */
static int parse_host(const char *s, struct room_url *url, const char **end, const char **why)
{
    struct in6_addr a6;
    size_t n;

    if (*s == '[') {
        const char *close = strchr(s, ']');
        n = close ? (size_t)(close - s - 1) : 0;
        if (!close || n == 0 || n >= sizeof url->host) {
            *why = "expected an IPv6 address in brackets, e.g. redis://[::1]:6379";
            return -1;
        }
        memcpy(url->host, s + 1, n);
        url->host[n] = '\0';
        if (inet_pton(AF_INET6, url->host, &a6) != 1) {
            *why = "not an IPv6 address between the brackets";
            return -1;
        }
        *end = close + 1;
        return 0;
    }
    n = strcspn(s, ":/");
    if (n == 0) {
        *why = "missing host: expected redis://HOST:PORT[/CHANNEL]";
        return -1;
    }
    if (n > ROOM_HOST_MAX || !name_ok(s, n)) {
        *why = "the host must be an IPv4 address, an IPv6 address in brackets or a host name "
               "(letters, digits, '-' and '.', at most 253 characters)";
        return -1;
    }
    memcpy(url->host, s, n);
    url->host[n] = '\0';
    *end = s + n;
    return 0;
}

/* ":PORT" at s; *end past it. */
static int parse_port(const char *s, struct room_url *url, const char **end, const char **why)
{
    long v = 0;
    size_t digits = 0;

    if (*s != ':') {
        *why = "missing port: expected redis://HOST:PORT[/CHANNEL] (Redis listens on 6379 by "
               "default)";
        return -1;
    }
    for (s++; *s >= '0' && *s <= '9'; s++) {
        if (++digits > 5)
            break;
        v = v * 10 + (*s - '0');
    }
    if (digits == 0 || digits > 5 || v < 1 || v > 65535 || (*s != '\0' && *s != '/')) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    url->port = (int)v;
    *end = s;
    return 0;
}

/* "[/CHANNEL]" at s, the end of the URL. */
static int parse_channel(const char *s, struct room_url *url, const char **why)
{
    if (*s == '\0') {
        memcpy(url->channel, ROOM_DEFAULT_CHANNEL, sizeof ROOM_DEFAULT_CHANNEL);
        return 0;
    }
    s++; /* the '/' */
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-");
    if (n == 0 || s[n] != '\0' || n > ROOM_CHANNEL_MAX) {
        *why = "the channel must be 1 to 128 letters, digits or ':', '.', '_', '-' "
               "(default " ROOM_DEFAULT_CHANNEL ")";
        return -1;
    }
    memcpy(url->channel, s, n);
    url->channel[n] = '\0';
    return 0;
}

int room_url_parse(const char *text, struct room_url *url, const char **why)
{
    const char *s = text;

    memset(url, 0, sizeof *url);
    if (strncmp(s, SCHEME, strlen(SCHEME)) != 0) {
        *why = "expected redis://HOST:PORT[/CHANNEL]";
        return -1;
    }
    s += strlen(SCHEME);
    if (parse_host(s, url, &s, why) < 0 || parse_port(s, url, &s, why) < 0)
        return -1;
    return parse_channel(s, url, why);
}

int room_url_resolve(struct room_url *url, const char **why)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    unsigned char raw[sizeof(struct in6_addr)];

    int family = inet_pton(AF_INET, url->host, raw) == 1    ? AF_INET
                 : inet_pton(AF_INET6, url->host, raw) == 1 ? AF_INET6
                                                            : 0;
    if (family) { /* numeric: shown again in its usual form */
        if (!inet_ntop(family, raw, url->addr, sizeof url->addr)) {
            *why = "the host's address cannot be shown";
            return -1;
        }
        return 0;
    }
    /* IPv4 first, as hiredis does: "localhost" then reaches a Redis bound to
     * 127.0.0.1, its default. */
    int rc = getaddrinfo(url->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        hints.ai_family = AF_INET6;
        rc = getaddrinfo(url->host, NULL, &hints, &res);
    }
    if (rc != 0 || !res) {
        *why = rc == EAI_NONAME ? "no such host" : gai_strerror(rc);
        return -1;
    }
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)res->ai_addr)->sin_addr;
    if (!inet_ntop(res->ai_family, a, url->addr, sizeof url->addr)) {
        freeaddrinfo(res);
        *why = "the host's address cannot be shown";
        return -1;
    }
    freeaddrinfo(res);
    return 0;
}

/* The variable's value into out (ROOM_SECRET_MAX + 1 bytes): 1 if set, 0
 * if not, -1 if empty or too long. Taken, it leaves the environment, its
 * bytes wiped (/proc/PID/environ shows the block the process started
 * with): no process this one starts, and no reader of its memory there,
 * finds it. */
static int secret(const char *name, char *out)
{
    char *v = getenv(name);

    out[0] = '\0';
    if (!v)
        return 0;
    size_t n = strlen(v);
    if (n == 0 || n > ROOM_SECRET_MAX)
        return -1;
    memcpy(out, v, n + 1);
    memset(v, 0, n);
    unsetenv(name);
    return 1;
}

_Static_assert(ROOM_SECRET_MAX == 512, "the messages below say 512");

int room_url_credentials(struct room_url *url, const char **why)
{
    int user = secret(ROOM_USER_ENV, url->user), password = secret(ROOM_PASSWORD_ENV, url->password);

    if (user < 0 || password < 0) {
        *why = user < 0 ? ROOM_USER_ENV " is empty or longer than 512 bytes"
                        : ROOM_PASSWORD_ENV " is empty or longer than 512 bytes";
        return -1;
    }
    if (user && !password) {
        *why = ROOM_USER_ENV " is set without " ROOM_PASSWORD_ENV;
        return -1;
    }
    return 0;
}
