/* stream.c: the stream transports (TCPServer, UnixStreamServer): accept a connection as a request. */
#include "core/internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

static int stream_get_request(ss_server *srv, ss_request **out)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    const ss__conn_type *conn = srv->st->stream_conn;
    int fd = accept4(srv->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | (conn->nonblocking ? SOCK_NONBLOCK : 0));
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    /* Nagle's algorithm off unless asked for: a reply written in pieces
     * would wait for the client's delayed ACK. */
    if (!srv->cfg.tcp_nagle && srv->tp == &ss__tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ss_request *req = ss__request_new(srv, fd, conn);
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

/* Shut the listener down: accept fails from then on (the fd stays open
 * until close, for the serve loop and the event loops that watch it). */
static void stream_refuse(ss_server *srv)
{
    if (srv->fd >= 0)
        shutdown(srv->fd, SHUT_RDWR);
}

const ss__transport ss__tcp = {
    .scheme = "tcp",
    .prefix = "tcp://",
    .socktype = SOCK_STREAM,
    .inet = true,
    .closes_first = true,
    .bound = ss__tp_nop_bound,
    .get_request = stream_get_request,
    .refuse = stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = ss__tp_nop_server,
};

const ss__transport ss__unix_stream = {
    .scheme = "unix",
    .prefix = "unix:",
    .socktype = SOCK_STREAM,
    .inet = false,
    .closes_first = true,
    .bound = ss__tp_nop_bound,
    .get_request = stream_get_request,
    .refuse = stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = ss__tp_nop_server,
};
