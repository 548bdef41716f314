/* listeners.c: the program's listeners: a server on each --listen URL or on each socket systemd passed, or (in a worker process) on a copy of each of the supervisor's; their config, their files given to --user, their counters summed. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "counters.h"
#include "listeners.h"
#include "logging.h"
#include "signals.h"
#include "user.h"

/* The first descriptor systemd passes (SD_LISTEN_FDS_START). */
#define FIRST_PASSED_FD 3

/* --allow: clients outside the ranges are closed at once (and counted);
 * with --proxy-protocol, the client is the one the proxy names. */
static bool verify_client(ss_server *srv, ss_request *req)
{
    const struct app *app = ss_server_userdata(srv);
    socklen_t len;
    const struct sockaddr *peer = ss_request_peer(req, &len);
    return len > 0 && ss_cidr_match(app->allow, peer, len);
}

/* The kind of socket, read from it. */
struct kind {
    bool stream, tcp, unix_domain;
};

static struct kind kind_of(int fd)
{
    int domain = -1, type = -1;
    socklen_t len = sizeof domain;
    struct kind k;

    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    k.stream = type == SOCK_STREAM;
    k.tcp = k.stream && (domain == AF_INET || domain == AF_INET6);
    k.unix_domain = domain == AF_UNIX;
    return k;
}

/* A listener's config from the options: `tls`, its TLS files; `proxy`,
 * the PROXY protocol (stream listeners); `file_mode`, --socket-mode (a
 * Unix socket file we make). */
static void make_config(const struct cli_opts *o, struct listener *l, bool tls, bool proxy,
                        bool file_mode, ss_config *cfg)
{
    l->app = (struct app){ .max_line = o->max_line, .allow = o->allow };
    *cfg = (ss_config){
        .handler = o->cmd == CMD_CHAT ? &chat_handler : &echo_handler,
        .strategy = o->strategy,
        .userdata = &l->app,
        .allow_reuse_address = true,
        .wbufsize = 0,
        .max_packet_size = ECHO_MAX_PACKET,
        .workers = o->workers,
        /* Echo and chat share no local variable with another thread or
         * request while they wait (the room gets copies of the lines). */
        .park_idle_stacks = true,
        .max_connections = o->max_connections,
        /* Forking: one process per client, so the two limits agree. */
        .max_children = o->strategy == SS_FORKING ? o->max_connections : 0,
        .request_timeout = o->timeout,
        .socket_mode = file_mode ? o->socket_mode : 0,
        .tls_cert = tls ? o->tls_cert : NULL,
        .tls_key = tls ? o->tls_key : NULL,
        .tls_client_ca = tls ? o->tls_client_ca : NULL,
        .tls_alpn = tls ? o->tls_alpn : NULL,
        .proxy_protocol = proxy && o->proxy_protocol,
        .proxy_trusted = proxy ? o->trusted_proxies : NULL,
        .final_stats = &l->final,
        .log = log_library,
        .log_level = o->log_level,
        .verify_request = o->allow ? verify_client : NULL,
        .service_actions = signals_service, /* what SIGHUP asked for */
    };
}

/* "cannot listen on URL: reason": the library's reason when it gave one (a
 * host that does not resolve, and why), else the OS's, in lower case first;
 * for a TLS file, the library's reason naming the file and the option. */
static void report_listen_error(const char *url, int err)
{
    char reason[256];
    const char *why = ss_last_error();

    if (why && strncmp(why, "tls", 3) == 0) {
        cli_library_error("", why);
        return;
    }
    if (why) {
        char lead[600];
        snprintf(lead, sizeof lead, "cannot listen on %s: ", url);
        cli_library_error(lead, why);
        return;
    }
    snprintf(reason, sizeof reason, "%s", strerror(err));
    reason[0] = (char)tolower((unsigned char)reason[0]);
    cli_error("cannot listen on %s: %s", url, reason);
}

/* A Unix socket file we make: "unix:PATH" or "unix-dgram:PATH", not "@name". */
static const char *made_file(const char *url)
{
    const char *path = strchr(url, ':') + 1;
    return cli_unix_url(url) && *path != '@' ? path : NULL;
}

/* A server on the URL, given to --user if it made a file. -1 or the exit status. */
static int open_url(struct listener *l, const struct cli_opts *o, const char *url, bool serving)
{
    ss_config cfg;

    make_config(o, l, cli_tls_url(url), !cli_datagram_url(url), made_file(url) != NULL, &cfg);
    cfg.listen = url;
    if (!serving) {
        cfg.strategy = SS_SYNC; /* never served here: no thread, no loop */
        cfg.workers = 0;
    }
    l->srv = ss_server_new(&cfg);
    if (!l->srv) {
        report_listen_error(url, errno);
        return EXIT_NOLISTEN;
    }
    if (o->user.spec && made_file(url))
        return user_give_file(&o->user, made_file(url));
    return -1;
}

