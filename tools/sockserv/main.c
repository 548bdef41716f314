/* main.c: the sockserv program: server set-up, the ready line, serving and exit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allow.h"
#include "chat_line.h"
#include "cli.h"
#include "room.h"
#include "signals.h"

/* The longest chat line, formatted with the longest peer name and its text
 * grown by the cleaning, fits the backlog of one member. */
_Static_assert(CHAT_MAX_LINE_LIMIT * CHAT_CLEAN_GROWTH + ROOM_MAX_PEER + 2 <= CHAT_BACKLOG,
               "a chat line of --max-line's limit would not fit a member's backlog");

/* "cannot listen on URL: reason", the reason as the OS says it, in lower case first;
 * for a TLS file, the library's reason naming the file and the option. */
static void report_listen_error(const char *url, int err)
{
    char reason[256];
    const char *why = ss_last_error();

    if (why && strncmp(why, "tls", 3) == 0) {
        cli_library_error("", why);
        return;
    }
    snprintf(reason, sizeof reason, "%s", strerror(err));
    reason[0] = (char)tolower((unsigned char)reason[0]);
    cli_error("cannot listen on %s: %s", url, reason);
}

static bool is_stream_socket(const ss_server *srv)
{
    int type = 0;
    socklen_t len = sizeof type;

    return getsockopt(ss_server_fd(srv), SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
           type == SOCK_STREAM;
}

/* --allow: clients outside the ranges are closed at once (and counted). */
static bool verify_client(ss_server *srv, ss_request *req)
{
    const struct app *app = ss_server_userdata(srv);
    socklen_t len;
    const struct sockaddr *peer = ss_request_peer(req, &len);
    return allow_match(app->allow, peer, len);
}

static void report_stats(const ss_stats *st)
{
    fprintf(stderr,
            "sockserv: stopped: accepted %llu, refused %llu, completed %llu, errors %llu, "
            "accept errors %llu, cancelled %llu, dropped %llu, tls failed %llu\n",
            (unsigned long long)st->accepted, (unsigned long long)st->refused,
            (unsigned long long)st->completed, (unsigned long long)st->errors,
            (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled,
            (unsigned long long)st->dropped, (unsigned long long)st->tls_failed);
}

/* Serve until stopped, then close everything (the final counters land in
 * *final). Returns the exit status. */
static int run(ss_server *srv, const struct cli_opts *opts, struct room *room, const ss_stats *final)
{
    struct console *con = NULL;
    int rc = signals_start(srv, opts->drain);

    if (rc < 0) {
        cli_error("cannot start: %s", ss_strerror(rc));
        ss_server_close(srv);
        room_stop(room);
        return EXIT_NOLISTEN;
    }
    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    if (room && console_wanted())
        con = console_start(srv, room, opts->drain);
    rc = ss_serve_forever(srv, 0.5);
    if (rc < 0)
        cli_error("cannot serve: %s", ss_strerror(rc));
    console_stop(con);
    signals_stop();
    ss_server_close(srv);
    room_stop(room);
    report_stats(final);
    return rc < 0 ? EXIT_NOLISTEN : EXIT_STOPPED;
}

/* Create the server (and the chat room) and run it. Returns the exit status. */
static int serve(const struct cli_opts *opts)
{
    struct app app = { .max_line = opts->max_line, .allow = opts->allow };
    ss_stats final;
    const ss_config cfg = {
        .listen = opts->listen,
        .handler = opts->cmd == CMD_CHAT ? &chat_handler : &echo_handler,
        .strategy = opts->strategy,
        .userdata = &app,
        .allow_reuse_address = true,
        .wbufsize = 0,
        .max_packet_size = ECHO_MAX_PACKET,
        .workers = opts->workers,
        .max_connections = opts->max_connections,
        /* Forking: one process per client, so the two limits agree. */
        .max_children = opts->strategy == SS_FORKING ? opts->max_connections : 0,
        .request_timeout = opts->timeout,
        .socket_mode = opts->socket_mode,
        .tls_cert = opts->tls_cert,
        .tls_key = opts->tls_key,
        .tls_client_ca = opts->tls_client_ca,
        .tls_alpn = opts->tls_alpn,
        .final_stats = &final,
        .verify_request = opts->allow ? verify_client : NULL,
        .service_actions = signals_service, /* what SIGHUP asked for */
    };
    ss_server *srv = ss_server_new(&cfg);
    if (!srv) {
        report_listen_error(opts->listen, errno);
        return EXIT_NOLISTEN;
    }
    if (opts->cmd == CMD_CHAT) {
        if (!is_stream_socket(srv)) {
            cli_error("chat needs a stream transport (tcp://, tls:// or unix:), not '%s'",
                      opts->listen);
            fputs("Try 'sockserv --help'.\n", stderr);
            ss_server_close(srv);
            return EXIT_USAGE;
        }
        app.room = room_start(opts->max_line, CHAT_BACKLOG);
        if (!app.room && errno == EMSGSIZE) {
            cli_error("cannot start the chat room: a line of %zu bytes does not fit the socket "
                      "buffer the system grants (net.core.wmem_max); use a lower --max-line",
                      opts->max_line);
            ss_server_close(srv);
            return EXIT_NOLISTEN;
        }
        if (!app.room) {
            cli_error("cannot start the chat room: %s", strerror(errno));
            ss_server_close(srv);
            return EXIT_NOLISTEN;
        }
    }
    return run(srv, opts, app.room, &final);
}

int main(int argc, char **argv)
{
    struct cli_opts opts;

    signals_init();
    int status = cli_parse(argc, argv, &opts);
    if (status < 0)
        status = serve(&opts);
    cli_free(&opts);
    return status;
}
