/* options.c: the sockserv command line: parsing, checking, --help and --version. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "allow.h"
#include "cli.h"

/* The concurrency modes are the library's strategies, by their names. */
#define DEFAULT_MODE SS_THREADING

/* The options (every one applies to both commands). */
enum opt_id {
    OPT_LISTEN, OPT_MODE, OPT_MAX_LINE, OPT_DRAIN, OPT_WORKERS, OPT_MAX_CONNECTIONS,
    OPT_TIMEOUT, OPT_ALLOW, OPT_SOCKET_MODE, OPT_HELP, OPT_VERSION
};
static const struct option_def {
    const char *name;
    enum opt_id id;
    bool takes_value;
} options[] = {
    { "--listen", OPT_LISTEN, true },
    { "--mode", OPT_MODE, true },
    { "--max-line", OPT_MAX_LINE, true },
    { "--drain", OPT_DRAIN, true },
    { "--workers", OPT_WORKERS, true },
    { "--max-connections", OPT_MAX_CONNECTIONS, true },
    { "--timeout", OPT_TIMEOUT, true },
    { "--allow", OPT_ALLOW, true },
    { "--socket-mode", OPT_SOCKET_MODE, true },
    { "--help", OPT_HELP, false },
    { "-h", OPT_HELP, false },
    { "--version", OPT_VERSION, false },
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* Write msg to f with every byte that is not printable ASCII, and every
 * backslash, as \xNN. */
static void put_escaped(FILE *f, const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p >= 0x7F || *p == '\\')
            fprintf(f, "\\x%02x", *p);
        else
            putc(*p, f);
    }
}

/* "sockserv: MESSAGE\n", the message escaped, then the hint if any: put
 * together in memory and written at once, so that lines of other threads
 * and processes never cut into it. */
static void report(const char *hint, const char *fmt, va_list ap)
{
    char *msg = NULL, *line = NULL;
    size_t len = 0;

    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    FILE *m = open_memstream(&line, &len);
    if (m) {
        fputs("sockserv: ", m);
        put_escaped(m, msg ? msg : fmt); /* out of memory: the bare format */
        fprintf(m, "\n%s", hint ? hint : "");
        if (fclose(m) == 0)
            fwrite(line, 1, len, stderr);
    }
    free(line);
    free(msg);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(NULL, fmt, ap);
    va_end(ap);
}

