/* cli.h: what the files of the sockserv program share: options, handlers, console. */
#ifndef SOCKSERV_CLI_H
#define SOCKSERV_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "sockserv.h"

struct room;

/* Exit statuses, documented in --help. */
enum {
    EXIT_STOPPED = 0,   /* normal stop: signal or console quit */
    EXIT_NOLISTEN = 1,  /* the server could not be created */
    EXIT_USAGE = 2      /* bad command line */
};

enum cli_command { CMD_NONE = 0, CMD_ECHO, CMD_CHAT };

/* The parsed command line. */
struct cli_opts {
    enum cli_command cmd;
    const char *listen;      /* the URL as given */
    ss_strategy strategy;
    size_t max_line;         /* longest text: a line without "\n" or "\r\n" */
    double drain;            /* seconds given to in-flight requests at stop */
    int workers;             /* pool and event: 0 = the library's default */
    int max_connections;     /* 0 until set: then default_max_connections() */
    double timeout;          /* request_timeout; 0 = none */
    unsigned socket_mode;    /* 0 = the umask's */
    struct allow_list *allow; /* NULL = every client */
    const char *tls_cert;    /* tls:// only: the files, as given (NULL: none) */
    const char *tls_key;
    const char *tls_client_ca;
    const char *tls_alpn;    /* the ALPN list, as given (NULL: no ALPN) */
};

/* What the handlers find through ss_server_userdata(). */
struct app {
    size_t max_line;         /* echo and chat */
    struct room *room;       /* chat */
    const struct allow_list *allow; /* verify_request: NULL = every client */
};

#define DEFAULT_LISTEN "tcp://127.0.0.1:9999"
/* The longest echo line by default, and the largest --max-line echo takes
 * (the read buffer grows up to it only for a client that sends such a line). */
#define ECHO_MAX_LINE ((size_t)1 << 20)
#define ECHO_MAX_LINE_LIMIT ((size_t)1 << 30)
/* At most this many connections at once, fewer when the open-file limit
 * is lower (see default_max_connections in options.c). */
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_DRAIN 5.0
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

/* options.c: parse argv into *opts. Returns -1 when the program should go
 * on, else the status to exit with (help and version are printed here,
 * usage errors reported on stderr). */
int cli_parse(int argc, char **argv, struct cli_opts *opts);
/* Free what cli_parse allocated. */
void cli_free(struct cli_opts *opts);
/* Print "sockserv: " and the message on stderr, as one line: the bytes of
 * the message that could drive a terminal or blur the line (control bytes,
 * DEL, bytes >= 0x80, backslashes) as \xNN, so that operator- or
 * client-supplied text in it is shown, never obeyed. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_error("%s%s", lead, msg) for a message of the library
 * (ss_last_error()) that starts with the config field it is about:
 * "tls_key: ..." is shown as "--tls-key: ...", the option the user gave. */
void cli_library_error(const char *lead, const char *msg);
/* Whether the URL is a tls:// one. */
bool cli_tls_url(const char *url);

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
 * thread cannot start. `quit` calls ss_server_stop(srv, drain). */
struct console *console_start(ss_server *srv, struct room *room, double drain);
/* Stop the console thread, wait for it and free it. NULL is a no-op. */
void console_stop(struct console *con);

#endif
