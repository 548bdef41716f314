/* relay.c: a chat member over TLS: its request copies the room's lines from a socket pair to the client while it waits for the client's input. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "relay.h"

/*
 * The client's input is read RELAY_CHUNK bytes at a time (a TLS record's
 * plaintext at most, 2^14 bytes). What the library took from the socket
 * but has not handed over yet (TLS reads ahead: several records may have
 * come in one receive) is not seen by the wait set, which sees the socket:
 * ss_input_buffered() says so, and the relay reads on without waiting.
 */
#define RELAY_CHUNK 16384

/* What the wait set's events carry. */
enum { FROM_CLIENT = 1, FROM_ROOM = 2 };

struct relay {
    int pair;                /* the handler's end: the room's lines for the client */
    int ep;                  /* the wait set: the client's connection and `pair` */
    bool reading;            /* the client's input is waited for too */
    char buf[RELAY_CHUNK];   /* the room's lines on their way out, or the
                                client's input just read (relay_read) */
};

static int watch(int ep, int fd, uint64_t tag)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = tag };

    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int relay_open(ss_request *req, struct relay **out, int *broker_end)
{
    struct relay *r = malloc(sizeof *r);
    int pair[2], rc;

    if (!r)
        return -ENOMEM;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        rc = -errno;
        if (r->ep >= 0)
            close(r->ep);
        free(r);
        return rc;
    }
    r->pair = pair[0];
    r->reading = true;
    if ((rc = watch(r->ep, ss_request_fd(req), FROM_CLIENT)) < 0 ||
        (rc = watch(r->ep, r->pair, FROM_ROOM)) < 0) {
        close(pair[1]);
        relay_close(r);
        return rc;
    }
    *broker_end = pair[1];
    *out = r;
    return 0;
}

void relay_close(struct relay *r)
{
    if (!r)
        return;
    close(r->ep);
    close(r->pair);
    free(r);
}

bool relay_closed(const struct relay *r)
{
    struct pollfd p = { .fd = r->pair, .events = POLLRDHUP };

    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

/* Copy what the pair holds now (a chunk at most) to the client. Returns 1
 * when there may be more, 0 once the room has closed its end or the client
 * is gone, or -errno. */
static int copy_out(struct relay *r, ss_request *req)
{
    ssize_t n;

    do
        n = recv(r->pair, r->buf, sizeof r->buf, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
    if (n == 0)
        return 0;
    ssize_t w = ss_write(req, r->buf, (size_t)n);
    /* A client that has left takes no more lines: the end of the member, as
     * over tcp://, where the broker's send fails and drops it quietly. */
    if (w == -EPIPE || w == -ECONNRESET)
        return 0;
    return w < 0 ? (int)w : 1;
}

int relay_wait(struct relay *r, ss_request *req, double by)
{
    for (;;) {
        struct epoll_event ev[2];
        bool client = false, room = false;
        int n = epoll_wait(r->ep, ev, 2, 0);

        if (n < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < n; i++) {
            client |= ev[i].data.u64 == FROM_CLIENT;
            room |= ev[i].data.u64 == FROM_ROOM;
        }
        client |= r->reading && ss_input_buffered(req);
        if (room) {
            int rc = copy_out(r, req);
            if (rc <= 0)
                return rc;
        }
        if (client) /* (relay_drain has taken the client out of the set) */
            return 1;
        if (room)
            continue;
        double left = by > 0 ? by - monotonic_secs() : 0;
        if (by > 0 && left <= 0)
            return -ETIMEDOUT;
        int rc = ss_wait_fd(req, r->ep, POLLIN, left);
        if (rc < 0)
            return rc;
    }
}

int relay_drain(struct relay *r, ss_request *req, double by)
{
    /* The client's input is no longer read: only the pair is waited for. */
    if (epoll_ctl(r->ep, EPOLL_CTL_DEL, ss_request_fd(req), NULL) < 0 && errno != ENOENT)
        return -errno;
    r->reading = false;
    return relay_wait(r, req, by);
}

ssize_t relay_read(struct relay *r, ss_request *req, const char **data)
{
    *data = r->buf;
    return ss_read1(req, r->buf, sizeof r->buf);
}
