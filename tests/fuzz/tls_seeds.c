/* tls_seeds.c: records the TLS fuzz target's seed corpus: OpenSSL clients talking to the target's own server, and hand-made variants of their bytes. */
#include "tls_fixture.h"

#include "tls_pki.h"

#include <openssl/err.h>

/*
 * Usage: fuzz_tls_seeds DIR (seeds.py runs it from the build): writes the
 * seeds DIR/seed-*, byte 0 = n, n control bytes, then what the client sent
 * (fuzz_tls.c).
 *
 * A client's bytes complete the handshake only with the server they were
 * recorded with: the server of tls_fixture.c, whose certificate and random
 * bytes are the same in every run. So the client is OpenSSL itself, over
 * memory BIOs, with random bytes of its own (the client's stream), and each
 * recorded conversation is checked as the target will see it: OpenSSL given
 * its bytes at once (fuzz_tls_answer_to) completes the handshake and reads
 * the data sent. After a change of OpenSSL, of the fixture or of the
 * library's TLS context, run it again (seeds.py).
 */

/* Bytes that grow as they come. */
typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

static void append(bytes *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *q = realloc(b->p, b->n + n + 1);
    FUZZ_CHECK(q, "out of memory");
    memcpy(q + b->n, p, n);
    b->p = q;
    b->n += n;
}

/* ---- A client and the server, over memory BIOs ------------------------------ */

/* How the client is set up, what it sends after the handshake, how it ends. */
typedef struct client_spec {
    const char *name;
    const char *ciphers;               /* TLS 1.2's, as SSL_set_cipher_list */
    const char *suites;                /* TLS 1.3's, as SSL_set_ciphersuites */
    const char *groups;
    const char *sni;
    const char *alpn;                  /* one protocol */
    uint64_t options, clear;           /* SSL_OP_* set, and cleared */
    const char *data;                  /* sent after the handshake, in the writes split by '|' */
    size_t filler;                     /* then this many bytes of numbered lines */
    int max_version;                   /* 0: OpenSSL's default */
    bool key_update;                   /* between the writes, a KeyUpdate asking for the server's */
    bool alert;                        /* then a fatal alert (the client finds a server record corrupted) */
    bool close_notify;
    bool fails;                        /* the server refuses the hello */
} client_spec;

/* One conversation: the client (its context, its SSL, its BIOs) and the server. */
typedef struct talk {
    SSL_CTX *ctx;
    SSL *client, *server;
    BIO *client_in, *client_out, *server_in, *server_out;
    bytes sent;                        /* all the client sent */
    bytes plain;                       /* the application data in it */
} talk;

static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    FUZZ_CHECK(b, "out of memory");
    return b;
}

/* What one party wrote, to the other (NULL: none) and, from the client, kept. */
static void carry(BIO *from, BIO *to, bytes *keep)
{
    char buf[4096];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) {
        FUZZ_CHECK(!to || BIO_write(to, buf, n) == n, "BIO_write failed");
        if (keep)
            append(keep, buf, (size_t)n);
    }
}

static void carry_all(talk *t)
{
    carry(t->client_out, t->server_in, &t->sent);
    carry(t->server_out, t->client_in, NULL);
}

static void client_new(talk *t, const client_spec *c)
{
    fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
    t->ctx = SSL_CTX_new(TLS_client_method());
    tls_pki_need(t->ctx != NULL, "SSL_CTX_new");
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    if (c->max_version) {
        SSL_CTX_set_min_proto_version(t->ctx, 0);
        tls_pki_need(SSL_CTX_set_max_proto_version(t->ctx, c->max_version), "SSL_CTX_set_max_proto_version");
        SSL_CTX_set_security_level(t->ctx, 0); /* let an old version or cipher be offered at all */
    }
    SSL_CTX_set_options(t->ctx, c->options);
    SSL_CTX_clear_options(t->ctx, c->clear);
    t->client = SSL_new(t->ctx);
    tls_pki_need(t->client != NULL, "SSL_new");
    if (c->ciphers)
        tls_pki_need(SSL_set_cipher_list(t->client, c->ciphers), "SSL_set_cipher_list");
    if (c->suites)
        tls_pki_need(SSL_set_ciphersuites(t->client, c->suites), "SSL_set_ciphersuites");
    if (c->groups)
        tls_pki_need(SSL_set1_groups_list(t->client, c->groups), "SSL_set1_groups_list");
    if (c->sni)
        tls_pki_need(SSL_set_tlsext_host_name(t->client, c->sni), "SSL_set_tlsext_host_name");
    if (c->alpn) {
        unsigned char wire[256];
        size_t n = strlen(c->alpn);
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, c->alpn, n); /* ALPN's wire format: length-prefixed, no terminator */
        tls_pki_need(SSL_set_alpn_protos(t->client, wire, (unsigned)n + 1) == 0, "SSL_set_alpn_protos");
    }
    t->client_in = mem_bio();
    t->client_out = mem_bio();
    SSL_set_bio(t->client, t->client_in, t->client_out);
    SSL_set_connect_state(t->client);
}

