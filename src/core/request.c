/* request.c: a request's life (setup -> handle -> finish, errors, close) and its accessors. */
#include "core/internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request and its connections' state, in one allocation. */
typedef struct {
    ss_request req;
    ss__conn lower;
    max_align_t state[];
} request_block;

static size_t aligned(size_t n)
{
    return (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
}

ss_request *ss__request_new(ss_server *srv, int fd, const ss__conn_type *conn, const ss__conn_type *lower)
{
    size_t upper_size = aligned(conn->state_size); /* small: no overflow */
    request_block *b = calloc(1, sizeof *b + upper_size + (lower ? lower->state_size : 0));
    if (!b)
        return NULL;
    ss_request *req = &b->req;
    req->srv = srv;
    req->fd = fd;
    req->conn = (ss__conn){.type = conn, .req = req, .state = b->state};
    if (lower) {
        b->lower = (ss__conn){.type = lower, .req = req, .state = (char *)b->state + upper_size};
        req->conn.lower = &b->lower;
    }
    req->seq = atomic_fetch_add_explicit(&srv->seq, 1, memory_order_relaxed) + 1;
#if SS_STATS
    req->opened = ss__now();
#endif
    atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
    int rc = conn->open(&req->conn);
    if (rc < 0) {
        req->fd = -1; /* the caller keeps its descriptor */
        ss__request_free(req);
        errno = -rc;
        return NULL;
    }
    return req;
}

/* Free the request's memory and give back its hold on the server; what
 * the connection still holds is let go without a word to the peer. */
void ss__request_free(ss_request *req)
{
    ss_server *srv = req->srv;
    req->conn.type->drop(&req->conn);
    free(req->rbuf);
    free(req->wbuf);
    free(req->peer_str);
    free(req->errmsg);
    free(req);
    ss__server_release(srv);
}

/* One message through the log (by default a line on stderr named after
 * the program). The reason may hold what a client sent (a handler's
 * ss_request_fail text): ss__log escapes it, so it stays one line of
 * plain text. */
static void default_handle_error(ss_server *srv, ss_request *req, int err)
{
    const char *why = req->errmsg ? req->errmsg : ss_strerror(err);
    const char *event = req->err_event ? req->err_event : err == -ECANCELED ? "request_cancelled" : "handler_failed";
    ss__log(srv, SS_LOG_ERROR, req, event, "request from %s failed: %s", ss_request_peer_str(req), why);
}

/* Tell handle_error; event names the failure for its default. */
static void tell(ss_request *req, int err, const char *event)
{
    ss_server *srv = req->srv;
    req->failed = true;
    req->err_event = event;
    if (srv->cfg.handle_error)
        srv->cfg.handle_error(srv, req, err);
    else
        default_handle_error(srv, req, err);
    req->err_event = NULL;
}

/* Pass a failure to the handle_error hook. A request cut short by a drain
 * counts once as cancelled, however many of its hooks report it. */
static void report(ss_request *req, int err, const char *event)
{
    ss_server *srv = req->srv;
    atomic_fetch_add_explicit(&srv->sh->errors, 1, memory_order_relaxed);
    if (err == -ECANCELED && !req->cancelled) {
        req->cancelled = true;
        atomic_fetch_add_explicit(&srv->sh->cancelled, 1, memory_order_relaxed);
    }
    tell(req, err, event);
}

void ss__report(ss_request *req, int err)
{
    report(req, err, NULL);
}

/* A client refused where its handler would run (proxy_protocol): no PROXY
 * header, or verify_request said no once it was read. */
static bool refused(ss_request *req)
{
    ss_server *srv = req->srv;
    int rc = ss__proxy_read(req);
    if (rc == -ECANCELED) {
        ss__report(req, rc);
        return true;
    }
    if (rc == 0 && (!srv->cfg.verify_request || srv->cfg.verify_request(srv, req)))
        return false;
    atomic_fetch_add_explicit(&srv->sh->refused, 1, memory_order_relaxed);
    if (rc < 0)
        tell(req, rc, "proxy_refused"); /* why the header was not taken (verify_request's own refusals are silent) */
    req->early_err = -EACCES; /* nothing to send */
    return true;
}

/* The handler's life cycle: finish runs whenever setup succeeded. */
void ss__finish_request(ss_request *req)
{
    const ss_handler *h = req->srv->cfg.handler;
    int rc;
    if (req->early_err < 0) {
        ss__report(req, req->early_err);
        return;
    }
    if (req->srv->cfg.proxy_protocol && refused(req))
        return;
    if ((rc = req->conn.type->start(&req->conn)) != 0) { /* the TLS handshake */
        if (rc < 0)
            report(req, rc, rc == -ECANCELED ? NULL : "tls_handshake_failed");
        else
            req->early_err = -ENOTCONN; /* the client left before a byte: nothing to send */
        return;
    }
    if (h->setup && (rc = h->setup(req)) < 0) {
        ss__report(req, rc);
        return;
    }
    if (h->handle && (rc = h->handle(req)) < 0)
        ss__report(req, rc);
    if (h->finish && (rc = h->finish(req)) < 0)
        ss__report(req, rc);
    req->ran = true;
}

/* A request ended: its bytes and duration into the server's counters,
 * and a conn_close line when info is logged. */
static void count_request(ss_request *req)
{
    ss_server *srv = req->srv;
#if SS_STATS
    ss__shared *sh = srv->sh;
    int64_t ns = ss__now() - req->opened;
    if (req->bytes_in)
        atomic_fetch_add_explicit(&sh->bytes_in, req->bytes_in, memory_order_relaxed);
    if (req->bytes_out)
        atomic_fetch_add_explicit(&sh->bytes_out, req->bytes_out, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->duration_sum_us, (uint64_t)(ns > 0 ? ns : 0) / 1000, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->duration[ss__duration_bucket(ns)], 1, memory_order_relaxed);
    if (ss__logs(srv, SS_LOG_INFO))
        ss__log(srv, SS_LOG_INFO, req, "conn_close", "request from %s done in %.3f ms, %llu bytes in, %llu out",
                ss_request_peer_str(req), (double)ns / 1e6, (unsigned long long)req->bytes_in,
                (unsigned long long)req->bytes_out);
#else
    if (ss__logs(srv, SS_LOG_INFO))
        ss__log(srv, SS_LOG_INFO, req, "conn_close", "request from %s done", ss_request_peer_str(req));
#endif
}

/* After the handler: send what is pending (the buffered output, then what
 * the connection sends at the end), count the request, close the
 * connection, free. A request completed when its handler ran to its end
 * and nothing of it (the final flush included) was cut short by a drain. */
void ss__request_done(ss_request *req)
{
    ss_server *srv = req->srv;
    if (req->early_err == 0) {
        int rc = ss_flush(req);
        if (rc == 0)
            rc = req->conn.type->end(&req->conn);
        if (rc < 0)
            ss__report(req, rc);
    }
    srv->st->before_close(req);
    req->conn.type->close(&req->conn);
    count_request(req);
    /* After its bytes and duration: a reader that sees it completed sees
     * them too (release; ss_server_stats reads it first, acquiring). */
    if (req->ran && !req->cancelled)
        atomic_fetch_add_explicit(&srv->sh->completed, 1, memory_order_release);
    ss__slot_release(srv);
    ss__request_free(req);
}

void ss__request_abort(ss_request *req, int err)
{
    ss__report(req, err);
    ss__request_done(req);
}

int ss_request_fd(const ss_request *req)
{
    return req->fd;
}

ss_server *ss_request_server(const ss_request *req)
{
    return req->srv;
}

const struct sockaddr *ss_request_peer(const ss_request *req, socklen_t *len)
{
    if (len)
        *len = req->peerlen;
    return (const struct sockaddr *)&req->peer;
}

const char *ss_request_peer_str(const ss_request *req)
{
    if (req->peer_str)
        return req->peer_str;
    char text[SS__PEER_STR_MAX];
    ss__sockaddr_str((const struct sockaddr *)&req->peer, req->peerlen, text, sizeof text);
    if (text[0] == '\0')
        snprintf(text, sizeof text, "unix:#%llu", (unsigned long long)req->seq);
    /* The cache is a convenience: on allocation failure we hand out a
     * constant rather than fail. */
    ((ss_request *)req)->peer_str = strdup(text);
    return req->peer_str ? req->peer_str : "?";
}

bool ss_request_is_datagram(const ss_request *req)
{
    return req->conn.type->datagram;
}

bool ss_request_counts(const ss_request *req, uint64_t *bytes_in, uint64_t *bytes_out, double *seconds)
{
    uint64_t in = 0, out = 0;
    double secs = 0.0;
#if SS_STATS
    int64_t ns = ss__now() - req->opened;
    in = req->bytes_in;
    out = req->bytes_out;
    secs = ns > 0 ? (double)ns / 1e9 : 0.0;
#else
    (void)req;
#endif
    if (bytes_in)
        *bytes_in = in;
    if (bytes_out)
        *bytes_out = out;
    if (seconds)
        *seconds = secs;
    return SS_STATS;
}

void ss_request_count_bytes(ss_request *req, uint64_t bytes_in, uint64_t bytes_out)
{
#if SS_STATS
    if (__builtin_add_overflow(req->bytes_in, bytes_in, &req->bytes_in))
        req->bytes_in = UINT64_MAX;
    if (__builtin_add_overflow(req->bytes_out, bytes_out, &req->bytes_out))
        req->bytes_out = UINT64_MAX;
#else
    (void)req, (void)bytes_in, (void)bytes_out;
#endif
}

void *ss_request_data(const ss_request *req)
{
    return req->data;
}

void ss_request_set_data(ss_request *req, void *data)
{
    req->data = data;
}

int ss_request_fail(ss_request *req, int err, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    free(req->errmsg);
    req->errmsg = msg;
    return err < 0 ? err : (err > 0 ? -err : -EIO);
}

const char *ss_request_error(const ss_request *req)
{
    return req->errmsg;
}
