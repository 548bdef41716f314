/* tls_fixture.c: the TLS fuzz target's server (a fixed certificate and fixed random bytes), OpenSSL's own answer to an input, and OpenSSL's events as coverage. */
#define OPENSSL_SUPPRESS_DEPRECATED /* RAND_set_rand_method: see fuzz_tls_rand_restart */
#include "tls_fixture.h"

#include "tls_pki.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <unistd.h>

/* ---- Random bytes ----------------------------------------------------------- */

static uint64_t streams[2];
static fuzz_tls_party in_use;

/* SplitMix64, a byte per step: a fixed sequence from each start, no more
 * (nothing here is secret). */
static int stream_bytes(unsigned char *buf, int num)
{
    uint64_t *s = &streams[in_use];
    for (int i = 0; i < num; i++) {
        uint64_t z = (*s += 0x9E3779B97F4A7C15u);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        buf[i] = (unsigned char)(z ^ (z >> 31));
    }
    return 1;
}

static int stream_ready(void)
{
    return 1;
}

/* OpenSSL 3 deprecates RAND_METHOD (providers replace it), but it is still
 * the one switch that every random byte obeys: libssl's, and the default
 * provider's key generation and signatures (RAND_priv_bytes_ex). */
void fuzz_tls_rand_restart(void)
{
    static const RAND_METHOD method = {.bytes = stream_bytes, .pseudorand = stream_bytes, .status = stream_ready};
    if (RAND_get_rand_method() != &method)
        FUZZ_CHECK(RAND_set_rand_method(&method) == 1, "RAND_set_rand_method failed");
    streams[FUZZ_TLS_SERVER] = 0x5eed5e4e5;
    streams[FUZZ_TLS_CLIENT] = 0xc11e47;
    in_use = FUZZ_TLS_SERVER;
}

void fuzz_tls_rand_use(fuzz_tls_party party)
{
    in_use = party;
}

/* ---- Coverage of what OpenSSL did ---------------------------------------- */

/* OpenSSL is not built for coverage: what it did (each record, message and
 * alert, the server's states, its errors) is shown to libFuzzer as extra
 * counters (plain counters in other builds), one per (kind, value): kinds
 * 0-7 what the server received, 16-23 what it sent (on_message), and: */
enum { COVER_STATE = 8, COVER_EXIT, COVER_LENGTH, COVER_REASON, COVER_LIB };
#define COVER_SIZE 32768
static uint8_t cover[COVER_SIZE] __attribute__((section("__libfuzzer_extra_counters")));

static void note(unsigned kind, unsigned value)
{
    uint8_t *c = &cover[(kind * 1024u + value) % COVER_SIZE];
    if (*c < 255)
        (*c)++;
}

/* Each record and message, by direction, content type and first byte (a
 * handshake message's type, an alert's level; an alert's description). */
static void on_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    const unsigned char *p = buf;
    if (len == 0)
        return;
    /* 20-24 (CCS, alert, handshake, data, heartbeat): 0-4; a record's header: 5; others: 6. */
    unsigned type = content_type >= 20 && content_type <= 24 ? (unsigned)content_type - 20
                    : content_type == SSL3_RT_HEADER         ? 5
                                                             : 6;
    note((unsigned)write_p * 16 + type, p[0]);
    if (content_type == SSL3_RT_ALERT && len >= 2)
        note((unsigned)write_p * 16 + 7, p[1]);
    if (content_type == SSL3_RT_HEADER && len >= 5 && !write_p) { /* the record's length, to a power of two */
        unsigned n = (unsigned)p[3] << 8 | p[4], bits = 0;
        while (n >>= 1)
            bits++;
        note(COVER_LENGTH, bits);
    }
}

/* The server's states, and where it stopped. */
static void on_info(const SSL *ssl, int where, int ret)
{
    if (where & SSL_CB_LOOP)
        note(COVER_STATE, (unsigned)SSL_get_state(ssl));
    if ((where & SSL_CB_EXIT) && ret <= 0)
        note(COVER_EXIT, (unsigned)SSL_get_state(ssl));
}

/* ---- The server ------------------------------------------------------------ */

#define CERT_TIME 1700000000 /* any fixed time: the same certificate in every run */