/* Both ends step in turn until both are through (true) or one fails. */
static bool handshake(talk *t)
{
    int cr = 0, sr = 0;
    for (int i = 0; i < 8 && (cr != 1 || sr != 1); i++) {
        fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
        if (cr != 1 && (cr = SSL_do_handshake(t->client)) <= 0 && SSL_get_error(t->client, cr) != SSL_ERROR_WANT_READ)
            break;
        carry_all(t);
        fuzz_tls_rand_use(FUZZ_TLS_SERVER);
        if (sr != 1 && (sr = SSL_do_handshake(t->server)) <= 0 && SSL_get_error(t->server, sr) != SSL_ERROR_WANT_READ)
            break;
        carry_all(t);
    }
    carry_all(t);
    ERR_clear_error();
    return cr == 1 && sr == 1;
}

static void client_write(talk *t, const char *p, size_t n)
{
    fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
    size_t done;
    tls_pki_need(SSL_write_ex(t->client, p, n, &done) == 1 && done == n, "SSL_write_ex");
    append(&t->plain, p, n);
    carry_all(t);
}

/* Numbered lines of growing length, n bytes in all (the last one cut). */
static void write_filler(talk *t, size_t n)
{
    bytes text = {0};
    char line[400];
    for (int i = 0; text.n < n; i++) {
        int len = snprintf(line, sizeof line, "line %d%*s\n", i, i % 300, "");
        append(&text, line, (size_t)len);
    }
    client_write(t, (const char *)text.p, n);
    free(text.p);
}

/* What the client sends after the handshake. */
static void converse(talk *t, const client_spec *c)
{
    const char *p = c->data ? c->data : "";
    while (*p) {
        size_t n = strcspn(p, "|");
        client_write(t, p, n);
        p += n + (p[n] == '|');
        if (*p && c->key_update) {
            fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
            tls_pki_need(SSL_key_update(t->client, SSL_KEY_UPDATE_REQUESTED), "SSL_key_update");
        }
    }
    if (c->filler)
        write_filler(t, c->filler);
    if (c->alert) { /* the server's session ticket, corrupted on the way: the client answers bad_record_mac */
        bytes pending = {0};
        carry(t->client_in, NULL, &pending);
        FUZZ_CHECK(pending.n > 0, "%s: nothing from the server after the handshake", c->name);
        pending.p[pending.n - 1] ^= 1;
        FUZZ_CHECK(BIO_write(t->client_in, pending.p, (int)pending.n) == (int)pending.n, "BIO_write failed");
        free(pending.p);
        fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
        char buf[64];
        FUZZ_CHECK(SSL_read(t->client, buf, sizeof buf) <= 0, "%s: the corrupted record was read", c->name);
        carry_all(t);
    }
    if (c->close_notify) {
        fuzz_tls_rand_use(FUZZ_TLS_CLIENT);
        SSL_shutdown(t->client);
        carry_all(t);
    }
    ERR_clear_error();
}

/* Record a conversation: the bytes the client sent in t->sent. */
static void record(talk *t, ss_server *srv, const client_spec *c)
{
    *t = (talk){0};
    t->server = fuzz_tls_server_ssl(srv); /* both streams from their start */
    t->server_in = mem_bio();
    t->server_out = mem_bio();
    SSL_set_bio(t->server, t->server_in, t->server_out);
    client_new(t, c);
    bool ok = handshake(t);
    FUZZ_CHECK(ok != c->fails, "%s: the handshake %s", c->name, ok ? "completed" : "failed");
    if (ok)
        converse(t, c);
}

static void talk_free(talk *t)
{
    SSL_free(t->client);
    SSL_free(t->server);
    SSL_CTX_free(t->ctx);
    free(t->sent.p);
    free(t->plain.p);
}

