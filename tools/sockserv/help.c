/* help.c: --help: the synopsis and the options from the option table, the URLs, modes, TLS, deployment, output, signals and exit statuses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option_table.h"

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
    const struct option_def *def = &cli_options[id];
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

/* The synopsis: the commands with every option but --help and --version
 * (those with a value as [--opt VALUE], the others as [--opt]), then
 * --help and --version, as alternatives. */
static void print_synopsis(void)
{
    char with[1024] = "", without[128] = "";

    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_def *o = &cli_options[i];
        if (!option_alone((enum opt_id)i))
            snprintf(with + strlen(with), sizeof with - strlen(with), "%s[--%s%s%s]",
                     *with ? " " : "", o->name, o->value ? " " : "", o->value ? o->value : "");
        else
            snprintf(without + strlen(without), sizeof without - strlen(without), "%s--%s",
                     *without ? " | " : "", o->name);
    }
    const char *commands = "Usage: sockserv echo|chat", *alone = "       sockserv";
    print_wrapped(commands, strlen(commands) + 1, with);
    print_wrapped(alone, strlen(alone) + 1, without);
}

void cli_print_help(void)
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
           "Deployment (docs/DEPLOYMENT.md):\n"
           "  Several --listen: one process serves them all, each in --mode; chat has\n"
           "  one room for all. Started by systemd with sockets (LISTEN_PID, LISTEN_FDS,\n"
           "  LISTEN_FDNAMES), it serves those instead, each of the kind it is; the\n"
           "  variables are removed, so no child sees them. --processes N: N workers\n"
           "  share the listeners the supervisor made (inherited, not SO_REUSEPORT); a\n"
           "  worker that dies is restarted at once, then after 0.1 s, 0.2 s, 0.4 s...\n"
           "  up to 30 s while it keeps dying within 10 s of its start; each restart is\n"
           "  one line on stderr. TLS sessions resume on any worker and across reloads.\n"
           "  Chat with --room redis://HOST:PORT[/CHANNEL]: one room for every process on\n"
           "  the Redis channel (needed for chat with --processes above 1); while Redis\n"
           "  cannot be reached, each process's members are a room of their own.\n"
           "  A Redis that wants AUTH: SOCKSERV_REDIS_PASSWORD (and SOCKSERV_REDIS_USER for\n"
           "  an ACL user) in the environment.\n"
           "\n"
           "Once every listener is bound, prints one line a listener on stdout, in\n"
           "order: 'listening on URL' (the bound address: port resolved, IPv6 in\n"
           "brackets); with --processes, once every worker serves. At exit, prints one\n"
           "line on stderr, the sums over every listener (and worker): 'sockserv:\n"
           "stopped: accepted A, refused R, completed C, errors E, accept errors X,\n"
           "cancelled K, dropped D, tls failed T' (R: refused by --allow or for a bad\n"
           "PROXY header; D: datagram replies a client could not take at once, dropped\n"
           "as UDP would; T: TLS handshakes that failed, each also one of the errors).\n"
           "\n"
           "Signals:\n"
           "  SIGINT, SIGTERM  stop: refuse new clients, give requests in flight up to\n"
           "                   --drain seconds, remove the Unix socket file, exit 0;\n"
           "                   --processes: the supervisor stops every worker so and\n"
           "                   exits 0 once all have (workers leave SIGINT to it)\n"
           "  SIGUSR1          print the counters as one JSON line on stderr (keys\n"
           "                   accepted, refused, completed, errors, accept_errors,\n"
           "                   cancelled, dropped, tls_failed, active, threads,\n"
           "                   children), summed over the listeners; --processes: the\n"
           "                   supervisor asks every worker and prints the sums (the\n"
           "                   workers that ended included); serving goes on\n"
           "  SIGHUP           tls://: read --tls-cert, --tls-key and --tls-client-ca\n"
           "                   again, for new connections (open ones keep theirs); one\n"
           "                   line on stderr says it is done, or which file is wrong\n"
           "                   and why (the old ones then stay); other URLs: one line\n"
           "                   says there is nothing to reload; --processes: start new\n"
           "                   workers (which read the files afresh), then stop the old\n"
           "                   ones (they drain) once every new one serves; if one\n"
           "                   cannot start, the old ones serve on and a line says why\n"
           "  SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,\n"
           "  SIGXFSZ (a write past the file size limit fails instead), SIGTTIN,\n"
           "  SIGTTOU (the terminal is used only in the foreground)  ignored\n"
           "\n"
           "Exit status:\n"
           "  0  stopped normally (SIGINT, SIGTERM or the console's 'quit')\n"
           "  1  cannot listen (address in use, permission denied, no such directory...),\n"
           "     or a TLS file cannot be used (missing, not PEM, a key that does not match\n"
           "     the certificate, an encrypted key), or --user cannot be switched to (not\n"
           "     root), or a worker of --processes cannot start, or --room's host cannot\n"
           "     be looked up\n"
           "  2  bad usage (unknown command or option, malformed URL, bad mode or number,\n"
           "     an option that does not apply to the URL, tls:// without TLS built in,\n"
           "     an unknown --user or group, --listen with sockets passed by systemd,\n"
           "     malformed LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES, --room without\n"
           "     hiredis built in, SOCKSERV_REDIS_USER without SOCKSERV_REDIS_PASSWORD,\n"
           "     chat with --processes above 1 and without --room)\n");
}
