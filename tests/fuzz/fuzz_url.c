/* fuzz_url.c: fuzz target: the listen-URL parser (ss__url_parse, ss_url_error) and socket addresses as text. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <ctype.h>

/* The URL a parsed form stands for, port without leading zeros. */
static void url_text(const ss__url *u, const char *scheme, char *buf, size_t size)
{
    if (u->family == AF_UNIX)
        snprintf(buf, size, "%s%s", scheme, u->path);
    else if (u->family == AF_INET6)
        snprintf(buf, size, "%s[%s]:%u", scheme, u->host, u->port);
    else
        snprintf(buf, size, "%s%s:%u", scheme, u->host, u->port);
}

static const char *scheme_of(const char *text)
{
    static const char *const schemes[] = {"tcp://", "udp://", "tls://", "unix-dgram:", "unix:"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(text, schemes[i], strlen(schemes[i])) == 0)
            return schemes[i];
    return NULL;
}

/* A Unix name as ss__sockaddr_str must show it (written here on its own,
 * as the oracle): "@" for an abstract name, "./" before a relative path,
 * then every byte that is not printable ASCII, or is a space or a
 * backslash, as \xNN. */
static void unix_text(const char *path, char *buf, size_t size)
{
    const char *name = path[0] == '@' ? path + 1 : path;
    size_t o = (size_t)snprintf(buf, size, "%s", path[0] == '@' ? "@" : path[0] == '/' ? "" : "./");
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 5 < size; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
        else
            buf[o++] = (char)*p;
    }
    buf[o] = '\0';
}

/* The parsed form as a socket address, written back as text by
 * ss__sockaddr_str: the address the URL names, in canonical form. */
static void check_sockaddr_text(const ss__url *u)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char want[4 * sizeof u->path + 16], host[INET6_ADDRSTRLEN], got[SS__PEER_STR_MAX + 128];
    memset(&ss, 0, sizeof ss);
    if (u->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)u->port);
        FUZZ_CHECK(inet_pton(AF_INET, u->host, &in->sin_addr) == 1, "AF_INET host '%s' is not an address", u->host);
        snprintf(want, sizeof want, "%s:%u", u->host, u->port); /* inet_pton takes canonical text only */
        len = sizeof *in;
    } else if (u->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)u->port);
        FUZZ_CHECK(inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1, "AF_INET6 host '%s' is not an address", u->host);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(want, sizeof want, "[%s]:%u", host, u->port);
        len = sizeof *in6;
    } else if (u->family == AF_UNIX) { /* as the listening socket is bound */
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        size_t n = strlen(u->path);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, u->path, n);
        if (u->path[0] == '@')
            un->sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (u->path[0] != '@'));
        unix_text(u->path, want, sizeof want);
    } else {
        return; /* a host name: resolved only when the server is created */
    }
    FUZZ_CHECK(ss__sockaddr_str((const struct sockaddr *)&ss, len, got, sizeof got) == 0, "ss__sockaddr_str failed");
    FUZZ_CHECK(strcmp(got, want) == 0, "address as text '%s', expected '%s'", got, want);
}

static void check_parsed(const char *text, const ss__url *u)
{
    const char *scheme = scheme_of(text);
    FUZZ_CHECK(scheme, "'%s' parsed without a known scheme", text);
    bool inet = strstr(scheme, "://") != NULL;
    bool stream = strcmp(scheme, "tcp://") == 0 || strcmp(scheme, "tls://") == 0 || strcmp(scheme, "unix:") == 0;
    FUZZ_CHECK(u->socktype == (stream ? SOCK_STREAM : SOCK_DGRAM), "'%s': socktype %d", text, u->socktype);
    FUZZ_CHECK(memchr(u->host, '\0', sizeof u->host) && memchr(u->path, '\0', sizeof u->path),
               "'%s': host or path not terminated", text);
    if (inet) {
        FUZZ_CHECK(u->family == AF_INET || u->family == AF_INET6 || u->family == AF_UNSPEC,
                   "'%s': family %d", text, u->family);
        FUZZ_CHECK(u->host[0] && u->port <= 65535 && !u->path[0], "'%s': host '%s' port %u", text, u->host, u->port);
        for (const char *h = u->host; u->family == AF_UNSPEC && *h; h++)
            FUZZ_CHECK(isalnum((unsigned char)*h) || strchr("-._", *h), "'%s': host name '%s'", text, u->host);
    } else {
        FUZZ_CHECK(u->family == AF_UNIX && !u->host[0] && u->port == 0, "'%s': unix URL with family %d", text,
                   u->family);
        FUZZ_CHECK(strlen(u->path) < sizeof(((struct sockaddr_un *)0)->sun_path) && strcmp(u->path, "@") != 0,
                   "'%s': path '%s'", text, u->path);
        for (const char *p = u->path; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "'%s': control character in the path", text);
    }

    /* Written back, the URL parses to the same form; it is the same text
     * unless the port had leading zeros. */
    char again[sizeof u->host + sizeof u->path + 32];
    url_text(u, scheme, again, sizeof again);
    ss__url u2;
    const char *why = NULL;
    FUZZ_CHECK(ss__url_parse(again, &u2, &why) == 0, "'%s' written back as '%s' fails: %s", text, again, why);
    FUZZ_CHECK(u->socktype == u2.socktype && u->family == u2.family && u->port == u2.port &&
                   strcmp(u->host, u2.host) == 0 && strcmp(u->path, u2.path) == 0,
               "'%s' written back as '%s' parses differently", text, again);
    const char *port = inet ? strrchr(text, ':') + 1 : NULL;
    bool leading_zero = port && port[0] == '0' && port[1] != '\0';
    FUZZ_CHECK((strcmp(again, text) == 0) == !leading_zero, "'%s' written back as '%s'", text, again);

    check_sockaddr_text(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';

    ss__url u;
    const char *why = NULL;
    int rc = ss__url_parse(text, &u, &why);
    const char *err = ss_url_error(text);
    if (rc == 0) {
        FUZZ_CHECK(!why && !err, "'%s' parsed, yet why = '%s', ss_url_error = '%s'", text, why ? why : "(null)",
                   err ? err : "(null)");
        check_parsed(text, &u);
    } else {
        FUZZ_CHECK(rc == -EINVAL, "'%s': %d", text, rc);
        FUZZ_CHECK(why && why[0] && err && strcmp(why, err) == 0, "'%s' failed without a reason (why '%s', "
                   "ss_url_error '%s')", text, why ? why : "(null)", err ? err : "(null)");
    }
    free(text);
    return 0;
}
