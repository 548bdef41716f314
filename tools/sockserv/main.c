/* main.c: the sockserv program: server set-up, signals, the ready line, serving and exit. */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allow.h"
#include "cli.h"
#include "room.h"

/* What SIGINT and SIGTERM stop; NULL once the server is being closed.
 * signals_busy counts handlers running, so main can wait them out. */
static _Atomic(ss_server *) stop_target;
static atomic_int signals_busy;
static double stop_drain;
static pid_t server_pid;

/* In a forked request process the signal is left to the server process: a
 * terminal's ^C or a service manager's SIGTERM reaches every process of
 * the group, and the server's drain, not the child, decides when a request
 * is cut short. */
static void on_stop_signal(int sig)
{
    int saved = errno;

    (void)sig;
    if (getpid() != server_pid)
        return;
    atomic_fetch_add(&signals_busy, 1);
    ss_server *srv = atomic_load(&stop_target);
    if (srv)
        ss_server_stop(srv, stop_drain);
    atomic_fetch_sub(&signals_busy, 1);
    errno = saved;
}

static void install_signals(ss_server *srv, double drain)
{
    struct sigaction sa;

    stop_drain = drain;
    server_pid = getpid();
    atomic_store(&stop_target, srv);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* After this no signal handler touches the server any more. */
static void forget_signals(void)
{
    atomic_store(&stop_target, NULL);
    while (atomic_load(&signals_busy) > 0)
        sched_yield();
}

static void ignore_sigpipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

/* "cannot listen on URL: reason", the reason as the OS says it, in lower case first. */
static void report_listen_error(const char *url, int err)
{
    char reason[256];

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
            "accept errors %llu, cancelled %llu\n",
            (unsigned long long)st->accepted, (unsigned long long)st->refused,
            (unsigned long long)st->completed, (unsigned long long)st->errors,
            (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled);
}

/* Serve until stopped, then close everything (the final counters land in
 * *final). Returns the exit status. */
static int run(ss_server *srv, const struct cli_opts *opts, struct room *room, const ss_stats *final)
{
    struct console *con = NULL;

    install_signals(srv, opts->drain);
    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    if (room && isatty(STDIN_FILENO))
        con = console_start(srv, room, opts->drain);
    int rc = ss_serve_forever(srv, 0.5);
    if (rc < 0)
        cli_error("cannot serve: %s", ss_strerror(rc));
    console_stop(con);
    forget_signals();
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
        .request_timeout = opts->timeout,
        .socket_mode = opts->socket_mode,
        .final_stats = &final,
        .verify_request = opts->allow ? verify_client : NULL,
    };
    ss_server *srv = ss_server_new(&cfg);
    if (!srv) {
        report_listen_error(opts->listen, errno);
        return EXIT_NOLISTEN;
    }
    if (opts->cmd == CMD_CHAT) {
        if (!is_stream_socket(srv)) {
            cli_error("chat needs a stream transport (tcp:// or unix:), not '%s'", opts->listen);
            fputs("Try 'sockserv --help'.\n", stderr);
            ss_server_close(srv);
            return EXIT_USAGE;
        }
        app.room = room_start(opts->max_line, CHAT_BACKLOG);
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
    int status = cli_parse(argc, argv, &opts);

    if (status < 0) {
        ignore_sigpipe();
        status = serve(&opts);
    }
    cli_free(&opts);
    return status;
}