/* Report a usage error with the hint; returns the usage exit status. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("Try 'sockserv --help'.\n", fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

static void print_help(void)
{
    printf("Usage: sockserv echo|chat [--listen URL] [--mode MODE] [--max-line BYTES]\n"
           "                     [--max-connections N] [--timeout SECS] [--allow CIDR[,CIDR...]]\n"
           "                     [--socket-mode OCTAL] [--drain SECS] [--workers N]\n"
           "       sockserv --help | --version\n"
           "\n"
           "Commands:\n"
           "  echo   send each line back to its client, byte for byte; on a datagram\n"
           "         transport, send each datagram back whole to its sender\n"
           "  chat   deliver every line a client sends to every connected client as\n"
           "         'HOST:PORT TEXT' (the server names the sender; control characters,\n"
           "         bidirectional overrides and invalid UTF-8 in TEXT become U+FFFD);\n"
           "         a line 'quit' or end of input leaves, a line over --max-line bytes\n"
           "         disconnects, so does a client that lets more than %zu bytes of\n"
           "         its messages pile up (stream transports only); on a terminal,\n"
           "         in the foreground, an admin console reads stdin: 'quit' stops\n"
           "         the server, any other line lists the clients\n"
           "\n"
           "Options (--opt VALUE or --opt=VALUE):\n"
           "  --listen URL       where to listen (default %s: this machine only)\n"
           "  --mode MODE        how requests run concurrently (default threading)\n"
           "  --max-line BYTES   the longest line, its '\\n' or '\\r\\n' excluded (echo:\n"
           "                     default %zu, at most %zu; chat: default %zu,\n"
           "                     at most %zu); a client sending a longer one is\n"
           "                     disconnected\n"
           "  --max-connections N  serve at most N clients at once; more wait to be\n"
           "                     accepted (default %d, fewer if the open-file limit\n"
           "                     is lower); in forking mode, also the most request\n"
           "                     processes at once\n"
           "  --timeout SECS     disconnect a client whose line (or datagram read) is\n"
           "                     not complete within SECS, or that takes no output\n"
           "                     for SECS (default 0: no limit; else at least %g)\n"
           "  --allow CIDR[,CIDR...]  serve only clients in these IPv4/IPv6 ranges\n"
           "                     (e.g. 127.0.0.1/32,::1/128); others are closed at once;\n"
           "                     may be repeated; tcp:// and udp:// only\n"
           "  --socket-mode OCTAL  the Unix socket file's permissions, e.g. 0660 (unix:\n"
           "                     and unix-dgram: with a path only; default: the umask's)\n"
           "  --drain SECS       at SIGINT/SIGTERM, give requests in flight up to SECS\n"
           "                     seconds to finish, then cut them short (default %g;\n"
           "                     0 or at least %g)\n"
           "  --workers N        pool: worker threads (default 2 x CPUs); event: event\n"
           "                     loops, one thread each (default: one per CPU)\n"
           "  --help             print this help and exit\n"
           "  --version          print the version and exit\n"
           "\n"
           "URL:\n"
           "  tcp://HOST:PORT  tcp://[V6ADDR]:PORT  udp://HOST:PORT  udp://[V6ADDR]:PORT\n"
           "  unix:PATH  unix-dgram:PATH   (a PATH starting with @ is abstract)\n"
           "  Port 0 picks a free port.\n"
           "\n"
           "MODE:\n"
           " ",
           CHAT_BACKLOG, DEFAULT_LISTEN, ECHO_MAX_LINE, ECHO_MAX_LINE_LIMIT, CHAT_MAX_LINE,
           CHAT_MAX_LINE_LIMIT, DEFAULT_MAX_CONNECTIONS, MIN_SECONDS, DEFAULT_DRAIN, MIN_SECONDS);
    for (ss_strategy m = 0; ss_strategy_name(m); m++)
        printf(" %s", ss_strategy_name(m));
    printf("\n"
           "\n"
           "Once bound, prints one line on stdout: 'listening on URL' (the bound\n"
           "address: port resolved, IPv6 in brackets). At exit, prints one line on\n"
           "stderr: 'sockserv: stopped: accepted A, refused R, completed C, errors E,\n"
           "accept errors X, cancelled K, dropped D' (D: datagram replies a client\n"
           "could not take at once, dropped as UDP would).\n"
           "\n"
           "Signals:\n"
           "  SIGINT, SIGTERM  stop: refuse new clients, give requests in flight up to\n"
           "                   --drain seconds, remove the Unix socket file, exit 0\n"
           "  SIGUSR1          print the counters as one JSON line on stderr (keys\n"
           "                   accepted, refused, completed, errors, accept_errors,\n"
           "                   cancelled, dropped, active, threads, children);\n"
           "                   serving goes on\n"
           "  SIGHUP           ignored for now (reserved: it will mean 'reload')\n"
           "  SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,\n"
           "  SIGXFSZ (a write past the file size limit fails instead), SIGTTIN,\n"
           "  SIGTTOU (the terminal is used only in the foreground)  ignored\n"
           "\n"
           "Exit status:\n"
           "  0  stopped normally (SIGINT, SIGTERM or the console's 'quit')\n"
           "  1  cannot listen (address in use, permission denied, no such directory...)\n"
           "  2  bad usage (unknown command or option, malformed URL, bad mode or number)\n");
}

/* A positive integer of decimal digits that fits a size_t below SIZE_MAX. */
static int parse_size(const char *s, size_t *out)
{
    uintmax_t v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (SIZE_MAX - 1 - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v == 0)
        return -EINVAL;
    *out = (size_t)v;
    return 0;
}

