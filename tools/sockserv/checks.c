/* checks.c: the checks that need the whole command line (and the sockets systemd passed): URLs, options that need a kind of listener, TLS, the PROXY protocol, --processes and --room, --user, --metrics; then the defaults that depend on them. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "activation.h"
#include "option_table.h"
#include "redis_room.h"
#include "user.h"

/* How many clients a listener can serve at once within the open-file
 * limit: each takes a descriptor (two in chat: the room holds one; five in
 * chat over TLS, whose relay adds a socket pair and a wait set: see
 * chat.c), and the server keeps a few dozen for itself; shared by the
 * listeners. At least 1; LONG_MAX without a limit that matters. */
static long fd_fit(enum cli_command cmd, bool tls, int workers, size_t listeners, rlim_t *cur)
{
    struct rlimit rl;
    /* Compared as rlim_t first: a limit past LONG_MAX is no limit here. */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t)MAX_CONNECTIONS_LIMIT * 8)
        return LONG_MAX;
    *cur = rl.rlim_cur;
    long spare = (long)rl.rlim_cur - 64 - 2L * workers * (long)listeners;
    long fit = (cmd != CMD_CHAT ? spare : tls ? spare / 5 : spare / 2) / (long)listeners;
    return fit > 0 ? fit : 1;
}

/* --max-connections: 10000 by default, fewer when the open-file limit is
 * lower; a value given that the limit cannot hold is a usage error with the
 * most it can. Returns -1 or the exit status. */
static int check_max_connections(struct cli_opts *o, bool tls, size_t listeners)
{
    rlim_t cur = 0;
    long fit = fd_fit(o->cmd, tls, o->workers, listeners, &cur);
    if (o->max_connections == 0) {
        long limit = DEFAULT_MAX_CONNECTIONS / (long)listeners;
        o->max_connections = (int)(fit < limit ? fit : limit > 0 ? limit : 1);
        return -1;
    }
    if (o->max_connections > fit)
        return cli_usage_error("invalid --max-connections '%d': the open-file limit (ulimit -n: %llu) "
                               "holds at most %ld clients a listener here; raise it or ask for fewer",
                               o->max_connections, (unsigned long long)cur, fit);
    return -1;
}

/* The TLS option given first, or NULL. */
static const char *tls_option_given(const struct cli_opts *o)
{
    return o->tls_cert        ? "--tls-cert"
           : o->tls_key       ? "--tls-key"
           : o->tls_client_ca ? "--tls-client-ca"
           : o->tls_alpn      ? "--tls-alpn"
                              : NULL;
}

/* The first tls:// URL, or NULL. */
static const char *first_tls_url(const struct cli_opts *o)
{
    for (size_t i = 0; i < o->nlisten; i++)
        if (cli_tls_url(o->listen[i]))
            return o->listen[i];
    return NULL;
}

/* Why tls:// cannot be served here, and what to do. */
#define NO_TLS "this sockserv was built without TLS: install OpenSSL 3's development files " \
               "(apt-get install libssl-dev), then rebuild sockserv"

/* Sockets passed by systemd: the TLS options make their TCP ones TLS, and
 * need both files. Returns -1 or the usage exit status. */
static int check_tls_activated(const struct cli_opts *o)
{
    const char *given = tls_option_given(o);

    if (!given)
        return -1;
    if (!ss_tls_available())
        return cli_usage_error("%s: " NO_TLS, given);
    if (!o->tls_cert || !o->tls_key)
        return cli_usage_error("%s needs %s: TCP sockets passed by systemd speak TLS with the "
                               "server's certificate (--tls-cert FILE) and its private key "
                               "(--tls-key FILE), PEM files", given,
                               o->tls_cert ? "--tls-key" : o->tls_key ? "--tls-cert"
                                                                      : "--tls-cert and --tls-key");
    return -1;
}

/* tls://: TLS built in, a certificate and its key; without a tls:// URL,
 * no TLS option. Returns -1 or the usage exit status. */
static int check_tls(const struct cli_opts *o)
{
    if (o->activated > 0)
        return check_tls_activated(o);
    const char *url = first_tls_url(o);
    if (!url) {
        const char *given = tls_option_given(o);
        if (given)
            return cli_usage_error("%s applies to tls:// addresses, not '%s'", given, o->listen[0]);
        return -1;
    }
    if (!ss_tls_available())
        return cli_usage_error("cannot listen on '%s': " NO_TLS, url);
    if (!o->tls_cert || !o->tls_key)
        return cli_usage_error("'%s' needs %s: the server's certificate (--tls-cert FILE) and its "
                               "private key (--tls-key FILE), PEM files", url,
                               o->tls_cert ? "--tls-key" : o->tls_key ? "--tls-cert"
                                                                      : "--tls-cert and --tls-key");
    return -1;
}

/* Whether the URL names a Unix socket file (not an abstract name). */
static bool unix_file_url(const char *url)
{
    return cli_unix_url(url) && strchr(url, ':')[1] != '@';
}

/* One --listen URL: well formed, of a kind the command and the options
 * take. Returns -1 or the usage exit status. */
