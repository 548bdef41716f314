/* stream.c: the stream transports (TCPServer, UnixStreamServer): accept, flush, close. */
#include "core/internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

static int stream_get_request(ss_server *srv, ss_request **out)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    bool blocking = srv->st->blocking_streams;
    int fd = accept4(srv->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK));
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (!srv->cfg.tcp_nagle && srv->url.family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (blocking && srv->cfg.request_timeout > 0) {
        struct timeval tv = ss__timeval(ss__ns(srv->cfg.request_timeout));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    ss_request *req = ss__request_new(srv, fd, false);
    if (!req) {
        close(fd);
        return -ENOMEM;
    }
    req->peer = peer;
    req->peerlen = ss__peer_len(&peer, len);
    *out = req;
    return 0;
}

static int stream_request_end(ss_request *req)
{
    return ss_flush(req);
}

static void stream_close_request(ss_request *req)
{
    if (req->fd < 0)
        return;
    shutdown(req->fd, SHUT_WR);
    close(req->fd);
    req->fd = -1;
}

const ss__transport ss__tcp = {
    .scheme = "tcp",
    .get_request = stream_get_request,
    .request_end = stream_request_end,
    .close_request = stream_close_request,
};

const ss__transport ss__unix_stream = {
    .scheme = "unix",
    .get_request = stream_get_request,
    .request_end = stream_request_end,
    .close_request = stream_close_request,
};
