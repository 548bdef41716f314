/* stream.c: the stream transports (TCPServer, UnixStreamServer): accept a connection as a request (tls:// too, with its own connection type). */
#include "core/internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

int ss__stream_accept(ss_server *srv, ss_request **out, const ss__conn_type *conn, const ss__conn_type *lower)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    bool nonblocking = (lower ? lower : conn)->nonblocking;
    int fd = accept4(srv->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    /* Nagle's algorithm off unless asked for: a reply written in pieces
     * would wait for the client's delayed ACK. */
    if (!srv->cfg.tcp_nagle && srv->tp->inet) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ss_request *req = ss__request_new(srv, fd, conn, lower);
    if (!req) {
        int err = errno;
        close(fd);
        return -err;
    }
    req->peer = peer;
    req->peerlen = ss__peer_len(&peer, len);
    *out = req;
    return 0;
}

/* A connection of the kind the strategy wants. */
static int stream_get_request(ss_server *srv, ss_request **out)
{
    return ss__stream_accept(srv, out, srv->st->stream_conn, NULL);
}

/* A listener of ours is shut down: clients waiting in its backlog are
 * refused at once. One made elsewhere may be other processes' listener
 * too (an old worker draining while a new one serves): this server just
 * stops accepting on it. */
void ss__stream_refuse(ss_server *srv)
{
    if (srv->fd >= 0 && !srv->adopted)
        shutdown(srv->fd, SHUT_RDWR);
}

const ss__transport ss__tcp = {
    .scheme = "tcp",
    .prefix = "tcp://",
    .socktype = SOCK_STREAM,
    .inet = true,
    .closes_first = true,
    .setup = ss__tp_nop_setup,
    .get_request = stream_get_request,
    .refuse = ss__stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = ss__tp_nop_server,
};

const ss__transport ss__unix_stream = {
    .scheme = "unix",
    .prefix = "unix:",
    .socktype = SOCK_STREAM,
    .inet = false,
    .closes_first = true,
    .setup = ss__tp_nop_setup,
    .get_request = stream_get_request,
    .refuse = ss__stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = ss__tp_nop_server,
};
