/* options.c: the sockserv command line: parsing, checking, --help and --version. */
#include <errno.h>
#include <getopt.h>
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
/* The most --workers and --max-connections take. */
#define MAX_WORKERS 1024
#define MAX_CONNECTIONS_LIMIT 1000000

/*
 * The options, in the order --help lists them: the one list that
 * getopt_long's table, the --help text and the man page's OPTIONS come
 * from (tests/cli/test_manpages.py checks sockserv.1 against --help). An
 * entry is X(id, long name, short name or 0, the value's name or NULL for
 * an option without one, the description: a printf format and its
 * arguments, one paragraph that --help wraps). Every option applies to
 * both commands.
 */
#define OPTION_LIST(X)                                                                             \
    X(OPT_LISTEN, "listen", 0, "URL", "where to listen (default %s: this machine only)",           \
      DEFAULT_LISTEN)                                                                              \
    X(OPT_TLS_CERT, "tls-cert", 0, "FILE",                                                         \
      "tls:// only, and required there: the server's certificate, PEM, followed by the "           \
      "certificates of its chain if any; read at start and again at SIGHUP")                       \
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
      "if the open-file limit is lower); in forking mode, also the most request processes "        \
      "at once", MAX_CONNECTIONS_LIMIT, DEFAULT_MAX_CONNECTIONS)                                   \
    X(OPT_TIMEOUT, "timeout", 0, "SECS",                                                           \
      "disconnect a client whose line (or datagram read) is not complete within SECS, or that "    \
      "takes no output for SECS (default 0: no limit; else at least %g)", MIN_SECONDS)             \
    X(OPT_ALLOW, "allow", 0, "CIDR[,CIDR...]",                                                     \
      "serve only clients in these IPv4/IPv6 ranges (e.g. 127.0.0.1/32,::1/128); others are "      \
      "closed at once; may be repeated; tcp://, tls:// and udp:// only")                           \
    X(OPT_SOCKET_MODE, "socket-mode", 0, "OCTAL",                                                  \
      "the Unix socket file's permissions, 1 to 0777, e.g. 0660 (unix: and unix-dgram: with a "    \
      "path only; default: the umask's)")                                                          \
    X(OPT_DRAIN, "drain", 0, "SECS",                                                               \
      "at SIGINT/SIGTERM, give requests in flight up to SECS seconds to finish, then cut them "    \
      "short (default %g; 0 or at least %g)", DEFAULT_DRAIN, MIN_SECONDS)                          \
    X(OPT_WORKERS, "workers", 0, "N",                                                              \
      "pool: worker threads (default 2 x CPUs); event: event loops, one thread each (default: "    \
      "one per CPU); 1 to %d", MAX_WORKERS)                                                        \
    X(OPT_HELP, "help", 'h', NULL, "print this help and exit")                                     \
    X(OPT_VERSION, "version", 0, NULL, "print the version and exit")

enum opt_id {
#define OPTION_ID(id, ...) id,
    OPTION_LIST(OPTION_ID)
#undef OPTION_ID
    NOPTIONS
};

static const struct option_def {
    const char *name;        /* the long name, without "--" */
    char short_name;         /* or 0 */
    const char *value;       /* the value's name in --help, or NULL: no value */
} options[NOPTIONS] = {
#define OPTION_DEF(id, name, short_name, value, ...) { name, short_name, value },
    OPTION_LIST(OPTION_DEF)
#undef OPTION_DEF
};

/* What getopt_long returns for options[i] given by its long name: past
 * every character, so never a short option, '?' or ':'. */
#define LONG_OPTION_VAL 0x100

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

