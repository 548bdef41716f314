/* request_io.c: the handler's I/O calls: a buffered reader and writer over the request's connection, whatever its type. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read call's deadline: request_timeout from its start (a write's: from
 * its last progress). */
static int64_t io_deadline(const ss_request *req)
{
    return ss__deadline(req->srv->cfg.request_timeout);
}

/* Buffered input not yet consumed. */
static size_t avail(const ss_request *req)
{
    return req->rlen - req->rpos;
}

static void consume(ss_request *req, size_t n)
{
    req->rpos += n;
    req->scan = req->scan > n ? req->scan - n : 0;
    if (req->rpos == req->rlen)
        req->rpos = req->rlen = req->scan = 0;
}

/* Send all of buf on the connection; fail after request_timeout without
 * progress (a slow reader that keeps taking bytes is waited for). */
static int send_all(ss_request *req, const char *buf, size_t n)
{
    if (ss__cancelled(req->srv))
        return -ECANCELED;
    int64_t deadline = io_deadline(req);
    while (n > 0) {
        ssize_t w = req->conn.type->send(&req->conn, buf, n, deadline);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            deadline = io_deadline(req);
            continue;
        }
        if (w != -EAGAIN)
            return w < 0 ? (int)w : -EIO;
        int rc = req->conn.type->wait(&req->conn, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Send what the handler wrote and the buffer holds (wbufsize). Also done
 * before every receive: input is then needed from the connection, which
 * may mean waiting for the client, and a client that waits for the reply
 * before it sends more would never send (C's stdio flushes interactive
 * streams in the same case). */
static int flush_output(ss_request *req)
{
    if (req->wlen == 0)
        return 0;
    int rc = send_all(req, req->wbuf, req->wlen);
    if (rc == 0)
        req->wlen = 0;
    return rc;
}

/* The input buffer holds nothing: give it back, so a connection that waits
 * for input (most of them, with many clients) holds no buffer. */
static void release_idle_input(ss_request *req)
{
    if (req->rlen != 0)
        return;
    free(req->rbuf);
    req->rbuf = NULL;
    req->rcap = req->rpos = req->scan = 0;
}

/* Before any receive: nothing to read past the end, nothing after a
 * drain, and the output sent. 0, or what the call returns now. */
static ssize_t before_receive(ss_request *req)
{
    if (req->eof)
        return 0;
    if (ss__cancelled(req->srv))
        return -ECANCELED;
    int rc = flush_output(req);
    return rc < 0 ? rc : 1;
}

/* One receive into buf: > 0 bytes, 0 at end of input, or -errno. Waits
 * through the connection (a strategy's poll or loop) when nothing comes. */
static ssize_t recv_some(ss_request *req, void *buf, size_t n, int64_t deadline)
{
    ssize_t rc = before_receive(req);
    if (rc <= 0)
        return rc;
    for (;;) {
        ssize_t got = req->conn.type->recv(&req->conn, buf, n, deadline);
        if (got == 0)
            req->eof = true;
        if (got != -EAGAIN)
            return got;
        if ((rc = req->conn.type->wait(&req->conn, POLLIN, deadline)) < 0)
            return rc;
    }
}

static size_t rbufsize(const ss_request *req)
{
    return req->srv->cfg.rbufsize ? req->srv->cfg.rbufsize : SS__DEFAULT_RBUFSIZE;
}

/* Make room for at least `want` bytes after the buffered data, compacting
 * and growing the buffer (never beyond `limit` in all). A buffer grown for
 * a long line makes the next fresh one (after an idle buffer was freed)
 * twice that size at once, up to 4 x rbufsize: such lines then come in one
 * recv that does not fill the buffer, so it also shows the socket drained. */
static int reserve(ss_request *req, size_t want, size_t limit)
{
    size_t base = rbufsize(req);
    if (req->rlen == 0 && req->rcap > 4 * base) { /* give back a long line's room */
        free(req->rbuf);
        req->rbuf = NULL;
        req->rcap = req->rpos = req->scan = 0;
    }
    if (req->rpos > 0 && req->rcap - req->rlen < want) {
        memmove(req->rbuf, req->rbuf + req->rpos, avail(req));
        req->rlen -= req->rpos;
        req->rpos = 0;
    }
    if (req->rcap - req->rlen >= want)
        return 0;
    size_t cap = req->rcap;
    if (cap == 0)
        cap = req->rwant > base && limit > base ? (req->rwant < limit ? req->rwant : limit) : base;
    while (cap - req->rlen < want && cap < limit)
        cap = cap > limit / 2 ? limit : cap * 2;
    if (cap <= req->rcap)
        return req->rcap > req->rlen ? 0 : -EMSGSIZE;
    char *p = realloc(req->rbuf, cap);
    if (!p)
        return -ENOMEM;
    if (req->rcap) /* grown for a long line (base <= SS__MAX_BUFSIZE: no overflow) */
        req->rwant = cap < 2 * base ? 2 * cap : 4 * base;
    req->rbuf = p;
    req->rcap = cap;
    return 0;
}

/* Receive more into the buffer: > 0, 0 at end of input, or -errno. A
 * connection that knows no input waits is waited on at once, without a
 * buffer (it is released while waiting). */
static ssize_t fill(ss_request *req, size_t limit, int64_t deadline)
{
    ssize_t rc = before_receive(req);
    if (rc <= 0)
        return rc;
    for (;;) {
        if (req->conn.type->maybe_input(&req->conn)) {
            if ((rc = reserve(req, 1, limit)) < 0)
                return rc;
            ssize_t n = req->conn.type->recv(&req->conn, req->rbuf + req->rlen, req->rcap - req->rlen, deadline);
            if (n > 0)
                req->rlen += (size_t)n;
            if (n == 0)
                req->eof = true;
            if (n != -EAGAIN)
                return n;
        }
        release_idle_input(req);
        if ((rc = req->conn.type->wait(&req->conn, POLLIN, deadline)) < 0)
            return rc;
    }
}

ssize_t ss_read(ss_request *req, void *buf, size_t n)
{
    char *out = buf;
    size_t got = 0;
    int64_t deadline = io_deadline(req);
    while (got < n) {
        size_t take = avail(req);
        if (take) {
            take = take < n - got ? take : n - got;
            memcpy(out + got, req->rbuf + req->rpos, take);
            consume(req, take);
            got += take;
            continue;
        }
        /* Large reads bypass the buffer. An error after some data returns
         * the data; the next call reports the error. */
        bool direct = n - got >= rbufsize(req);
        ssize_t r = direct ? recv_some(req, out + got, n - got, deadline) : fill(req, rbufsize(req), deadline);
        if (r < 0)
            return got ? (ssize_t)got : r;
        if (r == 0)
            break;
        if (direct)
            got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t ss_read1(ss_request *req, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (avail(req) == 0) {
        int64_t deadline = io_deadline(req);
        if (n >= rbufsize(req))
            return recv_some(req, buf, n, deadline);
        ssize_t r = fill(req, rbufsize(req), deadline);
        if (r <= 0)
            return r;
    }
    size_t take = avail(req) < n ? avail(req) : n;
    memcpy(buf, req->rbuf + req->rpos, take);
    consume(req, take);
    return (ssize_t)take;
}

bool ss_input_buffered(const ss_request *req)
{
    return avail(req) > 0 || req->conn.type->buffered(&req->conn);
}

ssize_t ss_readline(ss_request *req, char *buf, size_t size)
{
    if (size < 2)
        return -EINVAL;
    size_t got = 0, room = size - 1;
    int64_t deadline = io_deadline(req);
    while (got < room) {
        if (avail(req) == 0) {
            ssize_t r = fill(req, rbufsize(req), deadline);
            if (r < 0) {
                buf[got] = '\0';
                return got ? (ssize_t)got : r;
            }
            if (r == 0)
                break;
        }
        size_t take = avail(req) < room - got ? avail(req) : room - got;
        const char *start = req->rbuf + req->rpos;
        const char *nl = memchr(start, '\n', take);
        if (nl)
            take = (size_t)(nl - start) + 1;
        memcpy(buf + got, start, take);
        consume(req, take);
        got += take;
        if (nl)
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

ssize_t ss_readline_ref(ss_request *req, const char **line, size_t max)
{
    int64_t deadline = io_deadline(req);
    if (max == 0)
        return -EINVAL;
    for (;;) {
        size_t have = avail(req);
        size_t look = have < max ? have : max;
        if (req->scan < look) {
            const char *start = req->rbuf + req->rpos;
            const char *nl = memchr(start + req->scan, '\n', look - req->scan);
            if (nl) {
                size_t len = (size_t)(nl - start) + 1;
                *line = start;
                consume(req, len);
                req->scan = 0;
                return (ssize_t)len;
            }
            req->scan = look;
        }
        if (have >= max)
            return -EMSGSIZE;
        ssize_t r = fill(req, max > rbufsize(req) ? max : rbufsize(req), deadline);
        if (r < 0)
            return r;
        if (r == 0) { /* end of input: the last line has no '\n' */
            *line = have ? req->rbuf + req->rpos : ""; /* no buffer, maybe */
            consume(req, have);
            req->scan = 0;
            return (ssize_t)have;
        }
    }
}

ssize_t ss_read_all(ss_request *req, char **out, size_t max)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    int64_t deadline = io_deadline(req);
    for (;;) {
        if (len == cap) { /* cap <= max + 1: len > max returned below */
            /* Double, up to max + 1 bytes (one past the limit shows that it
             * was passed) and one more for the NUL: never wrapping. */
            size_t limit = max < SIZE_MAX - 2 ? max + 1 : SIZE_MAX - 1;
            size_t ncap = cap == 0 ? rbufsize(req) : (cap > limit / 2 ? limit : cap * 2);
            if (ncap > limit)
                ncap = limit;
            if (ncap <= cap) {
                free(buf);
                return -ENOMEM;
            }
            char *p = realloc(buf, ncap + 1);
            if (!p) {
                free(buf);
                return -ENOMEM;
            }
            buf = p;
            cap = ncap;
        }
        ssize_t r;
        if (avail(req)) {
            r = (ssize_t)(avail(req) < cap - len ? avail(req) : cap - len);
            memcpy(buf + len, req->rbuf + req->rpos, (size_t)r);
            consume(req, (size_t)r);
        } else {
            r = recv_some(req, buf + len, cap - len, deadline);
        }
        if (r < 0) {
            free(buf);
            return r;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            free(buf);
            return -EMSGSIZE;
        }
    }
    buf[len] = '\0';
    *out = buf;
    return (ssize_t)len;
}

/* Append to the output buffer, growing it up to cap (wbufsize, at most
 * SS__MAX_BUFSIZE: doubling it never wraps). */
static int buffer_out(ss_request *req, const void *buf, size_t n, size_t cap)
{
    if (n == 0) /* nothing to copy, maybe no buffer yet */
        return 0;
    if (n > cap - req->wlen)
        return -EMSGSIZE;
    if (req->wcap - req->wlen < n) {
        size_t ncap = req->wcap ? req->wcap : 1024;
        while (ncap - req->wlen < n)
            ncap *= 2;
        if (ncap > cap)
            ncap = cap;
        char *p = realloc(req->wbuf, ncap);
        if (!p)
            return -ENOMEM;
        req->wbuf = p;
        req->wcap = ncap;
    }
    memcpy(req->wbuf + req->wlen, buf, n);
    req->wlen += n;
    return 0;
}

ssize_t ss_write(ss_request *req, const void *buf, size_t n)
{
    int rc;
    if (n == 0) { /* nothing to send, but the connection hears of it (a datagram's empty reply) */
        ssize_t w = req->conn.type->send(&req->conn, buf, 0, 0);
        return w < 0 ? w : 0;
    }
    size_t wbufsize = req->srv->cfg.wbufsize;
    if (wbufsize && n <= wbufsize - req->wlen) {
        rc = buffer_out(req, buf, n, wbufsize);
        return rc < 0 ? rc : (ssize_t)n;
    }
    if ((rc = flush_output(req)) < 0)
        return rc;
    if (wbufsize && n < wbufsize) {
        rc = buffer_out(req, buf, n, wbufsize);
        return rc < 0 ? rc : (ssize_t)n;
    }
    rc = send_all(req, buf, n);
    return rc < 0 ? rc : (ssize_t)n;
}

ssize_t ss_writef(ss_request *req, const char *fmt, ...)
{
    char small[512], *text = small, *big = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -EINVAL;
    if ((size_t)len >= sizeof small) {
        text = big = malloc((size_t)len + 1);
        if (!big)
            return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(text, (size_t)len + 1, fmt, ap);
        va_end(ap);
    }
    ssize_t rc = ss_write(req, text, (size_t)len);
    free(big);
    return rc;
}

int ss_flush(ss_request *req)
{
    return flush_output(req);
}

int ss_sleep(ss_request *req, double seconds)
{
    int64_t deadline = ss__deadline(seconds);
    if (deadline == 0)
        return ss__cancelled(req->srv) ? -ECANCELED : 0;
    int rc = req->srv->st->wait_fd(req, -1, 0, deadline);
    return rc == -ETIMEDOUT ? 0 : rc;
}

int ss_wait_fd(ss_request *req, int fd, short events, double timeout)
{
    if (ss__cancelled(req->srv))
        return -ECANCELED;
    /* Ready already? The strategies' waits assume the caller just saw
     * EAGAIN (the event loops are edge-triggered), which need not be so here. */
    struct pollfd p = {.fd = fd, .events = events};
    if (poll(&p, 1, 0) > 0)
        return 0;
    return req->srv->st->wait_fd(req, fd, events, ss__deadline(timeout));
}

int ss_run_blocking(ss_request *req, int (*fn)(void *arg), void *arg)
{
    return req->srv->st->run_blocking(req, fn, arg);
}
