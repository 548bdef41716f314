/* tls_pki.h: test certificates made in-process with OpenSSL, so that no private key is committed: P-256 keys, certificates, PEM files. */
#ifndef SS_TLS_PKI_H
#define SS_TLS_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <time.h>

/* A key and its certificate. */
typedef struct tls_keycert {
    EVP_PKEY *key;
    X509 *cert;
} tls_keycert;

/*
 * A new P-256 key and a certificate for cn, signed by ca (NULL: self-signed,
 * a CA), valid from `from` to `to` seconds around `at` (0: now). Serial
 * numbers count 1, 2, ... in the order the certificates are made, so a
 * program that makes the same certificates from the same random bytes and
 * the same `at` gets the same bytes. These helpers abort with a message on
 * any failure: a test cannot go on without its certificates.
 */
void tls_pki_make(tls_keycert *kc, const char *cn, const tls_keycert *ca, time_t at, long from, long to);
void tls_pki_free(tls_keycert *kc);
/* When ok is false: stop the test, saying what failed and what OpenSSL said. */
void tls_pki_need(int ok, const char *what);
/* The certificate, or the key (encrypted with passphrase unless NULL), as PEM in a new file at path. */
void tls_pki_write_cert(const tls_keycert *kc, const char *path);
void tls_pki_write_key(const tls_keycert *kc, const char *path, const char *passphrase);

#endif
