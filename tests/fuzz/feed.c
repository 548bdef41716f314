/* feed.c: a stream request (or a TLS one over it) whose input arrives in chunks the input chooses, sent whenever the reader would block. */
#include "fuzz.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The sync strategy with our wait: the reader blocks only when the socket is
 * empty, and then the peer sends the next chunk (or the wait fails); a
 * writer (TLS answers the client) only when the peer has not read its
 * output, which the wait then takes. */
static ss__strategy feed_strategy;
#define MAX_FAULTS 4 /* per input, so that every script ends */

/* The server's output, which no one reads: taken, so that it can send more.
 * Something must have been sent, or the wait would never end. */
static void drain_peer(const fuzz_feed *f)
{
    char sink[4096];
    ssize_t r, total = 0;
    while ((r = recv(f->peer, sink, sizeof sink, 0)) > 0)
        total += r;
    FUZZ_CHECK(total > 0, "a wait to send with nothing unread by the peer: it would hang");
}

static int feed_wait(ss_request *req, short events, int64_t deadline)
{
    fuzz_feed *f = ss_request_data(req);
    (void)deadline;
    FUZZ_CHECK(events == POLLIN || events == POLLOUT, "unexpected wait for events %d", events);
    FUZZ_CHECK(events == POLLOUT || !f->eof_sent, "the reader waits again after the end of input: it would hang");
    unsigned fault = fuzz_ctl_byte(f->ctl);
    if (fault >= 0xFE && f->faults < MAX_FAULTS) {
        f->faults++;
        if (fault == 0xFE) {
            f->fault = -ETIMEDOUT;
        } else { /* as ss_server_stop() with a drain deadline now passed */
            atomic_store(&req->srv->sh->drain_deadline, 1);
            f->fault = -ECANCELED;
        }
        return f->fault;
    }
    if (events == POLLOUT) {
        drain_peer(f);
        return 0;
    }
    if (f->sent == f->len) {
        FUZZ_CHECK(shutdown(f->peer, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
        f->eof_sent = true;
        return 0;
    }
    size_t n = fuzz_ctl_size(f->ctl, req->srv->cfg.rbufsize);
    if (n > f->len - f->sent)
        n = f->len - f->sent;
    ssize_t w = send(f->peer, f->data + f->sent, n, MSG_NOSIGNAL);
    FUZZ_CHECK(w == (ssize_t)n, "send of a %zu-byte chunk: %zd (%s)", n, w, strerror(errno));
    f->sent += n;
    return 0;
}

static const ss_handler no_handler = {0};

ss_server *fuzz_feed_server(ss_config cfg)
{
    cfg.handler = &no_handler;
    cfg.strategy = SS_SYNC;
    cfg.defer_activate = true;
    ss_server *srv = ss_server_new(&cfg);
    FUZZ_CHECK(srv, "ss_server_new(%s): %s", cfg.listen, ss_last_error() ? ss_last_error() : strerror(errno));
    if (!feed_strategy.wait_conn) {
        feed_strategy = *srv->st;
        feed_strategy.wait_conn = feed_wait;
    }
    srv->st = &feed_strategy;
    return srv;
}

/* The server of plain stream requests: made once. */
static ss_server *stream_server(void)
{
    static ss_server *srv;
    if (!srv) {
        char url[64];
        snprintf(url, sizeof url, "unix:@sockserv-fuzz-feed-%d", (int)getpid());
        srv = fuzz_feed_server((ss_config){.listen = url});
    }
    return srv;
}

void fuzz_feed_start(fuzz_feed *f, const uint8_t *data, size_t len, fuzz_ctl *ctl)
{
    fuzz_feed_start_on(f, stream_server(), &ss__conn_stream, NULL, data, len, ctl);
}

void fuzz_feed_start_on(fuzz_feed *f, ss_server *srv, const ss__conn_type *conn, const ss__conn_type *lower,
                        const uint8_t *data, size_t len, fuzz_ctl *ctl)
{
    static const size_t rbufsizes[] = {1, 2, 3, 7, 64, 1000, SS__DEFAULT_RBUFSIZE};
    unsigned b = fuzz_ctl_byte(ctl);
    srv->cfg.rbufsize = rbufsizes[b % (sizeof rbufsizes / sizeof rbufsizes[0])];

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
               "socketpair: %s", strerror(errno));
    *f = (fuzz_feed){.peer = sv[1], .data = data, .len = len, .ctl = ctl};
    f->req = ss__request_new(srv, sv[0], conn, lower);
    FUZZ_CHECK(f->req, "ss__request_new: %s", strerror(errno));
    ss_request_set_data(f->req, f);
}

void fuzz_feed_end(fuzz_feed *f)
{
    atomic_store(&f->req->srv->sh->drain_deadline, 0);
    close(f->peer);
    ss__request_free(f->req); /* closes its end */
}