/* The target's oracle, on the bytes recorded: as the conversation went. */
static void check(ss_server *srv, const talk *t, const client_spec *c)
{
    fuzz_tls_answer a;
    fuzz_tls_answer_to(srv, t->sent.p, t->sent.n, &a);
    if (c->fails) {
        FUZZ_CHECK(a.handshake < 0, "%s: replayed, the handshake completed", c->name);
    } else {
        FUZZ_CHECK(a.handshake == 0, "%s: replayed, the handshake failed (%d): has the server changed?", c->name,
                   a.handshake);
        FUZZ_CHECK(a.len == t->plain.n && (a.len == 0 || memcmp(a.plain, t->plain.p, a.len) == 0),
                   "%s: replayed, %zu bytes of data read, %zu sent", c->name, a.len, t->plain.n);
        int end = c->alert ? -EPROTO : c->close_notify ? 0 : -ECONNABORTED;
        FUZZ_CHECK(a.end == end, "%s: replayed, the input ends with %d, not %d", c->name, a.end, end);
    }
    fuzz_tls_answer_free(&a);
}

/* ---- Seeds ------------------------------------------------------------------- */

static const char *out_dir;
static unsigned written;

/* Control bytes (fuzz_tls.c, feed.c, script.c). ONE_CHUNK: the default
 * read buffer, the input in one chunk, then a few reads of each kind;
 * BYTE_BY_BYTE: a 1-byte buffer and 1-byte chunks and reads; SMALL: 64-byte
 * buffer, chunks of 6 bytes; the faults: a timeout, or a drain, where the
 * connection waits for the second chunk. */
enum { READ, READ1, READLINE, READLINE_REF, READ_ALL };
static const uint8_t ONE_CHUNK[] = {6, 0, 0xF8, READLINE, 70, READ1, 3, READLINE_REF, 0x90, READ, 0x41, READ_ALL, 1, 0};
static const uint8_t BYTE_BY_BYTE[] = {0};
static const uint8_t SMALL[] = {4, 0, 5, READLINE_REF, 20, READ, 0x50, READ1, 9, READLINE, 0xC1};
static const uint8_t TIMEOUT[] = {6, 0, 40, 0xFE, READ1, 0x41};
static const uint8_t DRAIN[] = {6, 0, 40, 0xFF};

static void write_seed(const char *name, const char *variant, const uint8_t *ctl, size_t nctl, const uint8_t *p,
                       size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s%s%s", out_dir, name, *variant ? "-" : "", variant);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f, "%s: %s", path, strerror(errno));
    uint8_t head = (uint8_t)nctl;
    FUZZ_CHECK(fwrite(&head, 1, 1, f) == 1 && fwrite(ctl, 1, nctl, f) == nctl && (n == 0 || fwrite(p, 1, n, f) == n),
               "%s: write failed", path);
    FUZZ_CHECK(fclose(f) == 0, "%s: %s", path, strerror(errno));
    written++;
}

#define SEED(name, variant, ctl, p, n) write_seed(name, variant, ctl, sizeof(ctl), p, n)

static void seed_bytes(const char *name, const bytes *b)
{
    SEED(name, "", ONE_CHUNK, b->p, b->n);
}

