/* hello.c: the seeds' first handler: print the server, the request and the client, then wait for the client to close. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sockserv.h"

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
    ss_server *srv = ss_server_new(&(ss_config){
        .listen = url, .handler = &handler, .strategy = mode, .allow_reuse_address = true});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "hello: %s\n", why);
        else
            fprintf(stderr, "hello: %s: %s\n", url, strerror(err));
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
