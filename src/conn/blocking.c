/* blocking.c: the blocking stream connection (threading): the thread waits in recv and send, request_timeout is SO_RCVTIMEO/SO_SNDTIMEO, a drain shuts it down. */
#include "core/internal.h"
#include "strategy/cancel_set.h"

#include <unistd.h>

/*
 * As in Python's ThreadingTCPServer, the connection stays in blocking mode:
 * the thread waits in the kernel, which saves the failed recv and the poll
 * of every wait. A blocked thread cannot watch the drain timer, so the
 * connection is in its server's cancel set (threading's), whose thread
 * shuts it down when the timer fires: the blocked call returns and, the
 * deadline being past, reports -ECANCELED.
 */
typedef struct blocking_state {
    int64_t rcvtimeo, sndtimeo; /* the socket's SO_RCVTIMEO/SO_SNDTIMEO (ns, 0: none) */
    ss__cancel_link link;      /* in the cancel set */
} blocking_state;

static int blocking_open(ss__conn *c)
{
    blocking_state *st = c->state;
    ss_request *req = c->req;
    ss_server *srv = req->srv;
    if (srv->cfg.request_timeout > 0) {
        st->rcvtimeo = st->sndtimeo = ss__ns(srv->cfg.request_timeout);
        struct timeval tv = ss__timeval(st->rcvtimeo);
        setsockopt(req->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(req->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    ss__cancel_set_add(ss__threading_cancel_set(srv), &st->link, req);
    return 0;
}

/* Make the socket's timeout (SO_RCVTIMEO or SO_SNDTIMEO, *cur) fit a
 * call's deadline. The timeout set at open (request_timeout) is right for
 * a call's first wait; a later wait of the same call (or one with another
 * deadline: a TLS handshake's) may wait only what is left, and a call with
 * no deadline puts the one of open back. 0, or -ETIMEDOUT when no time is
 * left (the caller then only takes what is already there). */
static int timeout_until(ss__conn *c, int opt, int64_t *cur, int64_t deadline)
{
    int64_t full = ss__ns(c->req->srv->cfg.request_timeout), want = full;
    if (deadline != 0) {
        int64_t left = deadline - ss__now();
        if (left < 1000) /* under the 1 us a timeval holds */
            return -ETIMEDOUT;
        /* Within 1 ms of request_timeout: the call's first wait, as set. */
        want = full && left >= full - 1000000 && left <= full ? full : left;
    }
    if (want == *cur)
        return 0;
    struct timeval tv = want ? ss__timeval(want) : (struct timeval){0, 0};
    if (setsockopt(c->req->fd, SOL_SOCKET, opt, &tv, sizeof tv) < 0)
        return -errno;
    *cur = want;
    return 0;
}

/* What a failed or empty call means here: a timeout (SO_RCVTIMEO or
 * SO_SNDTIMEO ran out), or a cancel (the cancel set shut the connection
 * down) rather than the peer's end of input or a reset. */
static ssize_t result(ss_request *req, ssize_t got, int err)
{
    if (got > 0)
        return got;
    if (ss__cancelled(req->srv))
        return -ECANCELED;
    if (got == 0)
        return 0;
    return err == EAGAIN || err == EWOULDBLOCK ? -ETIMEDOUT : -err;
}

static ssize_t blocking_recv(ss__conn *c, void *buf, size_t n, int64_t deadline)
{
    blocking_state *st = c->state;
    int rc = timeout_until(c, SO_RCVTIMEO, &st->rcvtimeo, deadline);
    if (rc < 0 && rc != -ETIMEDOUT)
        return rc;
    int flags = rc == -ETIMEDOUT ? MSG_DONTWAIT : 0;
    ssize_t got;
    do
        got = recv(c->req->fd, buf, n, flags);
    while (got < 0 && errno == EINTR);
    ss__count_in(c->req, got);
    return result(c->req, got, errno);
}

/* Waits in send until the socket takes some (SO_SNDTIMEO: no progress
 * until the deadline is -ETIMEDOUT). */
static ssize_t blocking_send(ss__conn *c, const void *buf, size_t n, int64_t deadline)
{
    blocking_state *st = c->state;
    if (n == 0)
        return 0;
    int rc = timeout_until(c, SO_SNDTIMEO, &st->sndtimeo, deadline);
    if (rc < 0 && rc != -ETIMEDOUT)
        return rc;
    int flags = MSG_NOSIGNAL | (rc == -ETIMEDOUT ? MSG_DONTWAIT : 0);
    ssize_t w;
    do
        w = send(c->req->fd, buf, n, flags);
    while (w < 0 && errno == EINTR);
    ss__count_out(c->req, w);
    return w >= 0 ? w : result(c->req, w, errno);
}

/* recv and send wait in the kernel and never answer -EAGAIN; a wait asked
 * anyway (for readiness alone) polls. */
static int blocking_wait(ss__conn *c, short events, int64_t deadline)
{
    return ss__poll_wait(c->req, c->req->fd, events, deadline);
}

static void blocking_shutdown(ss__conn *c)
{
    if (c->req->fd >= 0)
        shutdown(c->req->fd, SHUT_RDWR);
}

/* Out of the cancel set before the fd closes: the number may be reused. */
static void blocking_drop(ss__conn *c)
{
    blocking_state *st = c->state;
    ss_request *req = c->req;
    ss__cancel_set_remove(&st->link);
    if (req->fd >= 0)
        close(req->fd);
    req->fd = -1;
}

static void blocking_close(ss__conn *c)
{
    blocking_state *st = c->state;
    ss__cancel_set_remove(&st->link);
    if (c->req->fd >= 0)
        shutdown(c->req->fd, SHUT_WR);
    blocking_drop(c);
}

const ss__conn_type ss__conn_blocking = {
    .name = "blocking stream",
    .nonblocking = false,
    .state_size = sizeof(blocking_state),
    .open = blocking_open,
    .start = ss__conn_nop,
    .maybe_input = ss__conn_maybe_input,
    .buffered = ss__conn_nothing_buffered,
    .recv = blocking_recv,
    .send = blocking_send,
    .wait = blocking_wait,
    .ready = ss__conn_nop_ready,
    .end = ss__conn_nop,
    .shutdown = blocking_shutdown,
    .close = blocking_close,
    .drop = blocking_drop,
    .tls_info = ss__conn_no_tls,
};