ss_server *fuzz_tls_server(void)
{
    static ss_server *srv;
    if (srv)
        return srv;
    fuzz_tls_rand_restart();
    tls_keycert kc;
    tls_pki_make(&kc, "localhost", NULL, CERT_TIME, -3600, 50L * 365 * 86400);
    char dir[] = "/tmp/sockserv-fuzz-tls-XXXXXX", cert[64], key[64];
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    tls_pki_write_cert(&kc, cert);
    tls_pki_write_key(&kc, key, NULL);
    tls_pki_free(&kc);
    srv = fuzz_feed_server((ss_config){.listen = "tls://127.0.0.1:0", .tls_cert = cert, .tls_key = key,
                                       .tls_alpn = "h2,http/1.1"});
    unlink(cert);
    unlink(key);
    rmdir(dir);
    /* The context every connection takes: no session cache, which would
     * carry a session from one input to the next (each would then depend
     * on those before it), and the coverage hooks. */
    SSL *ssl = ss__tls_new_ssl(srv->tp_state);
    FUZZ_CHECK(ssl, "SSL_new: out of memory");
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_msg_callback(ctx, on_message);
    SSL_CTX_set_info_callback(ctx, on_info);
    SSL_free(ssl);
    return srv;
}

SSL *fuzz_tls_server_ssl(ss_server *srv)
{
    fuzz_tls_rand_restart();
    SSL *ssl = ss__tls_new_ssl(srv->tp_state);
    FUZZ_CHECK(ssl, "SSL_new: out of memory");
    SSL_set_accept_state(ssl);
    return ssl;
}

/* ---- The oracle -------------------------------------------------------------- */

/* What the connection reports when an SSL call fails (conn.c, sockserv.h):
 * the client's close_notify ends the input (0; during the handshake,
 * -ECONNABORTED), an end of input without it is a truncation
 * (-ECONNABORTED), anything else a protocol error (-EPROTO). */
static int expected_error(const SSL *ssl, int r, bool handshake)
{
    int e = SSL_get_error(ssl, r);
    unsigned long err = ERR_peek_error();
    note(COVER_REASON, (unsigned)ERR_GET_REASON(err));
    note(COVER_LIB, (unsigned)ERR_GET_LIB(err));
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_ZERO_RETURN:
        return handshake ? -ECONNABORTED : 0;
    case SSL_ERROR_SYSCALL:
        return -ECONNABORTED;
    case SSL_ERROR_SSL:
        return ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING
                   ? -ECONNABORTED
                   : -EPROTO;
    default:
        FUZZ_CHECK(false, "SSL_get_error %d with all of the input in memory", e);
        return -EPROTO;
    }
}

void fuzz_tls_answer_to(ss_server *srv, const uint8_t *data, size_t len, fuzz_tls_answer *a)
{
    *a = (fuzz_tls_answer){0};
    FUZZ_CHECK(len < INT_MAX, "an input of %zu bytes", len);
    SSL *ssl = fuzz_tls_server_ssl(srv);
    BIO *in = BIO_new_mem_buf(data, (int)len), *out = BIO_new(BIO_s_null());
    FUZZ_CHECK(in && out, "BIO_new: out of memory");
    SSL_set_bio(ssl, in, out);
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r != 1) {
        a->handshake = expected_error(ssl, r, true);
        SSL_free(ssl);
        return;
    }
    snprintf(a->version, sizeof a->version, "%s", SSL_get_version(ssl));
    snprintf(a->cipher, sizeof a->cipher, "%s", SSL_get_cipher_name(ssl));
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    snprintf(a->alpn, sizeof a->alpn, "%.*s", (int)alpn_len, alpn ? (const char *)alpn : "");
    /* Records only add to their data: the plaintext is shorter than the input. */
    a->plain = malloc(len + 1);
    FUZZ_CHECK(a->plain, "out of memory");
    size_t got;
    while (SSL_read_ex(ssl, a->plain + a->len, len + 1 - a->len, &got) == 1)
        a->len += got;
    a->end = expected_error(ssl, 0, false);
    SSL_free(ssl);
}

void fuzz_tls_answer_free(fuzz_tls_answer *a)
{
    free(a->plain);
    a->plain = NULL;
}
