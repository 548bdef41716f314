/* option_table.h: the program's options, listed once: getopt_long's table, --help's text and (checked by a test) the man page's OPTIONS come from here. */
#ifndef SOCKSERV_OPTION_TABLE_H
#define SOCKSERV_OPTION_TABLE_H

#include "cli.h"

/* The concurrency modes are the library's strategies, by their names. */
#define DEFAULT_MODE SS_THREADING
/* The most --workers and --max-connections take. */
#define MAX_WORKERS 1024
#define MAX_CONNECTIONS_LIMIT 1000000
/* --trusted-proxies by default (the library's default too). */
#define DEFAULT_TRUSTED_PROXIES "127.0.0.0/8,::1"

/*
 * The options, in the order --help lists them: the one list that
 * getopt_long's table, the --help text and the man page's OPTIONS come
 * from (tests/cli/test_manpages.py checks sockserv.1 against --help). An
 * entry is X(id, long name, short name or 0, the value's name or NULL for
 * an option without one, the description: a printf format and its
 * arguments, one paragraph that --help wraps). Every option applies to
 * both commands but --room (chat only).
 */
#define OPTION_LIST(X)                                                                             \
    X(OPT_LISTEN, "listen", 0, "URL",                                                              \
      "where to listen (default %s: this machine only); may be given up to %d times: one "         \
      "process serves every address; not with sockets passed by systemd, which are served "        \
      "instead", DEFAULT_LISTEN, MAX_LISTENERS)                                                    \
    X(OPT_TLS_CERT, "tls-cert", 0, "FILE",                                                         \
      "tls:// only, and required there: the server's certificate, PEM, followed by the "           \
      "certificates of its chain if any; read at start and again at SIGHUP (with sockets passed "  \
      "by systemd: their TCP ones speak TLS)")                                                     \
    X(OPT_TLS_KEY, "tls-key", 0, "FILE",                                                           \
      "tls:// only, and required there: the certificate's private key, PEM, not encrypted; read "  \
      "at start and again at SIGHUP")                                                              \
    X(OPT_TLS_CLIENT_CA, "tls-client-ca", 0, "FILE",                                               \
      "tls:// only: ask each client for a certificate and refuse one that sends none or one "      \
      "these CA certificates (PEM) did not sign (mutual TLS); read at start and again at SIGHUP")  \
    X(OPT_TLS_ALPN, "tls-alpn", 0, "LIST",                                                         \
      "tls:// only: the ALPN protocols to offer, comma-separated, in order of preference (e.g. "   \
      "h2,http/1.1); a client that offers ALPN but none of these is refused (default: no ALPN)")   \
    X(OPT_MODE, "mode", 0, "MODE", "how requests run concurrently (default %s)",                   \
      ss_strategy_name(DEFAULT_MODE))                                                              \
    X(OPT_MAX_LINE, "max-line", 0, "BYTES",                                                        \
      "the longest line, its '\\n' or '\\r\\n' excluded (echo: default %zu, at most %zu; "         \
      "chat: default %zu, at most %zu); a client sending a longer one is disconnected",            \
      ECHO_MAX_LINE, ECHO_MAX_LINE_LIMIT, CHAT_MAX_LINE, CHAT_MAX_LINE_LIMIT)                      \
    X(OPT_MAX_CONNECTIONS, "max-connections", 0, "N",                                              \
      "serve at most N clients at once, 1 to %d; more wait to be accepted (default %d, fewer "     \
      "if the open-file limit is lower; more than the limit holds is refused); in forking "        \
      "mode, also the most request processes at once; each --listen has its own N",               \
      MAX_CONNECTIONS_LIMIT, DEFAULT_MAX_CONNECTIONS)                                              \
    X(OPT_TIMEOUT, "timeout", 0, "SECS",                                                           \
      "disconnect a client whose line (or datagram read) is not complete within SECS, or that "    \
      "takes no output for SECS (default 0: no limit; else at least %g)", MIN_SECONDS)             \
    X(OPT_ALLOW, "allow", 0, "CIDR[,CIDR...]",                                                     \
      "serve only clients in these IPv4/IPv6 ranges (e.g. 127.0.0.1/32,::1/128); others are "      \
      "closed at once; may be repeated; tcp://, tls:// and udp:// only (and unix: with "           \
      "--proxy-protocol)")                                                                         \
    X(OPT_SOCKET_MODE, "socket-mode", 0, "OCTAL",                                                  \
      "the Unix socket file's permissions, 1 to 0777, e.g. 0660 (unix: and unix-dgram: with a "    \
      "path only; default: the umask's)")                                                          \
    X(OPT_DRAIN, "drain", 0, "SECS",                                                               \
      "at SIGINT/SIGTERM, give requests in flight up to SECS seconds to finish, then cut them "    \
      "short (default %g; 0 or at least %g)", DEFAULT_DRAIN, MIN_SECONDS)                          \
    X(OPT_WORKERS, "workers", 0, "N",                                                              \
      "pool: worker threads (default 2 x CPUs); event: event loops, one thread each (default: "    \
      "one per CPU); 1 to %d", MAX_WORKERS)                                                        \
    X(OPT_PROCESSES, "processes", 0, "N",                                                          \
      "serve with N worker processes, 1 to %d, each in --mode, under a supervisor that makes the " \
      "listeners, restarts a worker that dies and replaces them all at SIGHUP without refusing a " \
      "connection (default: one process, no supervisor); chat: above 1 with --room only",         \
      MAX_PROCESSES)                                                                               \
    X(OPT_ROOM, "room", 0, "URL",                                                                  \
      "chat only: share the room through a Redis pub/sub channel, URL redis://HOST:PORT[/CHANNEL] "\
      "(default channel %s; a host name is looked up once, at start): every member of every "      \
      "process on the channel sees every line, in one order; while Redis cannot be reached the "   \
      "room serves this process's members alone, and reconnects", ROOM_DEFAULT_CHANNEL)           \
    X(OPT_USER, "user", 0, "NAME[:GROUP]",                                                         \
      "once every listener is bound (a port below 1024 too), serve as user NAME and group GROUP "  \
      "(default: NAME's group), with no supplementary group; a Unix socket file made is "          \
      "given to them first")                                                                       \
    X(OPT_PROXY_PROTOCOL, "proxy-protocol", 0, NULL,                                               \
      "every connection starts with a PROXY protocol header (v1 or v2, as HAProxy sends it) "      \
      "from a trusted proxy: the client it names is the one --allow and chat see; a connection "   \
      "without one is refused (stream listeners only)")                                            \
    X(OPT_TRUSTED_PROXIES, "trusted-proxies", 0, "CIDR[,CIDR...]",                                 \
      "with --proxy-protocol: the proxies' addresses (default %s); a header from any other "       \
      "source is refused", DEFAULT_TRUSTED_PROXIES)                                                \
    X(OPT_METRICS, "metrics", 0, "URL",                                                           \
      "also answer HTTP GET /metrics on URL (tcp://HOST:PORT) with the counters in Prometheus's "  \
      "text format (with --processes: summed over the workers); any other path gets 404")         \
    X(OPT_LOG_FORMAT, "log-format", 0, "FORMAT",                                                   \
      "the messages on stderr: text (default: 'sockserv: ...' lines) or json (one object a line: " \
      "time, level, event, msg, and the listener, client and figures the event has)")             \
    X(OPT_QUIET, "quiet", 'q', NULL, "print errors only on stderr (not with --verbose)")           \
    X(OPT_VERBOSE, "verbose", 'v', NULL,                                                           \
      "also print a line for each connection: opened (its client), closed (its duration and "      \
      "bytes in and out)")                                                                         \
    X(OPT_HELP, "help", 'h', NULL, "print this help and exit")                                     \
    X(OPT_VERSION, "version", 0, NULL, "print the version and exit")

enum opt_id {
#define OPTION_ID(id, ...) id,
    OPTION_LIST(OPTION_ID)
#undef OPTION_ID
    NOPTIONS
};

/* An option's names and value, as getopt_long and --help show them. */
struct option_def {
    const char *name;        /* the long name, without "--" */
    char short_name;         /* or 0 */
    const char *value;       /* the value's name in --help, or NULL: no value */
};
extern const struct option_def cli_options[NOPTIONS];

/* Whether an option is one that ends the program at once (--help,
 * --version): the synopsis lists those apart, and they need no command. */
static inline bool option_alone(enum opt_id id)
{
    return id == OPT_HELP || id == OPT_VERSION;
}

#endif