/* The clients. Lines with CRLF and LF, a line without an end, long lines. */
#define HTTP "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
static const client_spec clients[] = {
    {.name = "tls13", .sni = "localhost", .alpn = "http/1.1", .data = HTTP "|hello\nworld\r\n|last", .close_notify = true},
    {.name = "tls13-p256", .groups = "P-256", .data = "one\ntwo\n|three\n", .close_notify = true},
    {.name = "tls13-chacha-truncated", .suites = "TLS_CHACHA20_POLY1305_SHA256", .alpn = "h2", .data = "no close_notify\n"},
    {.name = "tls13-keyupdate", .suites = "TLS_AES_256_GCM_SHA384", .data = "before\n|between\n|after\n",
     .key_update = true, .close_notify = true},
    {.name = "tls13-big", .filler = 20000, .close_notify = true},
    {.name = "tls13-no-middlebox-compat", .clear = SSL_OP_ENABLE_MIDDLEBOX_COMPAT, .groups = "X25519:P-256",
     .data = "x", .close_notify = true},
    {.name = "tls13-empty", .close_notify = true},
    {.name = "tls13-alert", .data = "then a fatal alert\n|unfinished line", .alert = true},
    {.name = "tls12-gcm", .max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256",
     .sni = "localhost", .alpn = "h2", .data = "tls 1.2\n|second\n", .close_notify = true},
    {.name = "tls12-cbc", .max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-SHA384",
     .data = "cbc with encrypt-then-mac\n", .filler = 3000, .close_notify = true},
    {.name = "tls12-cbc-mac-then-encrypt", .max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-SHA",
     .options = SSL_OP_NO_ENCRYPT_THEN_MAC, .data = "mac then encrypt\n|truncated"},
    {.name = "tls12-chacha-no-ticket", .max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305",
     .options = SSL_OP_NO_TICKET, .groups = "P-256", .data = "chacha\n", .close_notify = true},
    {.name = "tls12-no-ems", .max_version = TLS1_2_VERSION, .options = SSL_OP_NO_EXTENDED_MASTER_SECRET,
     .data = "no extended master secret\n", .close_notify = true},
    {.name = "alpn-mismatch", .alpn = "spdy/3.1", .fails = true},
    {.name = "tls10-only", .max_version = TLS1_VERSION, .ciphers = "DEFAULT@SECLEVEL=0", .fails = true},
    {.name = "no-shared-cipher", .max_version = TLS1_2_VERSION, .ciphers = "AES128-SHA", .fails = true},
};

/* The records of a conversation, for the variants made by hand. */
static size_t record_end(const bytes *b, size_t at)
{
    FUZZ_CHECK(at + 5 <= b->n, "no record at %zu", at);
    return at + 5 + ((size_t)b->p[at + 3] << 8 | b->p[at + 4]);
}

/* A record of type `type` around p[0..n), after what `out` holds. */
static void add_record(bytes *out, uint8_t type, const uint8_t *p, size_t n)
{
    uint8_t head[5] = {type, 3, 1, (uint8_t)(n >> 8), (uint8_t)n};
    append(out, head, sizeof head);
    append(out, p, n);
}

static void seed_raw(const char *name, const void *p, size_t n)
{
    SEED(name, "", ONE_CHUNK, p, n);
}

/* Variants of a TLS 1.3 conversation (hello, then the rest). */
static void seed_variants(const bytes *conv)
{
    size_t hello_end = record_end(conv, 0), last_data = 0;
    for (size_t at = hello_end; at < conv->n; at = record_end(conv, at))
        if (conv->p[at] == 23 && record_end(conv, at) < conv->n) /* not the close_notify, the last record */
            last_data = at;
    const uint8_t *hello = conv->p + 5;
    size_t hello_len = hello_end - 5;
    bytes b = {0};

    SEED("hello", "", ONE_CHUNK, conv->p, hello_end);
    SEED("hello", "bytes", BYTE_BY_BYTE, conv->p, hello_end);
    /* The hello in two records, then in three (one of a byte), then the rest. */
    add_record(&b, 22, hello, hello_len / 2);
    add_record(&b, 22, hello + hello_len / 2, hello_len - hello_len / 2);
    append(&b, conv->p + hello_end, conv->n - hello_end);
    seed_bytes("hello-split", &b);
    b.n = 0;
    add_record(&b, 22, hello, 1);
    add_record(&b, 22, hello + 1, 40);
    add_record(&b, 22, hello + 41, hello_len - 41);
    append(&b, conv->p + hello_end, conv->n - hello_end);
    seed_bytes("hello-split3", &b);
    SEED("hello-truncated", "", ONE_CHUNK, conv->p, 5 + hello_len / 2);
    SEED("hello-truncated-header", "", ONE_CHUNK, conv->p, 3);
    /* After the hello: the client's close_notify, a fatal alert, data too early. */
    static const uint8_t close_notify[] = {21, 3, 3, 0, 2, 1, 0}, fatal[] = {21, 3, 3, 0, 2, 2, 40};
    static const uint8_t early_data[] = {23, 3, 3, 0, 4, 'd', 'a', 't', 'a'};
    b.n = 0;
    append(&b, conv->p, hello_end);
    append(&b, close_notify, sizeof close_notify);
    seed_bytes("hello-close-notify", &b);
    b.n = hello_end;
    append(&b, fatal, sizeof fatal);
    seed_bytes("hello-fatal-alert", &b);
    b.n = hello_end;
    append(&b, early_data, sizeof early_data);
    seed_bytes("hello-plaintext-data", &b);
    /* Record versions other than TLS's. */
    b.n = 0;
    append(&b, conv->p, conv->n);
    b.p[1] = 2;
    b.p[2] = 0;
    seed_bytes("hello-record-version-2.0", &b);
    b.p[1] = 0xFE;
    b.p[2] = 0xFD;
    seed_bytes("hello-record-version-dtls", &b);
    /* Empty records before the hello: one, then too many. */
    b.n = 0;
    add_record(&b, 22, hello, 0);
    append(&b, conv->p, conv->n);
    seed_bytes("empty-record-first", &b);
    b.n = 0;
    for (int i = 0; i < 40; i++)
        add_record(&b, 22, hello, 0);
    append(&b, conv->p, conv->n);
    seed_bytes("empty-records-40", &b);
    /* The conversation with its last data record corrupted, cut in two, or followed by more. */
    b.n = 0;
    append(&b, conv->p, conv->n);
    FUZZ_CHECK(last_data > 0, "no data record in the conversation");
    b.p[last_data + 7] ^= 0x20;
    seed_bytes("data-corrupted", &b);
    SEED("data-cut", "", ONE_CHUNK, conv->p, last_data + 9);
    b.n = 0;
    append(&b, conv->p, conv->n);
    append(&b, conv->p + last_data, record_end(conv, last_data) - last_data);
    seed_bytes("data-after-close-notify", &b);
    b.n = 0;
    append(&b, conv->p, last_data);
    append(&b, conv->p + last_data, record_end(conv, last_data) - last_data);
    append(&b, conv->p + last_data, conv->n - last_data);
    seed_bytes("data-replayed", &b);
    /* The whole conversation in other chunks, and with faults. */
    SEED("tls13", "bytes", BYTE_BY_BYTE, conv->p, conv->n);
    SEED("tls13", "small", SMALL, conv->p, conv->n);
    SEED("tls13", "timeout", TIMEOUT, conv->p, conv->n);
    SEED("tls13", "drain", DRAIN, conv->p, conv->n);
    free(b.p);
}

