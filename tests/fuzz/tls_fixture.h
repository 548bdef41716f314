/* tls_fixture.h: the TLS fuzz target's server, the same in every run (certificate, random bytes), and OpenSSL's own answer to an input. */
#ifndef SS_TLS_FIXTURE_H
#define SS_TLS_FIXTURE_H

#include "fuzz.h"
#include "tls/tls.h"

/*
 * Every random byte OpenSSL takes (keys, signatures' nonces, hello
 * randoms, ticket keys) comes from a fixed stream, one per party, so that
 * the server answers a client exactly as it did when the client was
 * recorded (tls_seeds.c): a recorded client completes the handshake in
 * every later run, and its application data decrypts.
 */
typedef enum fuzz_tls_party { FUZZ_TLS_SERVER, FUZZ_TLS_CLIENT } fuzz_tls_party;
/* Both streams back to their start, the server's in use: before each connection. */
void fuzz_tls_rand_restart(void);
/* Which party's stream OpenSSL's next random bytes come from. */
void fuzz_tls_rand_use(fuzz_tls_party party);

/* The tls:// server (made once; a feed server, fuzz.h): a self-signed P-256
 * certificate for "localhost" made from the server's stream, written to a
 * temporary directory and deleted once read; ALPN h2 and http/1.1. */
ss_server *fuzz_tls_server(void);
/* A server-side SSL from that server's context, as a connection makes it,
 * from the start of the server's stream. */
SSL *fuzz_tls_server_ssl(ss_server *srv);

/* What the server does with a client's bytes (the oracle): OpenSSL's plain
 * API on the same server, the bytes given at once through a memory BIO. */
typedef struct fuzz_tls_answer {
    int handshake;                     /* 0, or the error the connection must report */
    int end;                           /* after the plaintext: 0 (close_notify) or -errno */
    uint8_t *plain;                    /* the application data (malloc'd; NULL if none) */
    size_t len;
    char version[16], cipher[64], alpn[256];
} fuzz_tls_answer;

void fuzz_tls_answer_to(ss_server *srv, const uint8_t *data, size_t len, fuzz_tls_answer *a);
void fuzz_tls_answer_free(fuzz_tls_answer *a);

#endif
