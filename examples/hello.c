/* hello.c: the seeds' first handler: print the server, the request and the client, then wait for the client to close. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* sigaction */
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sockserv.h"

static ss_server *volatile server; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    ss_server_stop(server, 1.0); /* async-signal-safe: drain for 1 s */
}

static int handle(ss_request *req)
{
    char buf[4096];
    ssize_t n;

    /* Python: print(self.server, self.request, self.client_address). */
    printf("server %s request fd=%d client %s\n", ss_server_url(ss_request_server(req)),
           ss_request_fd(req), ss_request_peer_str(req));
    fflush(stdout);
    /* Stay connected until the client closes (or the server stops). */
    while ((n = ss_read1(req, buf, sizeof buf)) > 0)
        ;
    printf("client %s closed\n", ss_request_peer_str(req));
    fflush(stdout);
    return n < 0 ? (int)n : 0;
}

static int parse_mode(const char *s, ss_strategy *out)
{
    static const struct { const char *name; ss_strategy mode; } modes[] = {
        {"sync", SS_SYNC}, {"threading", SS_THREADING}, {"forking", SS_FORKING},
        {"pool", SS_POOL}, {"event", SS_EVENT}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(s, modes[i].name) == 0) {
            *out = modes[i].mode;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || (argc > 2 && parse_mode(argv[2], &mode) < 0)) {
        fprintf(stderr, "usage: %s [URL] [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    static const ss_handler handler = {.handle = handle};
    ss_server *srv = ss_server_new(&(ss_config){
        .listen = url, .handler = &handler, .strategy = mode, .allow_reuse_address = true});
    if (!srv) {
        const char *why = ss_url_error(url);
        fprintf(stderr, "hello: %s: %s\n", url, why ? why : strerror(errno));
        return why ? 2 : 1;
    }
    server = srv;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    return 0;
}
