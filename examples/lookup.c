/* lookup.c: a name-lookup service: each line is a host name, the reply its addresses; getaddrinfo blocks, so it runs through ss_run_blocking. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* getaddrinfo, getnameinfo */
#endif
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sockserv.h"

#define MAX_NAME 256

/*
 * getaddrinfo may wait seconds for a DNS server, and the library cannot
 * make it yield. ss_run_blocking runs it so that it holds up no other
 * request: under the event strategy on a helper thread (cfg.blocking_threads
 * of them) while the loop serves other clients; under sync, threading and
 * forking right here (the request has a thread or process of its own);
 * under pool on the worker (at most `workers` such calls at once). The same
 * handler is correct in every mode.
 */
typedef struct lookup {
    char name[MAX_NAME];    /* in: the host name */
    struct addrinfo *found; /* out: the addresses (freeaddrinfo) */
    int status;             /* out: getaddrinfo's result (0 or an EAI_ code) */
} lookup;

/* Runs on whatever thread ss_run_blocking picks: it touches only *arg. */
static int resolve(void *arg)
{
    lookup *l = arg;
    const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    l->status = getaddrinfo(l->name, NULL, &hints, &l->found);
    return 0; /* a failed lookup is an answer, not an error of the request */
}

/* "localhost 127.0.0.1 ::1\n", or "localhost ERROR reason\n". */
static int answer(ss_request *req, const lookup *l)
{
    if (l->status != 0) {
        ssize_t w = ss_writef(req, "%s ERROR %s\n", l->name, gai_strerror(l->status));
        return w < 0 ? (int)w : 0;
    }
    ssize_t w = ss_writef(req, "%s", l->name);
    for (const struct addrinfo *a = l->found; a && w >= 0; a = a->ai_next) {
        char text[128]; /* a numeric address, an IPv6 scope included */
        if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST) == 0)
            w = ss_writef(req, " %s", text);
    }
    if (w >= 0)
        w = ss_write(req, "\n", 1);
    return w < 0 ? (int)w : 0;
}

static int handle(ss_request *req)
{
    lookup l;
    ssize_t n;

    while ((n = ss_readline(req, l.name, sizeof l.name)) > 0) {
        if (l.name[n - 1] != '\n' && n == (ssize_t)sizeof l.name - 1)
            return ss_request_fail(req, -EMSGSIZE, "name longer than %d bytes", MAX_NAME - 2);
        l.name[strcspn(l.name, "\r\n")] = '\0';
        if (l.name[0] == '\0')
            continue; /* an empty line asks nothing */
        l.found = NULL;
        int rc = ss_run_blocking(req, resolve, &l);
        if (rc == 0)
            rc = answer(req, &l);
        if (l.found)
            freeaddrinfo(l.found);
        if (rc < 0)
            return rc;
    }
    return (int)n; /* 0 at end of input, or the negative errno of the read */
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
    ss_server *srv = ss_server_new(&(ss_config){.listen = url, .handler = &handler, .strategy = mode,
        .allow_reuse_address = true,
        .blocking_threads = 8}); /* event: up to 8 lookups at once */
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "lookup: %s\n", why);
        else
            fprintf(stderr, "lookup: %s: %s\n", url, strerror(err));
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