/* "the socket systemd passed as fd N", for messages. */
#define PASSED "the socket systemd passed as fd %d"

/* A server on the socket fd, made elsewhere (systemd, or the supervisor:
 * `what` names it in messages), in o's mode (sync when not `serving`).
 * On failure the caller keeps fd. -1 or the exit status. */
static int adopt_fd(struct listener *l, const struct cli_opts *o, int fd, bool serving,
                    ss_tls_tickets *tickets)
{
    struct kind k = kind_of(fd);
    ss_config cfg;

    if (o->cmd == CMD_CHAT && !k.stream)
        return cli_usage_error("chat needs a stream transport (tcp://, tls:// or unix:), not "
                               PASSED " (a datagram socket)", fd);
    if (o->proxy_protocol && !k.stream)
        return cli_usage_error("--proxy-protocol applies to stream listeners, not " PASSED
                               " (a datagram socket)", fd);
    if (o->allow && k.unix_domain && !(o->proxy_protocol && k.stream))
        return cli_usage_error("--allow applies to TCP and UDP sockets, not " PASSED
                               " (a Unix socket)", fd);
    make_config(o, l, k.tcp && o->tls_cert, k.stream, false, &cfg);
    cfg.tls_tickets = tickets;
    if (!serving) {
        cfg.strategy = SS_SYNC;
        cfg.workers = 0;
    }
    l->srv = ss_server_adopt(&cfg, fd);
    if (!l->srv) {
        const char *why = ss_last_error();
        if (why && strncmp(why, "tls", 3) == 0)
            cli_library_error("", why);
        else
            cli_error("cannot serve " PASSED ": %s", fd, why ? why : strerror(errno));
        return EXIT_NOLISTEN;
    }
    return -1;
}

int listeners_open(struct listeners *ls, const struct cli_opts *o, bool serving)
{
    int rc = -1;
    size_t n = o->activated > 0 ? (size_t)o->activated : o->nlisten;

    ls->n = 0;
    for (size_t i = 0; i < n && rc < 0; i++) {
        struct listener *l = &ls->v[ls->n];
        if (o->activated > 0)
            rc = adopt_fd(l, o, FIRST_PASSED_FD + (int)i, serving, NULL);
        else
            rc = open_url(l, o, o->listen[i], serving);
        if (l->srv)
            ls->n++;
    }
    if (rc >= 0)
        listeners_close(ls, NULL);
    return rc;
}

int listeners_adopt(struct listeners *ls, const struct listeners *from, const struct cli_opts *o,
                    ss_tls_tickets *tickets)
{
    int rc = -1;

    ls->n = 0;
    for (size_t i = 0; i < from->n && rc < 0; i++) {
        struct listener *l = &ls->v[ls->n];
        const char *url = ss_server_url(from->v[i].srv);
        int fd = fcntl(ss_server_fd(from->v[i].srv), F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            cli_error("cannot serve %s: %s", url, strerror(errno));
            rc = EXIT_NOLISTEN;
            break;
        }
        ss_config cfg;
        make_config(o, l, cli_tls_url(url), !cli_datagram_url(url), false, &cfg);
        cfg.tls_tickets = tickets;
        l->srv = ss_server_adopt(&cfg, fd);
        if (l->srv) {
            ls->n++;
            continue;
        }
        report_listen_error(url, errno);
        close(fd);
        rc = EXIT_NOLISTEN;
    }
    if (rc >= 0)
        listeners_close(ls, NULL);
    return rc;
}

void listeners_set_room(struct listeners *ls, struct room *room)
{
    for (size_t i = 0; i < ls->n; i++)
        ls->v[i].app.room = room;
}

void listeners_print_ready(const struct listeners *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        printf("listening on %s\n", ss_server_url(ls->v[i].srv));
    fflush(stdout);
}

bool listeners_have_tls(const struct listeners *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        if (cli_tls_url(ss_server_url(ls->v[i].srv)))
            return true;
    return false;
}

void listeners_stop(const struct listeners *ls, double drain)
{
    for (size_t i = 0; i < ls->n; i++)
        ss_server_stop(ls->v[i].srv, drain);
}

void listeners_stats(const struct listeners *ls, ss_stats *sum)
{
    *sum = (ss_stats){ 0 };
    for (size_t i = 0; i < ls->n; i++) {
        ss_stats st;
        ss_server_stats(ls->v[i].srv, &st);
        counters_add(sum, &st);
    }
}

void listeners_close(struct listeners *ls, ss_stats *sum)
{
    if (sum)
        *sum = (ss_stats){ 0 };
    for (size_t i = 0; i < ls->n; i++) {
        ls->v[i].final = (ss_stats){ 0 };
        ss_server_close(ls->v[i].srv);
        ls->v[i].srv = NULL;
        if (sum)
            counters_add(sum, &ls->v[i].final);
    }
    ls->n = 0;
}
