/* echo_prefix.c: the seeds' echo server: every line comes back prefixed with the client's HOST:PORT. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sockserv.h"

#define MAX_LINE 65536

/* True when the line is "quit", surrounding whitespace ignored. */
static int is_quit(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    return n == 4 && memcmp(s, "quit", 4) == 0;
}

static int handle(ss_request *req)
{
    const char *line;
    ssize_t n;

    while ((n = ss_readline_ref(req, &line, MAX_LINE)) > 0) {
        if (is_quit(line, (size_t)n))
            return 0;
        /* "127.0.0.1:50312 hello\n": the client as the server sees it. */
        ssize_t w = ss_writef(req, "%s ", ss_request_peer_str(req));
        if (w >= 0)
            w = ss_write(req, line, (size_t)n);
        if (w >= 0 && line[n - 1] != '\n')
            w = ss_write(req, "\n", 1); /* the last line had no end of line */
        if (w < 0)
            return (int)w;
    }
    if (n == -EMSGSIZE)
        return ss_request_fail(req, (int)n, "line longer than %d bytes", MAX_LINE);
    return (int)n; /* 0 at end of input, or the I/O error */
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || (argc > 2 && ss_strategy_from_name(argv[2], &mode) < 0)) {
        fprintf(stderr, "usage: %s [URL] [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    static const ss_handler handler = {.handle = handle};
    ss_server *srv = ss_server_new(&(ss_config){
        .listen = url, .handler = &handler, .strategy = mode, .allow_reuse_address = true});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "echo_prefix: %s\n", why);
        else
            fprintf(stderr, "echo_prefix: %s: %s\n", url, strerror(err));
        return err == EINVAL ? 2 : 1; /* EINVAL: a bad URL */
    }
    /* SIGINT (Ctrl-C) or SIGTERM: stop accepting, give requests 1 s to finish. */
    ss_stop_on_signals(srv, 1.0, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    return 0;
}
