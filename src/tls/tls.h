/* tls.h: TLS for tls:// servers: the server's context (OpenSSL 3), kept in the transport's state and swapped on reload (internal). */
#ifndef SS_TLS_H
#define SS_TLS_H

#include "core/internal.h"

#include <openssl/ssl.h>

#define SS__TLS_HANDSHAKE_SECS 10.0    /* when neither tls_handshake_timeout nor request_timeout is set */
#define SS__TLS_TICKET_SECS 3600.0     /* ticket keys rotate hourly by default */
#define SS__TLS_TICKET_MAX_SECS 604800.0 /* and at least weekly */

/* A server's TLS: the context new connections take, which a reload swaps. */
typedef struct ss__tls_ctx ss__tls_ctx;

/* Build it from srv->cfg (cert, key, client CA, ALPN). 0, or -errno with
 * ss_last_error() naming the file and the problem. */
int ss__tls_new(ss_server *srv, ss__tls_ctx **out);
void ss__tls_free(ss__tls_ctx *t);
/* Read the files again; on failure keep the old context. */
int ss__tls_reload(ss__tls_ctx *t, const ss_config *cfg);
/* A connection's SSL from the current context, or NULL (out of memory). */
SSL *ss__tls_new_ssl(ss__tls_ctx *t);
/* Session tickets (tickets.c): the context encrypts and decrypts them with
 * the shared keys t, and its sessions live as long as a key decrypts. */
void ss__tls_tickets_use(SSL_CTX *ctx, ss_tls_tickets *t);
double ss__tls_tickets_lifetime(const ss_tls_tickets *t);
/* The handshake's time limit, seconds. */
double ss__tls_handshake_secs(const ss_config *cfg);

/* Why the last OpenSSL call failed, in words a person can read (a
 * handshake's, or a file's): the first error of OpenSSL's queue mapped to
 * a sentence, else `fallback`. The queue is cleared. (reasons.c) */
const char *ss__tls_reason(const SSL *ssl, const char *fallback, char *buf, size_t size);

#endif /* SS_TLS_H */
