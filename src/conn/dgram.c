/* dgram.c: the datagram connection: the packet is the input, what the handler writes is the reply, sent once after finish without waiting. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct dgram_state {
    char *reply;
    size_t len, cap;
    bool written;              /* ss_write was called (even with 0 bytes) */
} dgram_state;

/* The packet is all the input there is: it is in the request's buffer,
 * end of input set, so this is asked only past it. */
static ssize_t dgram_recv(ss__conn *c, void *buf, size_t n, int64_t deadline)
{
    (void)c, (void)buf, (void)n, (void)deadline;
    return 0;
}

/* Into the reply, up to the larger of max_packet_size and 64 KiB (a
 * length that would wrap is refused before a byte is read). */
static ssize_t dgram_send(ss__conn *c, const void *buf, size_t n, int64_t deadline)
{
    (void)deadline;
    dgram_state *st = c->state;
    size_t max = c->req->srv->cfg.max_packet_size;
    size_t cap = max > SS__REPLY_MIN_CAP ? max : SS__REPLY_MIN_CAP; /* <= SS__MAX_BUFSIZE */
    st->written = true;
    if (n == 0)
        return 0;
    if (n > cap - st->len)
        return -EMSGSIZE;
    if (st->cap - st->len < n) {
        size_t ncap = st->cap ? st->cap : 1024;
        while (ncap - st->len < n)
            ncap *= 2;
        if (ncap > cap)
            ncap = cap;
        char *p = realloc(st->reply, ncap);
        if (!p)
            return -ENOMEM;
        st->reply = p;
        st->cap = ncap;
    }
    memcpy(st->reply + st->len, buf, n);
    st->len += n;
    return (ssize_t)n;
}

/* Nothing here ever waits for the socket; a wait asked anyway is on it. */
static int dgram_wait(ss__conn *c, short events, int64_t deadline)
{
    return c->req->srv->st->wait_fd(c->req, c->req->fd, events, deadline);
}

/* The reply goes out once, never waiting (the transport drops what the
 * socket cannot take now, and counts it). */
static int dgram_end(ss__conn *c)
{
    dgram_state *st = c->state;
    if (!st->written) /* as in Python, even an empty reply is sent once written */
        return 0;
    return c->req->srv->tp->send_reply(c->req, st->reply, st->len);
}

/* The socket is the server's: it is not shut down, nor closed here. */
static void dgram_shutdown(ss__conn *c)
{
    (void)c;
}

static void dgram_close(ss__conn *c)
{
    c->req->fd = -1;
}

static void dgram_drop(ss__conn *c)
{
    dgram_state *st = c->state;
    free(st->reply);
    st->reply = NULL;
    c->req->fd = -1;
}

const ss__conn_type ss__conn_dgram = {
    .name = "datagram",
    .datagram = true,
    .nonblocking = true,
    .state_size = sizeof(dgram_state),
    .open = ss__conn_nop,
    .start = ss__conn_nop,
    .maybe_input = ss__conn_maybe_input,
    .buffered = ss__conn_nothing_buffered,
    .recv = dgram_recv,
    .send = dgram_send,
    .wait = dgram_wait,
    .ready = ss__conn_nop_ready,
    .end = dgram_end,
    .shutdown = dgram_shutdown,
    .close = dgram_close,
    .drop = dgram_drop,
    .tls_info = ss__conn_no_tls,
};
