/* dgram.c: the datagram transports (UDPServer, UnixDatagramServer): a packet taken as a request. */
#include "core/internal.h"

#include <stdlib.h>

static int dgram_get_request(ss_server *srv, ss_request **out)
{
    size_t max = srv->cfg.max_packet_size;
    ss_request *req = ss__request_new(srv, srv->fd, &ss__conn_dgram, NULL);
    if (!req)
        return -errno;
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
    ss__count_in(req, n); /* its whole length, a truncated one's too */
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

/* Send the reply, once, without waiting: 0, 1 when the socket cannot
 * take it now (its send buffer full, a Unix client's queue full), or
 * -errno. */
static int send_now(ss_request *req, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = sendto(req->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                           (const struct sockaddr *)&req->peer, req->peerlen);
        if (n >= 0) {
            ss__count_out(req, n);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return 1;
        return -errno;
    }
}

static void count_drop(ss_request *req)
{
    atomic_fetch_add_explicit(&req->srv->sh->dropped, 1, memory_order_relaxed);
}

/* A reply that cannot go out now is dropped and counted, as a network
 * drops a UDP datagram: a request never holds anything waiting for a
 * client to read. */
static int udp_reply(ss_request *req, const void *buf, size_t len)
{
    int rc = send_now(req, buf, len);
    if (rc == 1)
        count_drop(req);
    return rc < 0 ? rc : 0;
}

/* A Unix datagram client that does not read its replies keeps them
 * charged to the server's socket: each client gets a share of its send
 * buffer (dgram_budget.c); a reply past it is dropped and counted. */
static int unix_dgram_setup(ss_server *srv)
{
    ss__dgram_budget *b;
    int rc = ss__budget_new(srv, &b);
    if (rc == 0)
        srv->tp_state = b;
    return rc;
}

static int unix_dgram_reply(ss_request *req, const void *buf, size_t len)
{
    ss__dgram_budget *b = req->srv->tp_state;
    if (!ss__budget_take(b, req->fd, &req->peer, req->peerlen, len)) {
        count_drop(req);
        return 0;
    }
    int rc = send_now(req, buf, len);
    if (rc != 0) /* not sent after all */
        ss__budget_refund(b, &req->peer, req->peerlen, len);
    if (rc == 1)
        count_drop(req);
    return rc < 0 ? rc : 0;
}

static void unix_dgram_release(ss_server *srv)
{
    ss__budget_free(srv->tp_state);
    srv->tp_state = NULL;
}

const ss__transport ss__udp = {
    .scheme = "udp",
    .prefix = "udp://",
    .socktype = SOCK_DGRAM,
    .inet = true,
    .closes_first = false, /* requests reply through it */
    .setup = ss__tp_nop_setup,
    .get_request = dgram_get_request,
    .refuse = ss__tp_nop_server,
    .send_reply = udp_reply,
    .release = ss__tp_nop_server,
};

const ss__transport ss__unix_dgram = {
    .scheme = "unix-dgram",
    .prefix = "unix-dgram:",
    .socktype = SOCK_DGRAM,
    .inet = false,
    .closes_first = false,
    .setup = unix_dgram_setup,
    .get_request = dgram_get_request,
    .refuse = ss__tp_nop_server,
    .send_reply = unix_dgram_reply,
    .release = unix_dgram_release,
};
