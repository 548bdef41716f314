/* stream.c: the non-blocking stream connection: recv and send that never wait, and the "drained" shortcut of edge-triggered loops. */
#include "core/internal.h"

#include <sys/epoll.h>
#include <unistd.h>

/*
 * drained: a recv found the socket empty, or returned less than it was
 * given room for (on a stream socket the same thing), and the strategy's
 * loop has reported no input event since. Data that comes later raises an
 * event (the loop calls `ready`), so a read of a drained connection waits
 * at once instead of trying recv for EAGAIN: one system call in three
 * saved in a ping-pong. An end of input may come with the last data and
 * raise no further edge: once the loop has seen the peer shut down or an
 * error (shut), recv is always tried. Under poll (sync, forking) nobody
 * reports events, but a wait for input that returns means readable: the
 * shortcut saves the same call there.
 */
typedef struct stream_state {
    bool drained;
    bool shut;
} stream_state;

static bool stream_maybe_input(const ss__conn *c)
{
    const stream_state *st = c->state;
    return !st->drained;
}

static ssize_t stream_recv(ss__conn *c, void *buf, size_t n, int64_t deadline)
{
    (void)deadline; /* never waits here */
    stream_state *st = c->state;
    if (st->drained)
        return -EAGAIN;
    ssize_t got;
    do
        got = recv(c->req->fd, buf, n, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        got = errno == EWOULDBLOCK ? -EAGAIN : -errno;
    st->drained = !st->shut && (got == -EAGAIN || (got > 0 && (size_t)got < n));
    ss__count_in(c->req, got);
    return got;
}

static ssize_t stream_send(ss__conn *c, const void *buf, size_t n, int64_t deadline)
{
    (void)deadline;
    if (n == 0)
        return 0;
    ssize_t w;
    do
        w = send(c->req->fd, buf, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    ss__count_out(c->req, w);
    return w;
}

static int stream_wait(ss__conn *c, short events, int64_t deadline)
{
    int rc = c->req->srv->st->wait_conn(c->req, events, deadline);
    if (rc == 0 && (events & POLLIN)) { /* readable (a level-triggered wait says no more) */
        stream_state *st = c->state;
        st->drained = false;
    }
    return rc;
}

static void stream_ready(ss__conn *c, uint32_t events)
{
    stream_state *st = c->state;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        st->drained = false; /* input may be waiting again */
        st->shut |= (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    }
}

static void stream_shutdown(ss__conn *c)
{
    if (c->req->fd >= 0)
        shutdown(c->req->fd, SHUT_RDWR);
}

/* The peer sees the end of output (the handler may have left input unread). */
static void stream_close(ss__conn *c)
{
    ss_request *req = c->req;
    if (req->fd < 0)
        return;
    shutdown(req->fd, SHUT_WR);
    close(req->fd);
    req->fd = -1;
}

static void stream_drop(ss__conn *c)
{
    ss_request *req = c->req;
    if (req->fd >= 0)
        close(req->fd);
    req->fd = -1;
}

const ss__conn_type ss__conn_stream = {
    .name = "stream",
    .nonblocking = true,
    .state_size = sizeof(stream_state),
    .open = ss__conn_nop,
    .start = ss__conn_nop,
    .maybe_input = stream_maybe_input,
    .buffered = ss__conn_nothing_buffered,
    .recv = stream_recv,
    .send = stream_send,
    .wait = stream_wait,
    .ready = stream_ready,
    .end = ss__conn_nop,
    .shutdown = stream_shutdown,
    .close = stream_close,
    .drop = stream_drop,
    .tls_info = ss__conn_no_tls,
};