/* A non-negative decimal number of seconds: digits with an optional fraction. */
static int parse_seconds(const char *s, double *out)
{
    size_t digits = 0, dots = 0;
    char *end;

    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots == 0)
            dots++;
        else
            return -EINVAL;
    }
    if (digits == 0)
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v > 1e9)   /* more than 30 years: an overflow */
        return -ERANGE;
    *out = v;
    return 0;
}

/* Permission bits in octal: 1 to 4 digits, 1 to 0777. */
static int parse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 4)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return -EINVAL;
        v = v * 8 + (unsigned)(*s - '0');
    }
    if (v == 0 || v > 0777)
        return -EINVAL;
    *out = v;
    return 0;
}

/* --timeout and --drain: seconds, 0 or from MIN_SECONDS (a shorter time
 * would be rounded differently by each mode's clock); returns -1 or the
 * usage exit status. */
static int apply_seconds(const char *name, const char *value, double *out)
{
    int rc = parse_seconds(value, out);

    if (rc == -ERANGE)
        return usage_error("invalid %s '%s': too large", name, value);
    if (rc < 0)
        return usage_error("invalid %s '%s': expected a non-negative number of seconds "
                           "(digits with an optional fraction, e.g. 2.5)", name, value);
    if (*out > 0 && *out < MIN_SECONDS)
        return usage_error("invalid %s '%s': must be 0 or at least %g", name, value, MIN_SECONDS);
    return -1;
}

static bool datagram_url(const char *url)
{
    return strncasecmp(url, "udp://", 6) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}

/* Apply one option with its value; returns -1 or an exit status. */
static int apply_option(const struct option_def *def, const char *value, struct cli_opts *o)
{
    int rc;

    switch (def->id) {
    case OPT_HELP:
        print_help();
        return EXIT_STOPPED;
    case OPT_VERSION:
        printf("sockserv %s\n", ss_version());
        return EXIT_STOPPED;
    case OPT_LISTEN:
        o->listen = value;
        return -1;
    case OPT_MODE: {
        char names[128] = "";
        if (ss_strategy_from_name(value, &o->strategy) == 0)
            return -1;
        for (ss_strategy m = 0; ss_strategy_name(m); m++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "",
                     ss_strategy_name(m));
        return usage_error("invalid --mode '%s': use one of %s", value, names);
    }
    case OPT_WORKERS: {
        size_t n;
        rc = parse_size(value, &n);
        if (rc < 0 || n > 1024)
            return usage_error("invalid --workers '%s': expected an integer from 1 to 1024", value);
        o->workers = (int)n;
        return -1;
    }
    case OPT_MAX_LINE: {
        bool chat = o->cmd == CMD_CHAT;
        size_t limit = chat ? CHAT_MAX_LINE_LIMIT : ECHO_MAX_LINE_LIMIT;
        rc = parse_size(value, &o->max_line);
        if (rc == -ERANGE || (rc == 0 && o->max_line > limit))
            return usage_error("invalid --max-line '%s': %s lines can be at most %zu bytes", value,
                               chat ? "chat" : "echo", limit);
        if (rc < 0)
            return usage_error("invalid --max-line '%s': expected a positive integer", value);
        return -1;
    }
    case OPT_MAX_CONNECTIONS: {
        size_t n;
        rc = parse_size(value, &n);
        if (rc < 0 || n > 1000000)
            return usage_error("invalid --max-connections '%s': expected an integer from 1 to 1000000",
                               value);
        o->max_connections = (int)n;
        return -1;
    }
    case OPT_TIMEOUT:
        return apply_seconds(def->name, value, &o->timeout);
    case OPT_ALLOW: {
        const char *why = NULL;
        if (!o->allow && !(o->allow = allow_new())) {
            cli_error("out of memory");
            return EXIT_NOLISTEN;
        }
        if (allow_add(o->allow, value, &why) < 0)
            return usage_error("invalid --allow '%s': %s", value, why);
        return -1;
    }
    case OPT_SOCKET_MODE:
        rc = parse_mode(value, &o->socket_mode);
        if (rc < 0)
            return usage_error("invalid --socket-mode '%s': expected an octal mode from 1 to 0777, "
                               "e.g. 0660", value);
        return -1;
    case OPT_DRAIN:
        return apply_seconds(def->name, value, &o->drain);
    }
    return -1;
}

