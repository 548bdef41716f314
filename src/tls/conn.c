/* conn.c: the TLS connection type: OpenSSL over the strategy's stream connection, through a BIO whose reads and writes are that connection's. */
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The record layer reads and writes through the lower connection (the
 * strategy's: non-blocking, or blocking under threading), so TLS waits
 * the way that connection does: a parked coroutine, a poll, or the kernel.
 * When the lower connection has nothing now, the BIO says "retry" and
 * OpenSSL WANT_READ/WANT_WRITE; this connection then answers -EAGAIN and
 * waits, through the lower one, for what OpenSSL wants (a read may need
 * to write first, and the reverse). Whether input may wait is OpenSSL's
 * buffer first, then the lower connection's own rule: a record boundary
 * is not a socket boundary.
 */
typedef struct tls_state {
    SSL *ssl;
    int64_t deadline;          /* of the call under way, for the BIO's lower calls */
    int lower_err;             /* what the lower connection failed with (SSL_ERROR_SYSCALL) */
    short want;                /* POLLIN or POLLOUT: what OpenSSL waits for; 0: the caller's */
    bool heard;                /* a byte came from the client */
    bool established;          /* the handshake completed */
    bool broken;               /* a fatal error: no close_notify at the end */
    int failed;                /* the fatal error, which every later call returns */
    char *subject;             /* the client certificate's, made on first use */
    char fingerprint[65];
    char alpn[256];            /* the protocol chosen (one of the server's own) */
} tls_state;

/* ---- The BIO: OpenSSL's I/O through the lower connection ---------------- */

static int bio_read(BIO *b, char *buf, int len)
{
    ss__conn *c = BIO_get_data(b);
    tls_state *st = c->state;
    ss__conn *lo = c->lower;
    BIO_clear_retry_flags(b);
    ssize_t n = lo->type->recv(lo, buf, (size_t)len, st->deadline);
    if (n > 0)
        st->heard = true;
    if (n >= 0)
        return (int)n; /* 0: the peer's end of input */
    if (n == -EAGAIN) {
        BIO_set_retry_read(b);
        st->want = POLLIN;
    } else {
        st->lower_err = (int)n;
    }
    return -1;
}

static int bio_write(BIO *b, const char *buf, int len)
{
    ss__conn *c = BIO_get_data(b);
    tls_state *st = c->state;
    ss__conn *lo = c->lower;
    BIO_clear_retry_flags(b);
    ssize_t n = lo->type->send(lo, buf, (size_t)len, st->deadline);
    if (n > 0)
        return (int)n;
    if (n == -EAGAIN) {
        BIO_set_retry_write(b);
        st->want = POLLOUT;
    } else {
        st->lower_err = n < 0 ? (int)n : -EIO;
    }
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* writes go straight to the connection */
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void make_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sockserv connection");
    if (m && (BIO_meth_set_read(m, bio_read) != 1 || BIO_meth_set_write(m, bio_write) != 1 ||
              BIO_meth_set_ctrl(m, bio_ctrl) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_method = m;
}

/* ---- The connection ------------------------------------------------------ */

static int tls_open(ss__conn *c)
{
    tls_state *st = c->state;
    ss__conn *lo = c->lower;
    int rc = lo->type->open(lo);
    if (rc < 0)
        return rc;
    pthread_once(&bio_once, make_bio_method);
    st->ssl = bio_method ? ss__tls_new_ssl(c->req->srv->tp_state) : NULL;
    BIO *bio = st->ssl ? BIO_new(bio_method) : NULL;
    if (!bio) {
        lo->type->drop(lo);
        return -ENOMEM;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(st->ssl, bio, bio);
    SSL_set_accept_state(st->ssl);
    return 0;
}

/* SSL_get_error needs an empty error queue; it is empty but when a
 * handler of its own used OpenSSL: peek (cheap) before clearing. */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* What a failed SSL call means: -EAGAIN (wait for st->want), 0 (the
 * peer's close_notify), or -errno with the reason recorded for
 * handle_error. */
static int why_failed(ss__conn *c, int r, const char *doing)
{
    tls_state *st = c->state;
    char why[200];
    switch (SSL_get_error(st->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        st->want = POLLIN;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        st->want = POLLOUT;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        st->broken = true;
        ERR_clear_error();
        if (st->lower_err < 0) { /* the connection's own failure: a timeout, a reset, a drain */
            int err = st->lower_err;
            st->lower_err = 0;
            return err;
        }
        return ss_request_fail(c->req, -ECONNABORTED, "TLS %s: the client closed the connection "
                               "without close_notify (truncated)", doing);
    default:
        st->broken = true;
        if (ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_SSL &&
            ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return ss_request_fail(c->req, -ECONNABORTED, "TLS %s: the client closed the connection "
                                   "without close_notify (truncated)", doing);
        }
        return ss_request_fail(c->req, -EPROTO, "TLS %s: %s", doing,
                               ss__tls_reason(st->ssl, "protocol error", why, sizeof why));
    }
}

/* A fatal error is the connection's for good: OpenSSL would answer a
 * later call otherwise (a clean end after an alert, "truncated" after a
 * bad record, data after a failed handshake), so every later read and
 * write returns the first error, as a plain connection's would. */
static int failure(ss__conn *c, int r, const char *doing)
{
    tls_state *st = c->state;
    int rc = why_failed(c, r, doing);
    if (st->broken && rc < 0)
        st->failed = rc;
    return rc;
}

/* The handshake, in the request's own thread or coroutine, within the
 * handshake's time limit. A client that fails it never reaches setup; one
 * that leaves (closes or resets) before its first byte, like a port probe
 * or a load balancer's health check, failed nothing: 1. */
static int tls_start(ss__conn *c)
{
    tls_state *st = c->state;
    ss__conn *lo = c->lower;
    ss_server *srv = c->req->srv;
    st->deadline = ss__deadline(ss__tls_handshake_secs(&srv->cfg));
    int rc;
    for (;;) {
        ERR_clear_error();
        st->want = 0;
        st->lower_err = 0;
        int r = SSL_do_handshake(st->ssl);
        if (r == 1) {
            st->established = true;
            return 0;
        }
        rc = failure(c, r, "handshake");
        if (rc == 0) /* a close_notify before the handshake ended */
            rc = ss_request_fail(c->req, -ECONNABORTED, "TLS handshake: the client closed the connection");
        if (rc != -EAGAIN)
            break;
        if ((rc = lo->type->wait(lo, st->want, st->deadline)) < 0)
            break;
    }
    st->broken = true;
    st->failed = rc; /* a timeout too: the handshake cannot go on */
    if (!st->heard && (rc == -ECONNRESET || rc == -EPIPE || rc == -ECONNABORTED)) {
        return 1;
    }
    if (rc == -ETIMEDOUT) /* from the wait, or from a blocking connection's own timeout */
        ss_request_fail(c->req, rc, "TLS handshake: not done within %g s", ss__tls_handshake_secs(&srv->cfg));
    else if (rc == -ECONNRESET || rc == -EPIPE)
        ss_request_fail(c->req, rc, "TLS handshake: the client reset the connection");
    atomic_fetch_add_explicit(&srv->sh->tls_failed, 1, memory_order_relaxed);
    return rc;
}

static bool tls_buffered(const ss__conn *c)
{
    const tls_state *st = c->state;
    return SSL_has_pending(st->ssl) || c->lower->type->buffered(c->lower);
}

static bool tls_maybe_input(const ss__conn *c)
{
    const tls_state *st = c->state;
    return SSL_has_pending(st->ssl) || c->lower->type->maybe_input(c->lower);
}

static ssize_t tls_recv(ss__conn *c, void *buf, size_t n, int64_t deadline)
{
    tls_state *st = c->state;
    size_t got;
    if (st->failed)
        return st->failed;
    st->deadline = deadline;
    st->want = 0;
    st->lower_err = 0;
    clear_errors();
    if (SSL_read_ex(st->ssl, buf, n, &got) == 1)
        return (ssize_t)got;
    return failure(c, 0, "read");
}

static ssize_t tls_send(ss__conn *c, const void *buf, size_t n, int64_t deadline)
{
    tls_state *st = c->state;
    size_t done;
    if (n == 0)
        return 0;
    if (st->failed)
        return st->failed;
    st->deadline = deadline;
    st->want = 0;
    st->lower_err = 0;
    clear_errors();
    if (SSL_write_ex(st->ssl, buf, n, &done) == 1)
        return (ssize_t)done;
    int rc = failure(c, 0, "write");
    return rc == 0 ? -EPIPE : rc; /* a close_notify: the peer reads no more */
}

/* For what OpenSSL wants, which may not be what the caller asked. */
static int tls_wait(ss__conn *c, short events, int64_t deadline)
{
    tls_state *st = c->state;
    short want = (short)(st->want ? st->want : events);
    st->want = 0;
    return c->lower->type->wait(c->lower, want, deadline);
}

static void tls_ready(ss__conn *c, uint32_t events)
{
    c->lower->type->ready(c->lower, events);
}

static void tls_shutdown(ss__conn *c)
{
    c->lower->type->shutdown(c->lower);
}

/* close_notify, once, without waiting for the client's: what the socket
 * takes now (a client that does not read gets a plain close). */
static void tls_close(ss__conn *c)
{
    tls_state *st = c->state;
    if (st->established && !st->broken && c->req->fd >= 0) {
        st->deadline = ss__deadline(0.1);
        ERR_clear_error();
        SSL_shutdown(st->ssl);
        ERR_clear_error();
    }
    c->lower->type->close(c->lower);
}

static void tls_drop(ss__conn *c)
{
    tls_state *st = c->state;
    SSL_free(st->ssl); /* and its BIO */
    st->ssl = NULL;
    free(st->subject);
    st->subject = NULL;
    c->lower->type->drop(c->lower);
}

/* The client certificate's subject, escaped like a peer name. */
static const char *peer_subject(tls_state *st)
{
    if (st->subject)
        return st->subject;
    X509 *cert = SSL_get0_peer_certificate(st->ssl);
    if (!cert)
        return NULL;
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem || X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(mem);
        return NULL;
    }
    char *raw;
    long len = BIO_get_mem_data(mem, &raw);
    size_t size = (size_t)len * 4 + 1;
    st->subject = malloc(size);
    if (st->subject)
        ss__escape(raw, (size_t)len, st->subject, size, SS__ESC_TEXT);
    BIO_free(mem);
    return st->subject;
}

static const char *peer_fingerprint(tls_state *st)
{
    if (st->fingerprint[0])
        return st->fingerprint;
    X509 *cert = SSL_get0_peer_certificate(st->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
        return NULL;
    for (unsigned i = 0; i < len; i++)
        snprintf(st->fingerprint + (size_t)2 * i, 3, "%02x", md[i]);
    return st->fingerprint;
}

static const char *tls_info(ss__conn *c, int what)
{
    tls_state *st = c->state;
    const unsigned char *alpn;
    unsigned len = 0;
    if (!st->established)
        return NULL;
    switch (what) {
    case SS__TLS_VERSION:
        return SSL_get_version(st->ssl);
    case SS__TLS_CIPHER:
        return SSL_get_cipher_name(st->ssl);
    case SS__TLS_ALPN:
        /* One of the server's own names (at most 255 bytes), not terminated. */
        SSL_get0_alpn_selected(st->ssl, &alpn, &len);
        if (len == 0)
            return NULL;
        memcpy(st->alpn, alpn, len);
        st->alpn[len] = '\0';
        return st->alpn;
    case SS__TLS_PEER_SUBJECT:
        return peer_subject(st);
    case SS__TLS_PEER_FINGERPRINT:
        return peer_fingerprint(st);
    }
    return NULL;
}

const ss__conn_type ss__conn_tls = {
    .name = "tls",
    .nonblocking = true, /* (the lower connection's say) */
    .state_size = sizeof(tls_state),
    .open = tls_open,
    .start = tls_start,
    .maybe_input = tls_maybe_input,
    .buffered = tls_buffered,
    .recv = tls_recv,
    .send = tls_send,
    .wait = tls_wait,
    .ready = tls_ready,
    .end = ss__conn_nop,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .drop = tls_drop,
    .tls_info = tls_info,
};
