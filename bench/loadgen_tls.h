/* loadgen_tls.h: the load generator's TLS client: OpenSSL 3 when the build found it, otherwise a stand-in that says TLS is absent. */
#ifndef LOADGEN_TLS_H
#define LOADGEN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * OpenSSL's own types, named by their struct tags so that this header needs
 * no OpenSSL header (and none is there in a build without TLS): a
 * connection's TLS state (SSL) and a session kept to resume (SSL_SESSION).
 * Certificates are not verified: the client talks to servers the benchmark
 * started on loopback with a certificate it made a moment ago.
 */
struct ssl_st;
struct ssl_session_st;

/* The TLS library this loadgen was built with ("OpenSSL 3.0.19 27 Jan
 * 2026"), or NULL when it was built without TLS. */
const char *lg_tls_library(void);

/* The client context, once: version 12 or 13 (TLS 1.2 or 1.3, nothing
 * else offered), one cipher suite and one key exchange group so that every
 * server negotiates the same ones; small_buffers gives OpenSSL's buffers
 * back between records (for many connections). 0, or -1 with the reason
 * on stderr. */
int lg_tls_setup(int version, bool small_buffers);

/* A TLS client on the socket fd (connected or connecting), offering to
 * resume session when it is not NULL. NULL on failure (reason on stderr). */
struct ssl_st *lg_tls_new(int fd, struct ssl_session_st *session);
void lg_tls_free(struct ssl_st *ssl);

/* One step of the handshake: 1 done, 0 waiting for the socket, -1 failed
 * (the first failure's reason goes to stderr). */
int lg_tls_handshake(struct ssl_st *ssl);
/* Did the completed handshake resume a session? */
bool lg_tls_resumed(const struct ssl_st *ssl);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519": what the handshake chose. */
void lg_tls_describe(struct ssl_st *ssl, char *buf, size_t len);

/* Like recv(2) and send(2) on the socket: bytes, or 0 from recv at the end
 * of the peer's data (its close_notify, or its end of input), or -1 with
 * errno: EAGAIN to wait for the socket, anything else a failure. */
ssize_t lg_tls_recv(struct ssl_st *ssl, void *buf, size_t len);
ssize_t lg_tls_send(struct ssl_st *ssl, const void *buf, size_t len);
/* Send close_notify (our end of input): 1 sent, 0 try again when the
 * socket is writable, -1 failed. */
int lg_tls_close_notify(struct ssl_st *ssl);

/* Keep the connection's session in *slot (for the next connection to
 * resume) when it can be resumed, in place of the one there. */
void lg_tls_keep_session(struct ssl_st *ssl, struct ssl_session_st **slot);
void lg_tls_free_session(struct ssl_session_st *session);

#endif
