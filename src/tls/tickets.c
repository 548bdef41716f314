/* tickets.c: session ticket keys that processes share (a MAP_SHARED page): the current key encrypts, the previous one still decrypts; rotated on a schedule by whichever process needs a key once it is due. */
#include "tls/tls.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct ticket_key {
    unsigned char name[16];            /* sent in the ticket: which key made it */
    unsigned char aes[32];             /* AES-256-CBC */
    unsigned char hmac[32];            /* HMAC-SHA256 */
} ticket_key;

struct ss_tls_tickets {
    pthread_mutex_t lock;              /* process-shared and robust: a worker
                                          killed while holding it does not
                                          stop the others */
    int64_t rotated_at;                /* CLOCK_MONOTONIC ns (system-wide) */
    int64_t interval;                  /* ns */
    ticket_key key[2];                 /* [0] current, [1] previous */
};

static int fresh_key(ticket_key *k)
{
    return RAND_bytes((unsigned char *)k, (int)sizeof *k) == 1 ? 0 : -EIO;
}

ss_tls_tickets *ss_tls_tickets_new(double rotate_secs)
{
    if (rotate_secs != rotate_secs || rotate_secs < 0 || rotate_secs > SS__TLS_TICKET_MAX_SECS) {
        errno = EINVAL;
        return NULL;
    }
    ss_tls_tickets *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&t->lock, &a);
    pthread_mutexattr_destroy(&a);
    t->interval = ss__ns(rotate_secs > 0 ? rotate_secs : SS__TLS_TICKET_SECS);
    t->rotated_at = ss__now();
    if (rc != 0 || fresh_key(&t->key[0]) < 0 || fresh_key(&t->key[1]) < 0) {
        if (rc == 0)
            pthread_mutex_destroy(&t->lock);
        OPENSSL_cleanse(t, sizeof *t);
        munmap(t, sizeof *t);
        errno = rc ? rc : EIO;
        return NULL;
    }
    return t;
}

void ss_tls_tickets_free(ss_tls_tickets *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    OPENSSL_cleanse(t, sizeof *t);
    munmap(t, sizeof *t);
}

double ss__tls_tickets_lifetime(const ss_tls_tickets *t)
{
    return (double)t->interval / 1e9;
}

/* Lock, rotating when due: a key encrypts for one interval, then only
 * decrypts for one more; after two intervals without a rotation (no
 * client), both keys are new. A holder that died left the keys perhaps
 * half written: both are made anew (its tickets are lost, nothing more). */
static int take(ss_tls_tickets *t)
{
    int rc = pthread_mutex_lock(&t->lock);
    bool reset = false;
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&t->lock);
        reset = true;
    } else if (rc != 0) {
        return -rc;
    }
    int64_t now = ss__now();
    if (reset || now - t->rotated_at >= 2 * t->interval) {
        if (fresh_key(&t->key[1]) < 0 || fresh_key(&t->key[0]) < 0)
            rc = -EIO;
        t->rotated_at = now;
    } else if (now - t->rotated_at >= t->interval) {
        t->key[1] = t->key[0];
        if (fresh_key(&t->key[0]) < 0)
            rc = -EIO;
        t->rotated_at = now;
    }
    if (rc < 0)
        pthread_mutex_unlock(&t->lock);
    return rc < 0 ? rc : 0;
}

static int set_mac_key(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback: 1 (done), 2 (decrypted with the previous
 * key: issue a new ticket), 0 (no such key: a full handshake), -1. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *ectx,
                     EVP_MAC_CTX *hctx, int enc)
{
    ss_tls_tickets *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    ticket_key k = {0};
    int which = 0;
    if (take(t) < 0)
        return -1;
    if (enc) {
        k = t->key[0];
    } else {
        which = memcmp(name, t->key[0].name, 16) == 0 ? 0 : memcmp(name, t->key[1].name, 16) == 0 ? 1 : -1;
        if (which >= 0)
            k = t->key[which];
    }
    pthread_mutex_unlock(&t->lock);
    if (which < 0)
        return 0;
    int rc = -1;
    if (enc) {
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, 16) == 1 && EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1 &&
            set_mac_key(hctx, k.hmac) == 0)
            rc = 1;
    } else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1 && set_mac_key(hctx, k.hmac) == 0) {
        rc = which == 0 ? 1 : 2;
    }
    OPENSSL_cleanse(&k, sizeof k);
    return rc;
}

void ss__tls_tickets_use(SSL_CTX *ctx, ss_tls_tickets *t)
{
    SSL_CTX_set_app_data(ctx, t);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    /* A session lives no longer than a key decrypts after its last use. */
    SSL_CTX_set_timeout(ctx, (long)ss__tls_tickets_lifetime(t));
}
