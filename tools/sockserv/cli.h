/* cli.h: what the files of the sockserv program share: options, handlers, console. */
#ifndef SOCKSERV_CLI_H
#define SOCKSERV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "room_url.h"
#include "sockserv.h"

struct room;

/* Exit statuses, documented in --help. */
enum {
    EXIT_STOPPED = 0,   /* normal stop: signal or console quit */
    EXIT_NOLISTEN = 1,  /* a server could not be created, the user could
                           not be switched, a worker could not start */
    EXIT_USAGE = 2      /* bad command line (or bad LISTEN_* variables) */
};

enum cli_command { CMD_NONE = 0, CMD_ECHO, CMD_CHAT };

/* The most --listen (and sockets passed by systemd) one process serves,
 * and the most --processes. */
#define MAX_LISTENERS 64
#define MAX_PROCESSES 64

/* --log-format. */
enum log_format { LOG_TEXT = 0, LOG_JSON };

/* --user, resolved when the command line is checked. */
struct cli_user {
    const char *spec;        /* NAME[:GROUP] as given; NULL: no --user */
    char name[64];           /* the user's name, for messages */
    uid_t uid;
    gid_t gid;
};

/* The parsed command line. */
struct cli_opts {
    enum cli_command cmd;
    const char *listen[MAX_LISTENERS]; /* the URLs as given (the default alone
                                          when none was given) */
    size_t nlisten;
    bool listen_given;       /* --listen was on the command line */
    int activated;           /* sockets passed by systemd (fds 3 ..), 0: none */
    ss_strategy strategy;
    size_t max_line;         /* longest text: a line without "\n" or "\r\n" */
    double drain;            /* seconds given to in-flight requests at stop */
    int workers;             /* pool and event: 0 = the library's default */
    int max_connections;     /* 0 until set: then check_max_connections() */
    double timeout;          /* request_timeout; 0 = none */
    unsigned socket_mode;    /* 0 = the umask's */
    ss_cidr *allow;          /* NULL = every client */
    const char *tls_cert;    /* tls:// only: the files, as given (NULL: none) */
    const char *tls_key;
    const char *tls_client_ca;
    const char *tls_alpn;    /* the ALPN list, as given (NULL: no ALPN) */
    bool proxy_protocol;     /* every stream connection starts with a PROXY header */
    const char *trusted_proxies; /* its sources, as given (NULL: loopback) */
    struct cli_user user;    /* --user */
    int processes;           /* worker processes under a supervisor; 0: none */
    const char *room;        /* --room as given, NULL: none */
    struct room_url room_url; /* --room parsed (checks.c), resolved by each
                                 process that starts a room */
    const char *metrics;     /* --metrics URL, NULL: none */
    enum log_format log_format;
    ss_log_level log_level;  /* the least severe level printed */
};

/* What the handlers find through ss_server_userdata(): one per listener. */
struct app {
    size_t max_line;         /* echo and chat */
    struct room *room;       /* chat: one room for every listener */
    const ss_cidr *allow;    /* verify_request: NULL = every client */
    unsigned reloads;        /* the SIGHUPs this listener has acted on */
};

#define DEFAULT_LISTEN "tcp://127.0.0.1:9999"
/* The longest echo line by default, and the largest --max-line echo takes
 * (the read buffer grows up to it only for a client that sends such a line). */
#define ECHO_MAX_LINE ((size_t)1 << 20)
#define ECHO_MAX_LINE_LIMIT ((size_t)1 << 30)
/* At most this many connections at once, fewer when the open-file limit
 * is lower (see check_max_connections in checks.c). */
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_DRAIN 5.0
/* Printed on stderr by default: errors, warnings and the program's own
 * notices (reload, stop); --quiet: errors only; --verbose: info too. */
#define DEFAULT_LOG_LEVEL SS_LOG_WARNING
/* The longest chat line by default, "\n" or "\r\n" excluded; a longer one
 * disconnects its client. */
#define CHAT_MAX_LINE ((size_t)64 << 10)
/* The largest --max-line chat takes. A line goes to the room as one Unix
 * datagram, which must fit the socket's send buffer: Linux grants at most
 * net.core.wmem_max, 212992 by default, doubled (425984 bytes); and, its
 * text grown up to 3 times by the cleaning (chat_line_clean), the line must
 * fit one member's CHAT_BACKLOG. */
#define CHAT_MAX_LINE_LIMIT ((size_t)256 << 10)
/* The most output queued for one chat client beyond what its socket holds. */
#define CHAT_BACKLOG ((size_t)1 << 20)
/* --timeout and --drain: 0, or at least this many seconds. */
#define MIN_SECONDS 0.001
/* The largest datagram the echo command takes. */
#define ECHO_MAX_PACKET ((size_t)64 << 10)

/* options.c: parse argv into *opts, then check it whole (checks.c), which
 * takes the sockets systemd passed (ss_socket_activation). Returns -1 when
 * the program should go on, else the status to exit with (help and version
 * are printed here, usage errors reported on stderr). */
int cli_parse(int argc, char **argv, struct cli_opts *opts);
/* Free what cli_parse allocated. */
void cli_free(struct cli_opts *opts);
/* checks.c: the checks that need the whole command line; -1 or the exit
 * status (the problem reported). */
int cli_check(struct cli_opts *opts);
/* help.c: print --help on stdout. */
void cli_print_help(void);
/* messages.c: print "sockserv: " and the message on stderr, as one line:
 * the bytes of the message that could drive a terminal or blur the line
 * (control bytes, DEL, bytes >= 0x80, backslashes) as \xNN, so that
 * operator- or client-supplied text in it is shown, never obeyed. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_error, then the line "Try 'sockserv --help'."; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_error("%s%s", lead, msg) for a message of the library
 * (ss_last_error()) that starts with the config field it is about:
 * "tls_key: ..." is shown as "--tls-key: ...", the option the user gave. */
void cli_library_error(const char *lead, const char *msg);
/* Whether the URL is a tls:// one; a datagram one (udp://, unix-dgram:);
 * a Unix one (unix:, unix-dgram:). */
bool cli_tls_url(const char *url);
bool cli_datagram_url(const char *url);
bool cli_unix_url(const char *url);

/* echo.c and chat.c: the handlers. */
extern const ss_handler echo_handler;   /* stream or datagram, per request */
extern const ss_handler chat_handler;

/* console.c: the admin console on a terminal (chat only). */
struct console;
/* Whether stdin is a terminal the console may read: one in whose
 * foreground we run, or one that is not our controlling terminal (no job
 * control then). A background job (`sockserv chat &`) gets no console. */
bool console_wanted(void);
/* Start reading lines from stdin in a thread; NULL (with a message) when the
 * thread cannot start. `quit` calls quit(arg) (which stops the servers with
 * the drain, `drain` seconds, named in the console's message); `stats`
 * prints the counters summed over ls's listeners on stdout. */
struct listeners;
struct console *console_start(struct room *room, const struct listeners *ls,
                              void (*quit)(void *arg), void *arg, double drain);
/* Stop the console thread, wait for it and free it. NULL is a no-op. */
void console_stop(struct console *con);

#endif
