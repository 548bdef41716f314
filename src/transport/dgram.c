/* dgram.c: the datagram transports (UDPServer, UnixDatagramServer): a packet in, a reply out. */
#include "core/internal.h"

#include <stdlib.h>

static int dgram_get_request(ss_server *srv, ss_request **out)
{
    size_t max = srv->cfg.max_packet_size;
    ss_request *req = ss__request_new(srv, srv->fd, true);
    if (!req)
        return -ENOMEM;
    req->rbuf = malloc(max ? max : 1);
    if (!req->rbuf) {
        ss__request_free(req);
        return -ENOMEM;
    }
    req->rcap = max;
    /* An unnamed Unix sender comes with no address at all (namelen 0):
     * still a Unix peer, shown as unix:#N. */
    req->peer.ss_family = srv->addr.ss_family;
    struct iovec iov = {.iov_base = req->rbuf, .iov_len = max};
    struct msghdr msg = {.msg_name = &req->peer, .msg_namelen = sizeof req->peer,
                         .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(srv->fd, &msg, MSG_TRUNC);
    if (n < 0) {
        int err = errno == EWOULDBLOCK ? EAGAIN : errno;
        ss__request_free(req);
        return -err;
    }
    req->peerlen = ss__peer_len(&req->peer, msg.msg_namelen);
    req->rlen = (size_t)n > max ? max : (size_t)n;
    req->eof = true; /* the packet is all the input there is */
    if (msg.msg_flags & MSG_TRUNC)
        req->early_err = ss_request_fail(req, -EMSGSIZE, "datagram of %zd bytes is larger than max_packet_size %zu", n, max);
    *out = req;
    return 0;
}

static int dgram_request_end(ss_request *req)
{
    if (!req->reply) /* as in Python, even an empty reply is sent once written */
        return 0;
    for (;;) {
        ssize_t n = sendto(req->fd, req->wbuf, req->wlen, MSG_NOSIGNAL,
                           (const struct sockaddr *)&req->peer, req->peerlen);
        if (n >= 0) {
            req->wlen = 0;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = req->srv->st->wait(req, req->fd, POLLOUT, ss__deadline(req->srv->cfg.request_timeout));
        if (rc < 0)
            return rc;
    }
}

/* The socket is the server's: nothing to close per request. */
static void dgram_close_request(ss_request *req)
{
    req->fd = -1;
}

const ss__transport ss__udp = {
    .scheme = "udp",
    .get_request = dgram_get_request,
    .request_end = dgram_request_end,
    .close_request = dgram_close_request,
};

const ss__transport ss__unix_dgram = {
    .scheme = "unix-dgram",
    .get_request = dgram_get_request,
    .request_end = dgram_request_end,
    .close_request = dgram_close_request,
};