/* Find the option named by arg (up to '=' when there is one). */
static const struct option_def *find_option(const char *arg, size_t namelen)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].name) == namelen && strncmp(options[i].name, arg, namelen) == 0)
            return &options[i];
    return NULL;
}

static bool unix_url(const char *url)
{
    return strncasecmp(url, "unix:", 5) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}

/* 10000 connections, fewer when the open-file limit is lower: each takes
 * a descriptor (two in chat: the room holds one), and the server keeps a
 * few dozen for itself. */
static int default_max_connections(enum cli_command cmd, int workers)
{
    struct rlimit rl;
    long limit = DEFAULT_MAX_CONNECTIONS;
    /* Compared as rlim_t first: a limit past LONG_MAX is no limit here. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)DEFAULT_MAX_CONNECTIONS * 4) {
        long spare = (long)rl.rlim_cur - 64 - 2L * workers;
        long fit = cmd == CMD_CHAT ? spare / 2 : spare;
        if (fit < limit)
            limit = fit;
    }
    return limit > 0 ? (int)limit : 1;
}

/* The checks that need every option: the URL, chat's transport, options
 * that need a kind of URL; then the defaults that depend on the command. */
static int check_all(struct cli_opts *o)
{
    const char *why = ss_url_error(o->listen);

    if (why)
        return usage_error("invalid --listen URL '%s': %s", o->listen, why);
    if (o->cmd == CMD_CHAT && datagram_url(o->listen))
        return usage_error("chat needs a stream transport (tcp:// or unix:), not '%s'", o->listen);
    bool is_unix = unix_url(o->listen);
    if (o->allow && is_unix)
        return usage_error("--allow applies to tcp:// and udp:// addresses, not '%s'", o->listen);
    if (o->socket_mode && (!is_unix || strchr(o->listen, ':')[1] == '@'))
        return usage_error("--socket-mode needs a Unix socket file (unix:PATH or unix-dgram:PATH), "
                           "not '%s'", o->listen);
    if (o->max_line == 0)
        o->max_line = o->cmd == CMD_CHAT ? CHAT_MAX_LINE : ECHO_MAX_LINE;
    if (o->max_connections == 0)
        o->max_connections = default_max_connections(o->cmd, o->workers);
    return -1;
}

void cli_free(struct cli_opts *o)
{
    allow_free(o->allow);
    o->allow = NULL;
}

int cli_parse(int argc, char **argv, struct cli_opts *o)
{

    *o = (struct cli_opts){ .cmd = CMD_NONE, .listen = DEFAULT_LISTEN, .strategy = DEFAULT_MODE,
                            .drain = DEFAULT_DRAIN };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (arg[0] != '-' || arg[1] == '\0') {
            if (o->cmd != CMD_NONE)
                return usage_error("unexpected argument '%s'", arg);
            if (strcmp(arg, "echo") == 0)
                o->cmd = CMD_ECHO;
            else if (strcmp(arg, "chat") == 0)
                o->cmd = CMD_CHAT;
            else
                return usage_error("unknown command '%s'", arg);
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct option_def *def = find_option(arg, namelen);
        if (!def)
            return usage_error("unknown option '%.*s'", (int)namelen, arg);
        const char *value = ""; /* options without a value ignore it */
        if (def->takes_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error("option '%s' needs a value", def->name);
        } else if (eq) {
            return usage_error("option '%s' takes no value", def->name);
        }
        if (def->takes_value && o->cmd == CMD_NONE)
            return usage_error("option '%s' must follow a command (echo or chat)", def->name);
        int rc = apply_option(def, value, o);
        if (rc >= 0)
            return rc;
    }
    if (o->cmd == CMD_NONE)
        return usage_error("missing command (echo or chat)");
    return check_all(o);
}
