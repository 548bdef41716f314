/* context.c: a tls:// server's TLS context: built once from its files, shared by every request (threads, loops, forked children), swapped by a reload. */
#include "tls/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss__tls_ctx {
    pthread_mutex_t lock;              /* guards ctx while a connection takes it or a reload swaps it */
    SSL_CTX *ctx;
    unsigned char *alpn;               /* the protocols offered, in ALPN wire format */
    size_t alpn_len;
    ss_tls_tickets *tickets;           /* cfg.tls_tickets, or our own: kept
                                          over reloads, so sessions resume */
    bool own_tickets;
};

double ss__tls_handshake_secs(const ss_config *cfg)
{
    if (cfg->tls_handshake_timeout > 0)
        return cfg->tls_handshake_timeout;
    return cfg->request_timeout > 0 ? cfg->request_timeout : SS__TLS_HANDSHAKE_SECS;
}

/* "h2,http/1.1" as ALPN's wire format (length-prefixed names). 0 or -errno. */
static int alpn_wire(const char *list, unsigned char **out, size_t *len)
{
    size_t n = strlen(list);
    unsigned char *w = malloc(n + 1);
    if (!w)
        return -ENOMEM;
    size_t used = 0;
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == 0 || l > 255) {
            free(w);
            return ss__fail(-EINVAL, "tls_alpn: '%s': each protocol is 1 to 255 bytes, separated by commas", list);
        }
        w[used++] = (unsigned char)l;
        for (size_t i = 0; i < l; i++) /* length-prefixed names: no terminator */
            w[used++] = (unsigned char)p[i];
        p += l + (comma ? 1 : 0);
        if (comma && !*p) {
            free(w);
            return ss__fail(-EINVAL, "tls_alpn: '%s' ends with a comma", list);
        }
    }
    *out = w;
    *len = used;
    return 0;
}

/* The client's list against ours, in our order of preference; no protocol
 * in common ends the handshake (RFC 7301's no_application_protocol). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    (void)ssl;
    const ss__tls_ctx *t = arg;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* A key with a passphrase is refused: there is nobody to type it. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg) /* NOLINT(readability-non-const-parameter): OpenSSL's callback type */
{
    (void)buf, (void)size, (void)rwflag, (void)arg;
    return 0;
}

/* Is the file there and readable? 0, or -errno naming it. */
static int readable(const char *what, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return ss__fail(-errno, "%s: cannot read '%s': %s", what, path, strerror(errno));
    fclose(f);
    return 0;
}

static bool file_mentions(const char *path, const char *word)
{
    FILE *f = fopen(path, "r");
    char line[256];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, word) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Building a context takes OpenSSL's own locks (its algorithm store), and
 * so does freeing one (its ex_data, its store): a fork meanwhile (the
 * forking strategy's, while a reload runs on another thread) would leave
 * the child with them held, stuck at its first handshake. So both are done
 * inside the fork gate (fork_gate.c). */
static SSL_CTX *build_ctx(const ss_config *cfg, const ss__tls_ctx *t, int *err);

/* A context let go of, out of any fork's way (connections still open hold
 * references of their own). */
static void release(SSL_CTX *ctx)
{
    ss_fork_gate_enter();
    SSL_CTX_free(ctx);
    ss_fork_gate_leave();
}

/* A context from the files of cfg; NULL with the reason recorded. */
static SSL_CTX *build(const ss_config *cfg, const ss__tls_ctx *t, int *err)
{
    ss_fork_gate_enter();
    SSL_CTX *ctx = build_ctx(cfg, t, err);
    ss_fork_gate_leave();
    return ctx;
}

static SSL_CTX *build_ctx(const ss_config *cfg, const ss__tls_ctx *t, int *err)
{
    char why[256];
    *err = -EINVAL;
    if (!cfg->tls_cert || !cfg->tls_key) {
        ss__fail(-EINVAL, "tls: a tls:// server needs tls_cert and tls_key");
        return NULL;
    }
    if ((*err = readable("tls_cert", cfg->tls_cert)) < 0 || (*err = readable("tls_key", cfg->tls_key)) < 0 ||
        (cfg->tls_client_ca && (*err = readable("tls_client_ca", cfg->tls_client_ca)) < 0))
        return NULL;
    *err = -EINVAL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ss__fail(-ENOMEM, "tls: %s", ss__tls_reason(NULL, "cannot make a TLS context", why, sizeof why));
        *err = -ENOMEM;
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Idle connections hold no record buffers (many clients under event);
     * writes may be partial and their buffer may move, as ss_write's do. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_num_tickets(ctx, 1);
    /* Read what the socket has, not a record header then its body: one
     * recv per request instead of three (header, body, EAGAIN). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sockserv", 8);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        ss__fail(-EINVAL, "tls_cert: '%s': %s", cfg->tls_cert,
                 ss__tls_reason(NULL, "no PEM certificate in it", why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_X509 &&
            ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            ss__fail(-EINVAL, "tls_key: '%s' does not match the certificate in '%s'", cfg->tls_key, cfg->tls_cert);
        } else if (file_mentions(cfg->tls_key, "ENCRYPTED"))
            ss__fail(-EINVAL, "tls_key: '%s': the key is encrypted (it needs a passphrase): "
                              "give an unencrypted key", cfg->tls_key);
        else
            ss__fail(-EINVAL, "tls_key: '%s': %s", cfg->tls_key,
                     ss__tls_reason(NULL, "no PEM private key in it", why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        ss__fail(-EINVAL, "tls_key: '%s' does not match the certificate in '%s'", cfg->tls_key, cfg->tls_cert);
        goto fail;
    }
    if (cfg->tls_client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ss__fail(-EINVAL, "tls_client_ca: '%s': %s", cfg->tls_client_ca,
                     ss__tls_reason(NULL, "no PEM certificate in it", why, sizeof why));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)t);
    ss__tls_tickets_use(ctx, t->tickets);
    *err = 0;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int ss__tls_new(ss_server *srv, ss__tls_ctx **out)
{
    ss__tls_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    int rc = 0;
    t->tickets = srv->cfg.tls_tickets;
    if (!t->tickets) {
        /* MAP_SHARED: the forking strategy's children use them too. */
        if (!(t->tickets = ss_tls_tickets_new(0))) {
            ss__tls_free(t);
            return -errno;
        }
        t->own_tickets = true;
    }
    if (srv->cfg.tls_alpn && (rc = alpn_wire(srv->cfg.tls_alpn, &t->alpn, &t->alpn_len)) < 0) {
        ss__tls_free(t);
        return rc;
    }
    t->ctx = build(&srv->cfg, t, &rc);
    if (!t->ctx) {
        ss__tls_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void ss__tls_free(ss__tls_ctx *t)
{
    if (!t)
        return;
    release(t->ctx);
    free(t->alpn);
    if (t->own_tickets)
        ss_tls_tickets_free(t->tickets);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int ss__tls_reload(ss__tls_ctx *t, const ss_config *cfg)
{
    int rc;
    SSL_CTX *fresh = build(cfg, t, &rc);
    if (!fresh)
        return rc;
    pthread_mutex_lock(&t->lock);
    SSL_CTX *old = t->ctx;
    t->ctx = fresh; /* the same ticket keys (build): sessions resume across the reload */
    pthread_mutex_unlock(&t->lock);
    release(old);
    return 0;
}

/* In the accepting thread; a forked child never makes one (it inherits
 * its request's), so the lock never has to survive a fork. */
SSL *ss__tls_new_ssl(ss__tls_ctx *t)
{
    pthread_mutex_lock(&t->lock);
    SSL *ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->lock);
    return ssl;
}
