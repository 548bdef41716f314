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
    bool rcv_short;            /* SO_RCVTIMEO below request_timeout */
    ss__cancel_link link;      /* in the cancel set */
} blocking_state;

static int blocking_open(ss_request *req)
{
    blocking_state *st = req->conn_state;
    ss_server *srv = req->srv;
    if (srv->cfg.request_timeout > 0) {
        struct timeval tv = ss__timeval(ss__ns(srv->cfg.request_timeout));
        setsockopt(req->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(req->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    ss__cancel_set_add(ss__threading_cancel_set(srv), &st->link, req);
    return 0;
}

/* SO_RCVTIMEO is request_timeout, set at open: right for a read call's
 * first receive. A later receive of the same call may wait only what is
 * left until its deadline; the next call's first receive puts the full
 * timeout back. 0, or -ETIMEDOUT when no time is left (the caller then
 * only takes what is already there). */
static int rcv_timeout_until(ss_request *req, int64_t deadline)
{
    blocking_state *st = req->conn_state;
    if (deadline == 0)
        return 0;
    int64_t full = ss__ns(req->srv->cfg.request_timeout);
    int64_t left = deadline - ss__now();
    if (left < 1000) /* under the 1 us a timeval holds */
        return -ETIMEDOUT;
    bool call_start = left >= full - 1000000; /* within 1 ms of the full timeout */
    if (call_start && !st->rcv_short)
        return 0;
    if (call_start)
        left = full;
    struct timeval tv = ss__timeval(left);
    if (setsockopt(req->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return -errno;
    st->rcv_short = !call_start;
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

static ssize_t blocking_recv(ss_request *req, void *buf, size_t n, int64_t deadline)
{
    int rc = rcv_timeout_until(req, deadline);
    if (rc < 0 && rc != -ETIMEDOUT)
        return rc;
    int flags = rc == -ETIMEDOUT ? MSG_DONTWAIT : 0;
    ssize_t got;
    do
        got = recv(req->fd, buf, n, flags);
    while (got < 0 && errno == EINTR);
    return result(req, got, errno);
}

/* Waits in send until the socket takes some (SO_SNDTIMEO: no progress for
 * request_timeout is -ETIMEDOUT). */
static ssize_t blocking_send(ss_request *req, const void *buf, size_t n, int64_t deadline)
{
    (void)deadline;
    if (n == 0)
        return 0;
    ssize_t w;
    do
        w = send(req->fd, buf, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    return w >= 0 ? w : result(req, w, errno);
}

/* recv and send wait in the kernel and never answer -EAGAIN; a wait asked
 * anyway (for readiness alone) polls. */
static int blocking_wait(ss_request *req, short events, int64_t deadline)
{
    return ss__poll_wait(req, req->fd, events, deadline);
}

static void blocking_shutdown(ss_request *req)
{
    if (req->fd >= 0)
        shutdown(req->fd, SHUT_RDWR);
}

/* Out of the cancel set before the fd closes: the number may be reused. */
static void blocking_drop(ss_request *req)
{
    blocking_state *st = req->conn_state;
    ss__cancel_set_remove(&st->link);
    if (req->fd >= 0)
        close(req->fd);
    req->fd = -1;
}

static void blocking_close(ss_request *req)
{
    blocking_state *st = req->conn_state;
    ss__cancel_set_remove(&st->link);
    if (req->fd >= 0)
        shutdown(req->fd, SHUT_WR);
    blocking_drop(req);
}

const ss__conn_type ss__conn_blocking = {
    .name = "blocking stream",
    .nonblocking = false,
    .state_size = sizeof(blocking_state),
    .open = blocking_open,
    .maybe_input = ss__conn_maybe_input,
    .recv = blocking_recv,
    .send = blocking_send,
    .wait = blocking_wait,
    .ready = ss__conn_nop_ready,
    .end = ss__conn_nop_end,
    .shutdown = blocking_shutdown,
    .close = blocking_close,
    .drop = blocking_drop,
};
