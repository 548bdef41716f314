/* dgram_upper.c: a datagram service (udp:// or unix-dgram:): every datagram comes back in capitals, one reply per datagram. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sockserv.h"

/* The largest datagram served: a larger one is not handled (the library
 * reports it as -EMSGSIZE through handle_error) and gets no reply. */
#define MAX_PACKET 2048

/*
 * A datagram request is one datagram: the handler reads it with the same
 * calls a stream handler uses (here ss_read, which returns the whole packet
 * and then 0), and what it writes becomes the reply, sent to the client
 * once the handler has returned. No connection, so nothing to close.
 */
static int handle(ss_request *req)
{
    char text[MAX_PACKET];
    ssize_t n = ss_read(req, text, sizeof text);
    if (n < 0)
        return (int)n;
    for (ssize_t i = 0; i < n; i++)
        text[i] = (char)toupper((unsigned char)text[i]);
    ssize_t w = ss_write(req, text, (size_t)n);
    return w < 0 ? (int)w : 0;
}

static int is_datagram_url(const char *url)
{
    return strncmp(url, "udp://", 6) == 0 || strncmp(url, "unix-dgram:", 11) == 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "udp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || !is_datagram_url(url) || (argc > 2 && ss_strategy_from_name(argv[2], &mode) < 0)) {
        fprintf(stderr, "usage: %s [udp://HOST:PORT | unix-dgram:PATH] [sync|threading|forking|pool|event]\n",
                argv[0]);
        return 2;
    }
    static const ss_handler handler = {.handle = handle};
    ss_server *srv = ss_server_new(&(ss_config){.listen = url, .handler = &handler, .strategy = mode,
        .max_packet_size = MAX_PACKET});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "dgram_upper: %s\n", why);
        else
            fprintf(stderr, "dgram_upper: %s: %s\n", url, strerror(err));
        return err == EINVAL ? 2 : 1; /* EINVAL: a bad URL */
    }
    /* SIGINT (Ctrl-C) or SIGTERM: stop, give replies in progress 1 s to finish. */
    ss_stop_on_signals(srv, 1.0, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    return 0;
}
