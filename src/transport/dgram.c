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
    if (req->rlen < max / 2) { /* a small packet holds no more than it needs */
        char *fit = realloc(req->rbuf, req->rlen ? req->rlen : 1);
        if (fit) {
            req->rbuf = fit;
            req->rcap = req->rlen;
        }
    }
    req->eof = true; /* the packet is all the input there is */
    if (msg.msg_flags & MSG_TRUNC)
        req->early_err = ss_request_fail(req, -EMSGSIZE, "datagram of %zd bytes is larger than max_packet_size %zu", n, max);
    *out = req;
    return 0;
}

/* Send the reply, once, without waiting: a reply the socket cannot take
 * now (its send buffer full, a Unix client's queue full, or that client
 * over its share of the buffer: dgram_budget.c) is dropped and counted, as
 * a network drops a UDP datagram. A request never holds anything waiting
 * for a client to read. */
static int dgram_request_end(ss_request *req)
{
    ss_server *srv = req->srv;
    if (!req->reply) /* as in Python, even an empty reply is sent once written */
        return 0;
    if (!ss__budget_take(srv->budget, req->fd, &req->peer, req->peerlen, req->wlen)) {
        atomic_fetch_add_explicit(&srv->sh->dropped, 1, memory_order_relaxed);
        return 0;
    }
    for (;;) {
        ssize_t n = sendto(req->fd, req->wbuf, req->wlen, MSG_NOSIGNAL | MSG_DONTWAIT,
                           (const struct sockaddr *)&req->peer, req->peerlen);
        if (n >= 0) {
            req->wlen = 0;
            return 0;
        }
        if (errno == EINTR)
            continue;
        int err = errno;
        ss__budget_refund(srv->budget, &req->peer, req->peerlen, req->wlen);
        if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS)
            return -err;
        atomic_fetch_add_explicit(&srv->sh->dropped, 1, memory_order_relaxed);
        return 0;
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