static int check_url(const struct cli_opts *o, const char *url)
{
    const char *why = ss_url_error(url);

    if (why)
        return cli_usage_error("invalid --listen URL '%s': %s", url, why);
    if (o->cmd == CMD_CHAT && cli_datagram_url(url))
        return cli_usage_error("chat needs a stream transport (tcp://, tls:// or unix:), not '%s'",
                               url);
    /* A Unix client has no address in a range, unless a proxy names one. */
    if (o->allow && cli_unix_url(url) && !(o->proxy_protocol && !cli_datagram_url(url)))
        return cli_usage_error("--allow applies to tcp://, tls:// and udp:// addresses, not '%s'",
                               url);
    if (o->proxy_protocol && cli_datagram_url(url))
        return cli_usage_error("--proxy-protocol applies to stream listeners (tcp://, tls://, "
                               "unix:), not '%s'", url);
    return -1;
}

/* The listeners: --listen's URLs, or the sockets systemd passed (their
 * kinds are checked once adopted: listeners.c). Returns -1 or the usage
 * exit status. */
static int check_listeners(const struct cli_opts *o)
{
    if (o->activated > 0 && o->listen_given)
        return cli_usage_error("--listen cannot be combined with sockets passed by systemd "
                               "(LISTEN_FDS=%d)", o->activated);
    if (o->activated > MAX_LISTENERS)
        return cli_usage_error("too many sockets passed by systemd (LISTEN_FDS=%d): at most %d",
                               o->activated, MAX_LISTENERS);
    if (o->activated > 0) {
        if (o->socket_mode)
            return cli_usage_error("--socket-mode does not apply to sockets passed by systemd "
                                   "(their unit's SocketMode= sets it)");
        return -1;
    }
    bool any_file = false;
    for (size_t i = 0; i < o->nlisten; i++) {
        int rc = check_url(o, o->listen[i]);
        if (rc >= 0)
            return rc;
        any_file |= unix_file_url(o->listen[i]);
    }
    if (o->socket_mode && !any_file)
        return cli_usage_error("--socket-mode needs a Unix socket file (unix:PATH or "
                               "unix-dgram:PATH), not '%s'", o->listen[0]);
    return -1;
}

/* systemd's variables, taken (and removed) once: a count into
 * o->activated, or the usage exit status when they are malformed. */
static int take_activation(struct cli_opts *o)
{
    int n = activation_take();

    if (n < 0) {
        const char *why = ss_last_error();
        return cli_usage_error("cannot take the sockets passed by systemd: %s",
                               why ? why : ss_strerror(n));
    }
    o->activated = n;
    return -1;
}

/* Why --room cannot be served here, and what to do. */
#define NO_REDIS "this sockserv was built without Redis support: install hiredis's development " \
                 "files (apt-get install libhiredis-dev), then rebuild sockserv"

/* --room: chat, hiredis built in, a well-formed URL; without it, chat in
 * one process. Returns -1 or the usage exit status. */
static int check_room(struct cli_opts *o)
{
    const char *why;

    if (!o->room) {
        if (o->cmd == CMD_CHAT && o->processes > 1)
            return cli_usage_error("chat shares its room between processes only through Redis: "
                                   "add --room redis://HOST:PORT, or use --processes 1");
        return -1;
    }
    if (o->cmd != CMD_CHAT)
        return cli_usage_error("--room applies to chat only");
    if (!redis_room_available())
        return cli_usage_error("--room: " NO_REDIS);
    if (room_url_parse(o->room, &o->room_url, &why) < 0)
        return cli_usage_error("invalid --room URL '%s': %s", o->room, why);
    if (room_url_credentials(&o->room_url, &why) < 0)
        return cli_usage_error("--room: %s", why);
    return -1;
}

/* --metrics: a well-formed tcp:// URL. Returns -1 or the usage exit status. */
static int check_metrics(const char *url)
{
    const char *why = ss_url_error(url);

    if (why)
        return cli_usage_error("invalid --metrics URL '%s': %s", url, why);
    if (strncmp(url, "tcp://", 6) != 0)
        return cli_usage_error("invalid --metrics URL '%s': expected tcp://HOST:PORT (HTTP, no "
                               "TLS), e.g. tcp://127.0.0.1:9100", url);
    return -1;
}

int cli_check(struct cli_opts *o)
{
    int rc;

    if ((rc = take_activation(o)) >= 0 || (rc = check_listeners(o)) >= 0 ||
        (rc = check_tls(o)) >= 0)
        return rc;
    if (o->metrics && (rc = check_metrics(o->metrics)) >= 0)
        return rc;
    if (o->trusted_proxies && !o->proxy_protocol)
        return cli_usage_error("--trusted-proxies applies with --proxy-protocol only");
    if ((rc = check_room(o)) >= 0)
        return rc;
    if (o->user.spec && (rc = user_resolve(&o->user)) >= 0)
        return rc;
    if (o->max_line == 0)
        o->max_line = o->cmd == CMD_CHAT ? CHAT_MAX_LINE : ECHO_MAX_LINE;
    size_t listeners = o->activated > 0 ? (size_t)o->activated : o->nlisten;
    bool tls = first_tls_url(o) || (o->activated > 0 && o->tls_cert);
    return check_max_connections(o, tls, listeners);
}
