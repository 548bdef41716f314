/* loadgen_tls.c: the load generator's TLS client on OpenSSL 3 (non-blocking, one context for every connection), or its stand-in without TLS. */
#include "loadgen_tls.h"

#include <errno.h>
#include <stdio.h>

#ifdef LOADGEN_TLS

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

/*
 * One context for every connection. Choices, the same for every server:
 * TLS 1.3 (or 1.2) only, one cipher suite (AES-128-GCM, what Go's server
 * prefers and what most clients negotiate) and one key exchange group
 * (X25519, so no server asks for another key share; TLS 1.2 also names
 * P-256, the curve of the benchmark's ECDSA certificate, which a TLS 1.2
 * server must see offered to use that certificate). No certificate is
 * verified (the signature over the handshake still is: that is part of the
 * protocol, and of its cost). The end of the peer's data without its
 * close_notify counts as the end: every byte is checked by the caller, so
 * a truncation still shows as a missing echo.
 */
static SSL_CTX *ctx;
static bool reported;              /* the first failure's reason went to stderr */

const char *lg_tls_library(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

/* Say why the first failure happened; later ones are only counted. */
static void report(const char *what, int ssl_error)
{
    if (!reported) {
        char reason[256];
        unsigned long e = ERR_peek_error();
        if (e != 0)
            ERR_error_string_n(e, reason, sizeof reason);
        else if (ssl_error == SSL_ERROR_SYSCALL && errno != 0)
            snprintf(reason, sizeof reason, "%s", strerror(errno));
        else
            snprintf(reason, sizeof reason, "the server closed the connection");
        fprintf(stderr, "loadgen: TLS %s failed: %s\n", what, reason);
        reported = true;
    }
    ERR_clear_error();
}

int lg_tls_setup(int version, bool small_buffers)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        report("setup", SSL_ERROR_SSL);
        return -1;
    }
    int v = version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (small_buffers)
        mode |= SSL_MODE_RELEASE_BUFFERS;
    SSL_CTX_set_mode(ctx, mode);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* Several records per read from the socket: fewer system calls for the client. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_set_min_proto_version(ctx, v) != 1 || SSL_CTX_set_max_proto_version(ctx, v) != 1 ||
        SSL_CTX_set1_groups_list(ctx, version == 12 ? "X25519:P-256" : "X25519") != 1 ||
        (version == 12 ? SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256")
                       : SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256")) != 1) {
        report("setup", SSL_ERROR_SSL);
        SSL_CTX_free(ctx);
        ctx = NULL;
        return -1;
    }
    return 0;
}

struct ssl_st *lg_tls_new(int fd, struct ssl_session_st *session)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || (session && SSL_set_session(ssl, session) != 1)) {
        report("connection setup", SSL_ERROR_SSL);
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void lg_tls_free(struct ssl_st *ssl)
{
    SSL_free(ssl);
}

int lg_tls_handshake(struct ssl_st *ssl)
{
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    report("handshake", e);
    return -1;
}

bool lg_tls_resumed(const struct ssl_st *ssl)
{
    return SSL_session_reused(ssl) == 1;
}

void lg_tls_describe(struct ssl_st *ssl, char *buf, size_t len)
{
    const char *group = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
    snprintf(buf, len, "%s %s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl),
             group ? group : "(no key exchange)");
}

/* The errno for an I/O call's failure: EAGAIN, 0 for the end (recv), or the failure's. */
static int io_errno(SSL *ssl, int r, const char *what)
{
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    int saved = e == SSL_ERROR_SYSCALL && errno != 0 ? errno : EPROTO;
    report(what, e);
    return saved;
}

ssize_t lg_tls_recv(struct ssl_st *ssl, void *buf, size_t len)
{
    size_t n = 0;
    int r = SSL_read_ex(ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    int e = io_errno(ssl, r, "read");
    if (e == 0)
        return 0;
    errno = e;
    return -1;
}

ssize_t lg_tls_send(struct ssl_st *ssl, const void *buf, size_t len)
{
    size_t n = 0;
    int r = SSL_write_ex(ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    int e = io_errno(ssl, r, "write");
    errno = e != 0 ? e : EPIPE;
    return -1;
}

int lg_tls_close_notify(struct ssl_st *ssl)
{
    int r = SSL_shutdown(ssl);
    if (r >= 0)
        return 1; /* 0: sent, the peer's not come yet; 1: both */
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
        return 0;
    report("close_notify", e);
    return -1;
}

void lg_tls_keep_session(struct ssl_st *ssl, struct ssl_session_st **slot)
{
    SSL_SESSION *s = SSL_get1_session(ssl);
    if (!s)
        return;
    if (SSL_SESSION_is_resumable(s) != 1) {
        SSL_SESSION_free(s);
        return;
    }
    SSL_SESSION_free(*slot);
    *slot = s;
}

void lg_tls_free_session(struct ssl_session_st *session)
{
    SSL_SESSION_free(session);
}

#else /* built without OpenSSL 3: loadgen refuses --tls before any of these is reached */

const char *lg_tls_library(void)
{
    return NULL;
}

int lg_tls_setup(int version, bool small_buffers)
{
    (void)version, (void)small_buffers;
    errno = ENOSYS;
    return -1;
}

struct ssl_st *lg_tls_new(int fd, struct ssl_session_st *session)
{
    (void)fd, (void)session;
    errno = ENOSYS;
    return NULL;
}

void lg_tls_free(struct ssl_st *ssl)
{
    (void)ssl;
}

int lg_tls_handshake(struct ssl_st *ssl)
{
    (void)ssl;
    return -1;
}

bool lg_tls_resumed(const struct ssl_st *ssl)
{
    (void)ssl;
    return false;
}

void lg_tls_describe(struct ssl_st *ssl, char *buf, size_t len)
{
    (void)ssl;
    snprintf(buf, len, "no TLS");
}

ssize_t lg_tls_recv(struct ssl_st *ssl, void *buf, size_t len)
{
    (void)ssl, (void)buf, (void)len;
    errno = ENOSYS;
    return -1;
}

ssize_t lg_tls_send(struct ssl_st *ssl, const void *buf, size_t len)
{
    (void)ssl, (void)buf, (void)len;
    errno = ENOSYS;
    return -1;
}

int lg_tls_close_notify(struct ssl_st *ssl)
{
    (void)ssl;
    return -1;
}

void lg_tls_keep_session(struct ssl_st *ssl, struct ssl_session_st **slot)
{
    (void)ssl, (void)slot;
}

void lg_tls_free_session(struct ssl_session_st *session)
{
    (void)session;
}

#endif
