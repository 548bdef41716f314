/* options.c: the sockserv command line: parsing, checking, --help and --version. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* The concurrency modes: adding one is adding a line here. */
static const struct mode {
    const char *name;
    ss_strategy strategy;
} modes[] = {
    { "sync", SS_SYNC },
    { "threading", SS_THREADING },
    { "forking", SS_FORKING },
    { "pool", SS_POOL },
    { "event", SS_EVENT },
};
#define NMODES (sizeof modes / sizeof modes[0])
#define DEFAULT_MODE SS_THREADING

/* The options; `echo_only` ones are refused by chat. */
enum opt_id { OPT_LISTEN, OPT_MODE, OPT_MAX_LINE, OPT_DRAIN, OPT_WORKERS, OPT_HELP, OPT_VERSION };
static const struct option_def {
    const char *name;
    enum opt_id id;
    bool takes_value;
    bool echo_only;
} options[] = {
    { "--listen", OPT_LISTEN, true, false },
    { "--mode", OPT_MODE, true, false },
    { "--max-line", OPT_MAX_LINE, true, true },
    { "--drain", OPT_DRAIN, true, false },
    { "--workers", OPT_WORKERS, true, false },
    { "--help", OPT_HELP, false, false },
    { "-h", OPT_HELP, false, false },
    { "--version", OPT_VERSION, false, false },
};
#define NOPTIONS (sizeof options / sizeof options[0])

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("sockserv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Report a usage error with the hint; returns the usage exit status. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("sockserv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'sockserv --help'.\n", stderr);
    return EXIT_USAGE;
}

static void print_help(void)
{
    printf("Usage: sockserv echo [--listen URL] [--mode MODE] [--max-line BYTES] [--drain SECS]\n"
           "                     [--workers N]\n"
           "       sockserv chat [--listen URL] [--mode MODE] [--drain SECS] [--workers N]\n"
           "       sockserv --help | --version\n"
           "\n"
           "Commands:\n"
           "  echo   send each line back to its client, byte for byte; on a datagram\n"
           "         transport, send each datagram back whole to its sender\n"
           "  chat   deliver every line a client sends to every connected client as\n"
           "         'HOST:PORT TEXT'; a line 'quit' or end of input leaves, a line\n"
           "         over %zu bytes disconnects, so does a client that lets more\n"
           "         than %zu bytes of its messages pile up (stream transports\n"
           "         only); on a terminal, an admin console reads stdin:\n"
           "         'quit' stops the server, any other line lists the clients\n"
           "\n"
           "Options (--opt VALUE or --opt=VALUE):\n"
           "  --listen URL      where to listen (default %s)\n"
           "  --mode MODE       how requests run concurrently (default threading)\n"
           "  --max-line BYTES  echo: the longest line, '\\n' excluded (default %zu);\n"
           "                    a client sending a longer one is disconnected\n"
           "  --drain SECS      at SIGINT/SIGTERM, give requests in flight up to SECS\n"
           "                    seconds to finish, then cut them short (default %g)\n"
           "  --workers N       pool: worker threads (default 2 x CPUs); event: event\n"
           "                    loops, one thread each (default: one per CPU)\n"
           "  --help            print this help and exit\n"
           "  --version         print the version and exit\n"
           "\n"
           "URL:\n"
           "  tcp://HOST:PORT  tcp://[V6ADDR]:PORT  udp://HOST:PORT  udp://[V6ADDR]:PORT\n"
           "  unix:PATH  unix-dgram:PATH   (a PATH starting with @ is abstract)\n"
           "  Port 0 picks a free port.\n"
           "\n"
           "MODE:\n"
           " ",
           CHAT_MAX_LINE, CHAT_BACKLOG, DEFAULT_LISTEN, DEFAULT_MAX_LINE, DEFAULT_DRAIN);
    for (size_t i = 0; i < NMODES; i++)
        printf(" %s", modes[i].name);
    printf("\n"
           "\n"
           "Once bound, prints one line on stdout: 'listening on URL' (the bound\n"
           "address: port resolved, IPv6 in brackets).\n"
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
    case OPT_MODE:
        for (size_t i = 0; i < NMODES; i++)
            if (strcmp(value, modes[i].name) == 0) {
                o->strategy = modes[i].strategy;
                return -1;
            }
        return usage_error("invalid --mode '%s': use sync, threading, forking, pool or event", value);
    case OPT_WORKERS: {
        size_t n;
        rc = parse_size(value, &n);
        if (rc < 0 || n > 1024)
            return usage_error("invalid --workers '%s': expected an integer from 1 to 1024", value);
        o->workers = (int)n;
        return -1;
    }
    case OPT_MAX_LINE:
        rc = parse_size(value, &o->max_line);
        if (rc == -ERANGE)
            return usage_error("invalid --max-line '%s': too large", value);
        if (rc < 0)
            return usage_error("invalid --max-line '%s': expected a positive integer", value);
        return -1;
    case OPT_DRAIN:
        rc = parse_seconds(value, &o->drain);
        if (rc == -ERANGE)
            return usage_error("invalid --drain '%s': too large", value);
        if (rc < 0)
            return usage_error("invalid --drain '%s': expected a non-negative number of seconds",
                               value);
        return -1;
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

/* The checks that need every option: the URL, and chat's transport. */
static int check_all(const struct cli_opts *o)
{
    const char *why = ss_url_error(o->listen);

    if (why)
        return usage_error("invalid --listen URL '%s': %s", o->listen, why);
    if (o->cmd == CMD_CHAT && datagram_url(o->listen))
        return usage_error("chat needs a stream transport (tcp:// or unix:), not '%s'", o->listen);
    return -1;
}

int cli_parse(int argc, char **argv, struct cli_opts *o)
{
    const char *cmdname = NULL;

    *o = (struct cli_opts){ .cmd = CMD_NONE, .listen = DEFAULT_LISTEN, .strategy = DEFAULT_MODE,
                            .max_line = DEFAULT_MAX_LINE, .drain = DEFAULT_DRAIN };
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
            cmdname = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct option_def *def = find_option(arg, namelen);
        if (!def)
            return usage_error("unknown option '%.*s'", (int)namelen, arg);
        const char *value = NULL;
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
        if (def->echo_only && o->cmd != CMD_ECHO)
            return usage_error("option '%s' does not apply to '%s'", def->name, cmdname);
        int rc = apply_option(def, value, o);
        if (rc >= 0)
            return rc;
    }
    if (o->cmd == CMD_NONE)
        return usage_error("missing command (echo or chat)");
    return check_all(o);
}