/* Not TLS, or not a TLS this server takes. */
static void seed_others(void)
{
    /* An SSLv2-compatible hello (RFC 5246 E.2) offering TLS 1.2: three
     * cipher specs, no session id, a 32-byte challenge. */
    static const uint8_t specs[] = {0, 0xC0, 0x2B, 0, 0xC0, 0x2C, 0, 0, 0xFF};
    uint8_t v2[2 + 9 + sizeof specs + 32];
    size_t body = sizeof v2 - 2;
    const uint8_t head[] = {(uint8_t)(0x80 | body >> 8), (uint8_t)body, 1, 3, 3, 0, sizeof specs, 0, 0, 0, 32};
    memcpy(v2, head, sizeof head);
    memcpy(v2 + sizeof head, specs, sizeof specs);
    memset(v2 + sizeof head + sizeof specs, 'c', 32);
    seed_raw("sslv2-hello", v2, sizeof v2);
    seed_raw("http-get", HTTP, strlen(HTTP));
    seed_raw("http-connect", "CONNECT localhost:443 HTTP/1.1\r\n\r\n", strlen("CONNECT localhost:443 HTTP/1.1\r\n\r\n"));
    seed_raw("ssh-banner", "SSH-2.0-OpenSSH_9.2\r\n", strlen("SSH-2.0-OpenSSH_9.2\r\n"));
    seed_raw("empty", "", 0);
    /* Records with huge lengths: past the protocol's limit, and the most. */
    static const uint8_t huge[] = {22, 3, 1, 0x48, 0x01, 1, 0, 0x48, 0}, most[] = {22, 3, 3, 0xFF, 0xFF, 1, 0, 0xFF};
    seed_raw("record-length-18433", huge, sizeof huge);
    seed_raw("record-length-65535", most, sizeof most);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR: writes the TLS fuzz target's seeds DIR/seed-*\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    ss_server *srv = fuzz_tls_server();
    bytes tls13 = {0};
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        talk t;
        record(&t, srv, &clients[i]);
        check(srv, &t, &clients[i]);
        seed_bytes(clients[i].name, &t.sent);
        if (i == 0) {
            append(&tls13, t.sent.p, t.sent.n);
            seed_variants(&tls13);
        }
        talk_free(&t);
    }
    seed_others();
    free(tls13.p);
    printf("tls: %u seeds in %s\n", written, out_dir);
    return 0;
}