void cli_library_error(const char *lead, const char *msg)
{
    size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
    char name[64];

    if (len > 0 && len < sizeof name && msg[len] == ':') {
        memcpy(name, msg, len);
        name[len] = '\0';
        for (char *p = strchr(name, '_'); p; p = strchr(p, '_'))
            *p = '-';
        for (size_t i = 0; i < NOPTIONS; i++)
            if (strcmp(options[i].name, name) == 0) {
                cli_error("%s--%s%s", lead, name, msg + len);
                return;
            }
    }
    cli_error("%s%s", lead, msg);
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

/* --help's width, and the column where an option's description starts. */
#define HELP_WIDTH 79
#define HELP_INDENT 21

/* Print lead, then text from column indent (or two blanks after a longer
 * lead), wrapped at blanks to HELP_WIDTH columns, each further line
 * indented to that column. A blank inside brackets does not break, so
 * "[--listen URL]" stays whole. */
static void print_wrapped(const char *lead, size_t indent, const char *text)
{
    size_t col = strlen(lead);
    size_t gap = col < indent ? indent - col : 2;

    printf("%s%*s", lead, (int)gap, "");
    col += gap;
    bool line_start = true;
    while (*text) {
        size_t len = 0;
        for (int depth = 0; text[len] && (text[len] != ' ' || depth > 0); len++)
            depth += text[len] == '[' ? 1 : text[len] == ']' ? -1 : 0;
        if (!line_start && col + 1 + len > HELP_WIDTH) {
            printf("\n%*s", (int)indent, "");
            col = indent;
            line_start = true;
        }
        if (!line_start) {
            putchar(' ');
            col++;
        }
        printf("%.*s", (int)len, text);
        col += len;
        line_start = false;
        text += len;
        while (*text == ' ')
            text++;
    }
    putchar('\n');
}

/* One option in --help: "  -h, --help" or "  --listen URL", then its
 * description (fmt and its arguments), wrapped. */
static void print_option(enum opt_id id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void print_option(enum opt_id id, const char *fmt, ...)
{
    const struct option_def *def = &options[id];
    char shortform[8] = "", lead[64];
    char *text = NULL;
    va_list ap;

    if (def->short_name)
        snprintf(shortform, sizeof shortform, "-%c, ", def->short_name);
    snprintf(lead, sizeof lead, "  %s--%s%s%s", shortform, def->name, def->value ? " " : "",
             def->value ? def->value : "");
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    print_wrapped(lead, HELP_INDENT, text ? text : fmt);
    free(text);
}

/* The synopsis: the commands with every option that takes a value, then
 * the options that do not, as alternatives. */
static void print_synopsis(void)
{
    char with[512] = "", without[128] = "";

    for (size_t i = 0; i < NOPTIONS; i++) {
        if (options[i].value)
            snprintf(with + strlen(with), sizeof with - strlen(with), "%s[--%s %s]",
                     *with ? " " : "", options[i].name, options[i].value);
        else
            snprintf(without + strlen(without), sizeof without - strlen(without), "%s--%s",
                     *without ? " | " : "", options[i].name);
    }
    const char *commands = "Usage: sockserv echo|chat", *alone = "       sockserv";
    print_wrapped(commands, strlen(commands) + 1, with);
    print_wrapped(alone, strlen(alone) + 1, without);
}

static void print_help(void)
{
    print_synopsis();
    printf("\n"
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
           "Options (--opt VALUE or --opt=VALUE):\n",
           CHAT_BACKLOG);
#define OPTION_HELP(id, name, short_name, value, ...) print_option(id, __VA_ARGS__);
    OPTION_LIST(OPTION_HELP)
#undef OPTION_HELP
    printf("\n"
           "URL:\n"
           "  tcp://HOST:PORT  tcp://[V6ADDR]:PORT  udp://HOST:PORT  udp://[V6ADDR]:PORT\n"
           "  tls://HOST:PORT  tls://[V6ADDR]:PORT   (TCP with TLS: see below)\n"
           "  unix:PATH  unix-dgram:PATH   (a PATH starting with @ is abstract)\n"
           "  Port 0 picks a free port.\n"
           "\n"
           "MODE:\n"
           " ");
    for (ss_strategy m = 0; ss_strategy_name(m); m++)
        printf(" %s", ss_strategy_name(m));
    printf("\n"
           "\n"
           "TLS (tls://):\n"
           "  TLS 1.2 and 1.3. Each client's handshake must end within --timeout (10 s\n"
           "  without it); a client that fails it (no certificate with --tls-client-ca,\n"
           "  plaintext, an old protocol...) is reported on stderr with the reason and\n"
           "  never reaches echo or chat. Echo and chat work as over tcp://. An example,\n"
           "  with a certificate for this machine made by openssl:\n"
           "    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
           "      -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost \\\n"
           "      -addext subjectAltName=DNS:localhost,IP:127.0.0.1\n"
           "    sockserv echo --listen tls://127.0.0.1:9443 --tls-cert cert.pem \\\n"
           "      --tls-key key.pem &\n"
           "    openssl s_client -connect 127.0.0.1:9443 -CAfile cert.pem \\\n"
           "      -verify_return_error -quiet          (then type lines; Ctrl-C ends)\n"
           "    python3 -c 'if 1:\n"
           "      import socket, ssl\n"
           "      ctx = ssl.create_default_context(cafile=\"cert.pem\")\n"
           "      raw = socket.create_connection((\"127.0.0.1\", 9443))\n"
           "      with ctx.wrap_socket(raw, server_hostname=\"localhost\") as s:\n"
           "          s.sendall(b\"hello\\n\")\n"
           "          print(s.recv(100))\n"
           "          s.unwrap()   # close_notify: a clean end of input'\n"
           "\n"
           "Once bound, prints one line on stdout: 'listening on URL' (the bound\n"
           "address: port resolved, IPv6 in brackets). At exit, prints one line on\n"
           "stderr: 'sockserv: stopped: accepted A, refused R, completed C, errors E,\n"
           "accept errors X, cancelled K, dropped D, tls failed T' (D: datagram replies\n"
           "a client could not take at once, dropped as UDP would; T: TLS handshakes\n"
           "that failed, each also one of the errors).\n"
           "\n"
           "Signals:\n"
           "  SIGINT, SIGTERM  stop: refuse new clients, give requests in flight up to\n"
           "                   --drain seconds, remove the Unix socket file, exit 0\n"
           "  SIGUSR1          print the counters as one JSON line on stderr (keys\n"
           "                   accepted, refused, completed, errors, accept_errors,\n"
           "                   cancelled, dropped, tls_failed, active, threads,\n"
           "                   children); serving goes on\n"
           "  SIGHUP           tls://: read --tls-cert, --tls-key and --tls-client-ca\n"
           "                   again, for new connections (open ones keep theirs); one\n"
           "                   line on stderr says it is done, or which file is wrong\n"
           "                   and why (the old ones then stay); other URLs: one line\n"
           "                   says there is nothing to reload\n"
           "  SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,\n"
           "  SIGXFSZ (a write past the file size limit fails instead), SIGTTIN,\n"
           "  SIGTTOU (the terminal is used only in the foreground)  ignored\n"
           "\n"
           "Exit status:\n"
           "  0  stopped normally (SIGINT, SIGTERM or the console's 'quit')\n"
           "  1  cannot listen (address in use, permission denied, no such directory...),\n"
           "     or a TLS file cannot be used (missing, not PEM, a key that does not match\n"
           "     the certificate, an encrypted key)\n"
           "  2  bad usage (unknown command or option, malformed URL, bad mode or number,\n"
           "     an option that does not apply to the URL, tls:// without TLS built in)\n");
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

/* The longest ALPN protocol name (RFC 7301: a length byte). */
#define ALPN_NAME_MAX 255

/* "h2,http/1.1": names of 1 to ALPN_NAME_MAX bytes separated by commas. */
static bool alpn_list_ok(const char *list)
{
    for (;;) {
        size_t len = strcspn(list, ",");
        if (len == 0 || len > ALPN_NAME_MAX)
            return false;
        if (list[len] == '\0')
            return true;
        list += len + 1;
    }
}

bool cli_tls_url(const char *url)
{
    return strncasecmp(url, "tls://", 6) == 0;
}

static bool datagram_url(const char *url)
{
    return strncasecmp(url, "udp://", 6) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}

/* Apply one option with its value; returns -1 or an exit status. */
static int apply_option(enum opt_id id, const char *value, struct cli_opts *o)
{
    int rc;

    switch (id) {
    case OPT_HELP:
        print_help();
        return EXIT_STOPPED;
    case OPT_VERSION:
        printf("sockserv %s\n", ss_version());
        return EXIT_STOPPED;
    case OPT_LISTEN:
        o->listen = value;
        return -1;
    case OPT_TLS_CERT:
        o->tls_cert = value;
        return -1;
    case OPT_TLS_KEY:
        o->tls_key = value;
        return -1;
    case OPT_TLS_CLIENT_CA:
        o->tls_client_ca = value;
        return -1;
    case OPT_TLS_ALPN:
        if (!alpn_list_ok(value))
            return usage_error("invalid --tls-alpn '%s': expected protocol names of 1 to %d bytes "
                               "separated by commas, e.g. h2,http/1.1", value, ALPN_NAME_MAX);
        o->tls_alpn = value;
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
        if (rc < 0 || n > MAX_WORKERS)
            return usage_error("invalid --workers '%s': expected an integer from 1 to %d", value,
                               MAX_WORKERS);
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
        if (rc < 0 || n > MAX_CONNECTIONS_LIMIT)
            return usage_error("invalid --max-connections '%s': expected an integer from 1 to %d",
                               value, MAX_CONNECTIONS_LIMIT);
        o->max_connections = (int)n;
        return -1;
    }
    case OPT_TIMEOUT:
        return apply_seconds("--timeout", value, &o->timeout);
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
        return apply_seconds("--drain", value, &o->drain);
    case NOPTIONS:
        break;
    }
    return -1;
}

static bool unix_url(const char *url)
{
    return strncasecmp(url, "unix:", 5) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}

/* 10000 connections, fewer when the open-file limit is lower: each takes
 * a descriptor (two in chat: the room holds one; five in chat over TLS,
 * whose relay adds a socket pair and a wait set: see chat.c), and the
 * server keeps a few dozen for itself. */
static int default_max_connections(enum cli_command cmd, bool tls, int workers)
{
    struct rlimit rl;
    long limit = DEFAULT_MAX_CONNECTIONS;
    /* Compared as rlim_t first: a limit past LONG_MAX is no limit here. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)DEFAULT_MAX_CONNECTIONS * 4) {
        long spare = (long)rl.rlim_cur - 64 - 2L * workers;
        long fit = cmd != CMD_CHAT ? spare : tls ? spare / 5 : spare / 2;
        if (fit < limit)
            limit = fit;
    }
    return limit > 0 ? (int)limit : 1;
}

/* tls://: TLS built in, a certificate and its key; other URLs: no TLS
 * option. Returns -1 or the usage exit status. */
static int check_tls(const struct cli_opts *o)
{
    if (!cli_tls_url(o->listen)) {
        const char *given = o->tls_cert        ? "--tls-cert"
                            : o->tls_key       ? "--tls-key"
                            : o->tls_client_ca ? "--tls-client-ca"
                            : o->tls_alpn      ? "--tls-alpn"
                                               : NULL;
        if (given)
            return usage_error("%s applies to tls:// addresses, not '%s'", given, o->listen);
        return -1;
    }
    if (!ss_tls_available())
        return usage_error("cannot listen on '%s': this sockserv was built without TLS: install "
                           "OpenSSL 3's development files (apt-get install libssl-dev), then "
                           "rebuild sockserv", o->listen);
    if (!o->tls_cert || !o->tls_key)
        return usage_error("'%s' needs %s: the server's certificate (--tls-cert FILE) and its "
                           "private key (--tls-key FILE), PEM files", o->listen,
                           o->tls_cert ? "--tls-key" : o->tls_key ? "--tls-cert"
                                                                  : "--tls-cert and --tls-key");
    return -1;
}

/* The checks that need every option: the URL, chat's transport, options
 * that need a kind of URL; then the defaults that depend on the command. */
static int check_all(struct cli_opts *o)
{
    const char *why = ss_url_error(o->listen);
    int rc;

    if (why)
        return usage_error("invalid --listen URL '%s': %s", o->listen, why);
    if (o->cmd == CMD_CHAT && datagram_url(o->listen))
        return usage_error("chat needs a stream transport (tcp://, tls:// or unix:), not '%s'",
                           o->listen);
    if ((rc = check_tls(o)) >= 0)
        return rc;
    bool is_unix = unix_url(o->listen);
    if (o->allow && is_unix)
        return usage_error("--allow applies to tcp://, tls:// and udp:// addresses, not '%s'",
                           o->listen);
    if (o->socket_mode && (!is_unix || strchr(o->listen, ':')[1] == '@'))
        return usage_error("--socket-mode needs a Unix socket file (unix:PATH or unix-dgram:PATH), "
                           "not '%s'", o->listen);
    if (o->max_line == 0)
        o->max_line = o->cmd == CMD_CHAT ? CHAT_MAX_LINE : ECHO_MAX_LINE;
    if (o->max_connections == 0)
        o->max_connections = default_max_connections(o->cmd, cli_tls_url(o->listen), o->workers);
    return -1;
}

void cli_free(struct cli_opts *o)
{
    allow_free(o->allow);
    o->allow = NULL;
}

/* The option getopt_long returned (or, with '?' or ':', named in optopt),
 * or NULL for none of ours. */
static const struct option_def *returned_option(int c)
{
    if (c >= LONG_OPTION_VAL && c < LONG_OPTION_VAL + NOPTIONS)
        return &options[c - LONG_OPTION_VAL];
    for (size_t i = 0; c > 0 && i < NOPTIONS; i++)
        if (options[i].short_name == c)
            return &options[i];
    return NULL;
}

/* Whether arg, up to its '=' (namelen bytes), spells def in full: getopt_long
 * also takes an abbreviation ("--list") and a cluster of short options
 * ("-hx"), which the program refuses as unknown options. */
static bool spelled_in_full(const struct option_def *def, const char *arg, size_t namelen)
{
    if (namelen == 2 && arg[0] == '-' && arg[1] != '-')
        return def->short_name != 0 && arg[1] == def->short_name;
    return namelen == strlen(def->name) + 2 && strncmp(arg, "--", 2) == 0 &&
           strncmp(arg + 2, def->name, namelen - 2) == 0;
}

/* A word that is no option: the command, or a stray argument. Returns -1
 * or the usage exit status. */
static int take_word(const char *arg, struct cli_opts *o)
{
    if (o->cmd != CMD_NONE)
        return usage_error("unexpected argument '%s'", arg);
    if (strcmp(arg, "echo") == 0)
        o->cmd = CMD_ECHO;
    else if (strcmp(arg, "chat") == 0)
        o->cmd = CMD_CHAT;
    else
        return usage_error("unknown command '%s'", arg);
    return -1;
}

/* getopt_long's tables, from options[]: each long option returns
 * LONG_OPTION_VAL + its index; shortopts starts with '+' (a word that is
 * no option ends a scan: nothing is permuted) and ':' (a missing value is
 * told apart from an unknown option). */
static void getopt_tables(struct option longopts[NOPTIONS + 1], char *shortopts, size_t size)
{
    snprintf(shortopts, size, "+:");
    for (size_t i = 0; i < NOPTIONS; i++) {
        int has_arg = options[i].value ? required_argument : no_argument;
        longopts[i] = (struct option){ options[i].name, has_arg, NULL, LONG_OPTION_VAL + (int)i };
        if (options[i].short_name)
            snprintf(shortopts + strlen(shortopts), size - strlen(shortopts), "%c%s",
                     options[i].short_name, options[i].value ? ":" : "");
    }
    longopts[NOPTIONS] = (struct option){ 0 };
}

/* What getopt_long returned (c) for the word arg: check it and apply the
 * option, with getopt_long's optarg. Returns -1 or an exit status. */
static int take_option(int c, const char *arg, struct cli_opts *o)
{
    size_t namelen = strcspn(arg, "=");
    const struct option_def *def = returned_option(c == '?' || c == ':' ? optopt : c);

    if (!def || !spelled_in_full(def, arg, namelen))
        return usage_error("unknown option '%.*s'", (int)namelen, arg);
    if (c == ':')
        return usage_error("option '%.*s' needs a value", (int)namelen, arg);
    if (!def->value && arg[namelen] == '=')
        return usage_error("option '%.*s' takes no value", (int)namelen, arg);
    if (def->value && o->cmd == CMD_NONE)
        return usage_error("option '%.*s' must follow a command (echo or chat)", (int)namelen, arg);
    return apply_option((enum opt_id)(def - options), def->value ? optarg : "", o);
}

/*
 * The command line: the command word, then options, each applied as it
 * comes (the last of an option given twice wins; --allow accumulates),
 * --opt VALUE or --opt=VALUE, a value taken as it is even when it starts
 * with '-'. getopt_long scans the options between the words and reports
 * nothing itself (opterr = 0): every problem is reported here, naming the
 * option as it was typed.
 */
int cli_parse(int argc, char **argv, struct cli_opts *o)
{
    struct option longopts[NOPTIONS + 1];
    char shortopts[2 + 2 * NOPTIONS + 1];
    int rc = -1;

    *o = (struct cli_opts){ .cmd = CMD_NONE, .listen = DEFAULT_LISTEN, .strategy = DEFAULT_MODE,
                            .drain = DEFAULT_DRAIN };
    getopt_tables(longopts, shortopts, sizeof shortopts);
    opterr = 0;
    optind = 0; /* glibc: start afresh, at argv[1] */
    while (rc < 0) {
        int at = optind > 0 ? optind : 1; /* the word getopt_long looks at next */
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);

        if (c != -1)
            rc = take_option(c, argv[at], o);
        else if (at < argc && strcmp(argv[at], "--") == 0)
            rc = usage_error("unknown option '--'"); /* getopt_long's end of options: none here */
        else if (optind < argc)
            rc = take_word(argv[optind++], o);
        else
            break;
    }
    if (rc >= 0)
        return rc;
    if (o->cmd == CMD_NONE)
        return usage_error("missing command (echo or chat)");
    return check_all(o);
}
