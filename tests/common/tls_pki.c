/* tls_pki.c: test certificates made in-process with OpenSSL (tls_pki.h): keys, certificates signed by a test CA or themselves, PEM files. */
#include "tls_pki.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

void tls_pki_need(int ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "%s failed\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

/* A validity bound `adj` seconds from `at` (0: now). */
static void set_time(ASN1_TIME *t, time_t at, long adj)
{
    tls_pki_need(X509_time_adj(t, adj, at ? &at : NULL) != NULL, "X509_time_adj");
}

void tls_pki_make(tls_keycert *kc, const char *cn, const tls_keycert *ca, time_t at, long from, long to)
{
    static long serial = 1;
    kc->key = EVP_EC_gen("P-256");
    tls_pki_need(kc->key != NULL, "EVP_EC_gen");
    X509 *x = X509_new();
    tls_pki_need(x != NULL, "X509_new");
    tls_pki_need(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) == 1, "ASN1_INTEGER_set");
    tls_pki_need(X509_set_version(x, 2) == 1, "X509_set_version");
    set_time(X509_getm_notBefore(x), at, from);
    set_time(X509_getm_notAfter(x), at, to);
    tls_pki_need(X509_set_pubkey(x, kc->key) == 1, "X509_set_pubkey");
    X509_NAME *name = X509_get_subject_name(x);
    tls_pki_need(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"sockserv tests", -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1,
         "X509_NAME_add_entry_by_txt");
    tls_pki_need(X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->cert) : name) == 1, "X509_set_issuer_name");
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca ? ca->cert : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "CA:FALSE" : "critical,CA:TRUE");
    tls_pki_need(ext != NULL, "X509V3_EXT_conf_nid");
    tls_pki_need(X509_add_ext(x, ext, -1) == 1, "X509_add_ext");
    X509_EXTENSION_free(ext);
    tls_pki_need(X509_sign(x, ca ? ca->key : kc->key, EVP_sha256()) > 0, "X509_sign");
    kc->cert = x;
}

void tls_pki_free(tls_keycert *kc)
{
    EVP_PKEY_free(kc->key);
    X509_free(kc->cert);
    kc->key = NULL;
    kc->cert = NULL;
}

/* A new file at path for PEM text. */
static FILE *create(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    return f;
}

void tls_pki_write_cert(const tls_keycert *kc, const char *path)
{
    FILE *f = create(path);
    tls_pki_need(PEM_write_X509(f, kc->cert) == 1, "PEM_write_X509");
    tls_pki_need(fclose(f) == 0, "fclose");
}

void tls_pki_write_key(const tls_keycert *kc, const char *path, const char *passphrase)
{
    FILE *f = create(path);
    tls_pki_need(PEM_write_PrivateKey(f, kc->key, passphrase ? EVP_aes_128_cbc() : NULL, NULL, 0, NULL, (void *)passphrase) == 1,
         "PEM_write_PrivateKey");
    tls_pki_need(fclose(f) == 0, "fclose");
}
