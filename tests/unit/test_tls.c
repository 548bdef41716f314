/* test_tls.c: tls:// servers: the same handlers over TLS in every strategy, mutual TLS, handshake failures in words, truncation, reload, resumption, the TLS accessors. */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if SS_HAVE_TLS

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_pki.h"

/* ---- Certificates, made here (tests/common/tls_pki.c: no private key is committed) */

typedef tls_keycert keycert;

static const char *write_cert(const keycert *kc, const char *name)
{
    const char *path = h_path(name);
    tls_pki_write_cert(kc, path);
    return path;
}

static const char *write_key(const keycert *kc, const char *name, const char *passphrase)
{
    const char *path = h_path(name);
    tls_pki_write_key(kc, path, passphrase);
    return path;
}

/* The test's PKI: a CA, the server's certificate, clients' certificates
 * from that CA (one valid, one expired) and one from another CA. */
static keycert ca, other_ca, server_kc, client_kc, expired_kc, stranger_kc;
static const char *cert_pem, *key_pem, *ca_pem;

static void pki(void)
{
    tls_pki_make(&ca, "sockserv test CA", NULL, 0, -3600, 86400);
    tls_pki_make(&other_ca, "another CA", NULL, 0, -3600, 86400);
    tls_pki_make(&server_kc, "localhost", &ca, 0, -3600, 86400);
    tls_pki_make(&client_kc, "client one", &ca, 0, -3600, 86400);
    tls_pki_make(&expired_kc, "client expired", &ca, 0, -7200, -3600);
    tls_pki_make(&stranger_kc, "stranger", &other_ca, 0, -3600, 86400);
    cert_pem = write_cert(&server_kc, "cert.pem");
    key_pem = write_key(&server_kc, "key.pem", NULL);
    ca_pem = write_cert(&ca, "ca.pem");
}

/* ---- A blocking OpenSSL client ------------------------------------------ */

typedef struct client {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} client;

/* Connect and shake hands; *err gets the handshake's result (1: done).
 * max_version 0: any. */
/* Whether a blocking client's call r was cut short by a signal (valgrind
 * interrupts a blocked thread's call when another forks): call again. */
static bool interrupted(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);
    return r <= 0 && errno == EINTR &&
           (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_SYSCALL);
}

/* A client on fd: shake hands; *ok gets SSL_connect's result (1: done).
 * max_version 0: any. */
static client tls_handshake(int fd, const keycert *cert, int max_version, const char *alpn, SSL_SESSION *resume,
                            int *ok)
{
    client c = {.fd = fd};
    struct timeval tv = {10, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c.ctx = SSL_CTX_new(TLS_client_method());
    CHECK_NOT_NULL(c.ctx);
    SSL_CTX_set_verify(c.ctx, SSL_VERIFY_NONE, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(c.ctx, 0);
        SSL_CTX_set_max_proto_version(c.ctx, max_version);
        SSL_CTX_set_security_level(c.ctx, 0); /* let an old version be offered at all */
    }
    if (cert) {
        CHECK_EQ_INT(SSL_CTX_use_certificate(c.ctx, cert->cert), 1);
        CHECK_EQ_INT(SSL_CTX_use_PrivateKey(c.ctx, cert->key), 1);
    }
    c.ssl = SSL_new(c.ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (alpn) {
        unsigned char wire[64];
        size_t n = strlen(alpn);
        wire[0] = (unsigned char)n;
        for (size_t i = 0; i < n; i++) /* ALPN's wire format: no terminator */
            wire[1 + i] = (unsigned char)alpn[i];
        SSL_set_alpn_protos(c.ssl, wire, (unsigned)n + 1);
    }
    if (resume)
        SSL_set_session(c.ssl, resume);
    do {
        errno = 0;
        *ok = SSL_connect(c.ssl); /* (TLS 1.3 tickets are read with the first reply) */
    } while (interrupted(c.ssl, *ok));
    ERR_clear_error();
    return c;
}

/* Connect to the server and shake hands. */
static client tls_connect(const ss_server *srv, const keycert *cert, int max_version, const char *alpn,
                          SSL_SESSION *resume, int *ok)
{
    uint64_t accepted = h_stats(srv).accepted;
    int fd = h_connect(srv);
    if (ss_server_config(srv)->strategy == SS_FORKING)
        /* Let the server fork before this thread allocates (OpenSSL does, a
         * lot): GCC 12's ASan allocator does not prepare for fork, and a
         * child forked while another thread is in it can inherit its lock. */
        CHECK(WAIT_FOR(h_stats(srv).accepted > accepted && h_stats(srv).children > 0, 10));
    return tls_handshake(fd, cert, max_version, alpn, resume, ok);
}

static void tls_close(client *c, bool notify)
{
    if (notify)
        SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
}

static void tls_send(client *c, const char *s)
{
    int r;
    do {
        errno = 0;
        r = SSL_write(c->ssl, s, (int)strlen(s));
    } while (interrupted(c->ssl, r));
    CHECK_EQ_INT(r, (int)strlen(s));
}

static ssize_t tls_recv_line(client *c, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        errno = 0;
        int r = SSL_read(c->ssl, buf + n, 1);
        if (interrupted(c->ssl, r))
            continue;
        if (r <= 0)
            break;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

/* ---- Servers ------------------------------------------------------------- */

typedef struct tls_shared {
    atomic_int handled, errors, last_err;
    char reason[256], version[32], cipher[64], alpn[32], subject[256], fingerprint[80];
    atomic_int is_tls;
    atomic_int logged;             /* log_event's messages */
    char event[64], message[256];  /* the last one */
} tls_shared;

static tls_shared *S;
static ss_server *srv;
static h_serve sv;

static void record_error(ss_server *s, ss_request *req, int err)
{
    (void)s;
    const char *why = ss_request_error(req);
    snprintf(S->reason, sizeof S->reason, "%s", why ? why : ss_strerror(err));
    atomic_store(&S->last_err, err);
    atomic_fetch_add(&S->errors, 1);
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "(null)");
}

/* Echo every line; note what the request knows of its TLS. */
static int echo_handle(ss_request *req)
{
    atomic_fetch_add(&S->handled, 1);
    atomic_store(&S->is_tls, ss_request_is_tls(req));
    copy(S->version, sizeof S->version, ss_request_tls_version(req));
    copy(S->cipher, sizeof S->cipher, ss_request_tls_cipher(req));
    copy(S->alpn, sizeof S->alpn, ss_request_tls_alpn(req));
    copy(S->subject, sizeof S->subject, ss_request_tls_peer_subject(req));
    copy(S->fingerprint, sizeof S->fingerprint, ss_request_tls_peer_fingerprint(req));
    const char *line;
    ssize_t n;
    while ((n = ss_readline_ref(req, &line, 1 << 20)) > 0)
        if (ss_write(req, line, (size_t)n) < 0)
            return -EIO;
    return (int)n;
}

static const ss_handler echo = {.handle = echo_handle};

static void begin(void)
{
    S = h_shared_alloc(sizeof *S);
    pki();
}

static void start(ss_config cfg)
{
    cfg.listen = cfg.listen ? cfg.listen : "tls://127.0.0.1:0";
    cfg.handler = cfg.handler ? cfg.handler : &echo;
    cfg.tls_cert = cfg.tls_cert ? cfg.tls_cert : cert_pem;
    cfg.tls_key = cfg.tls_key ? cfg.tls_key : key_pem;
    cfg.handle_error = cfg.log ? NULL : record_error; /* a case with a log sees handle_error's default */
    srv = h_server_new(&cfg);
    h_serve_start(&sv, srv, 0.01);
}

static void stop(void)
{
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
    CHECK(h_no_children_left());
}

static void exchange(client *c, const char *line)
{
    char got[256];
    tls_send(c, line);
    CHECK_GT(tls_recv_line(c, got, sizeof got), 0);
    CHECK_EQ_STR(got, line);
}

/* ---- Cases ----------------------------------------------------------------- */

/* The echo handler, unchanged, over TLS under every strategy; the
 * connection's end sends close_notify (a clean end for the client). */
static void echo_test(ss_strategy strategy)
{
    begin();
    start((ss_config){.strategy = strategy, .tls_alpn = "h2,echo/1"});
    int ok;
    client c = tls_connect(srv, NULL, 0, "echo/1", NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "hello over tls\n");
    exchange(&c, "second line\n");
    /* A big line crosses many records. */
    size_t big = 300000;
    char *line = malloc(big + 2), *back = malloc(big + 2);
    for (size_t i = 0; i < big; i++)
        line[i] = (char)('a' + i % 26);
    line[big] = '\n';
    line[big + 1] = '\0';
    tls_send(&c, line);
    size_t got = 0;
    while (got < big + 1) {
        int r = SSL_read(c.ssl, back + got, (int)(big + 1 - got));
        CHECK_GT(r, 0);
        got += (size_t)r;
    }
    CHECK_EQ_MEM(back, line, big + 1);
    free(line);
    free(back);
    CHECK_EQ_INT(atomic_load(&S->is_tls), 1);
    CHECK_EQ_STR(S->version, "TLSv1.3");
    CHECK_EQ_STR(S->alpn, "echo/1");
    CHECK_EQ_STR(S->subject, "(null)"); /* no client certificate asked */
    CHECK(strlen(S->cipher) > 4);
    /* End of input: the server finishes and says close_notify. */
    SSL_shutdown(c.ssl);
    char rest;
    CHECK_EQ_INT(SSL_read(c.ssl, &rest, 1), 0);
    CHECK_EQ_INT(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
    tls_close(&c, false);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    CHECK_EQ_INT(atomic_load(&S->errors), 0);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.completed, 1);
    /* Counted on the socket: records, the handshake too, so more than the
     * text each way. */
    size_t text = strlen("hello over tls\n") + strlen("second line\n") + big + 1;
    if (ss_stats_detailed()) {
        CHECK_GT(st.bytes_in, text);
        CHECK_GT(st.bytes_out, text);
    } else {
        CHECK_EQ_INT(st.bytes_in + st.bytes_out, 0);
    }
    stop();
}

TEST(echo_sync) { echo_test(SS_SYNC); }
TEST(echo_threading) { echo_test(SS_THREADING); }
TEST(echo_forking) { echo_test(SS_FORKING); }
TEST(echo_pool) { echo_test(SS_POOL); }
TEST(echo_event) { echo_test(SS_EVENT); }

/* A client whose handshake fails never reaches the handler: the reason in
 * words, counted in tls_failed and errors. */
static void refused(ss_strategy strategy, bool mtls, const keycert *cert, int max_version, const char *raw,
                    const char *why)
{
    begin();
    start((ss_config){.strategy = strategy, .tls_client_ca = mtls ? ca_pem : NULL});
    if (raw) { /* not TLS at all */
        int fd = h_connect(srv);
        h_send_str(fd, raw);
        CHECK(h_wait_eof(fd, 10));
        close(fd);
    } else {
        int ok;
        client c = tls_connect(srv, cert, max_version, NULL, NULL, &ok);
        if (ok == 1) { /* TLS 1.3: a client certificate is judged after the client's Finished */
            char b;
            CHECK_LE(SSL_read(c.ssl, &b, 1), 0);
        }
        tls_close(&c, false);
    }
    CHECK(WAIT_FOR(atomic_load(&S->errors) == 1, 10));
    CHECK_MSG(strstr(S->reason, why) != NULL, "reason '%s', expected '%s' in it", S->reason, why);
    CHECK_EQ_INT(atomic_load(&S->handled), 0);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.tls_failed, 1);
    CHECK_EQ_INT(st.completed, 0);
    stop();
}

TEST(mutual_tls_accepted)
{
    begin();
    start((ss_config){.strategy = SS_EVENT, .tls_client_ca = ca_pem});
    int ok;
    client c = tls_connect(srv, &client_kc, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "with a certificate\n");
    CHECK_EQ_STR(S->subject, "CN=client one,O=sockserv tests");
    unsigned char md[32];
    unsigned len;
    CHECK_EQ_INT(X509_digest(client_kc.cert, EVP_sha256(), md, &len), 1);
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
    CHECK_EQ_STR(S->fingerprint, hex);
    tls_close(&c, true);
    stop();
}

TEST(mutual_tls_no_certificate) { refused(SS_THREADING, true, NULL, 0, NULL, "client sent no certificate"); }
TEST(mutual_tls_other_ca) { refused(SS_EVENT, true, &stranger_kc, 0, NULL, "client certificate not trusted"); }
TEST(mutual_tls_expired) { refused(SS_POOL, true, &expired_kc, 0, NULL, "certificate has expired"); }
TEST(mutual_tls_no_certificate_forking) { refused(SS_FORKING, true, NULL, 0, NULL, "client sent no certificate"); }
TEST(plaintext_http) { refused(SS_SYNC, false, NULL, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "plaintext HTTP"); }
TEST(plaintext_line) { refused(SS_EVENT, false, NULL, 0, "hello there, no TLS\n", "not a TLS client"); }
TEST(tls11_only_client) { refused(SS_THREADING, false, NULL, TLS1_1_VERSION, NULL, "no shared protocol version"); }

/* With handle_error's default, a failed handshake is logged as
 * tls_handshake_failed, with its reason, at error level. */
/* cppcheck-suppress constParameter ; the signature is cfg.log's */
static void log_event(ss_server *s, ss_log_level level, ss_request *req, const char *event, const char *msg)
{
    (void)s;
    CHECK(level == SS_LOG_ERROR && req != NULL);
    copy(S->event, sizeof S->event, event);
    copy(S->message, sizeof S->message, msg);
    atomic_fetch_add(&S->logged, 1);
}

static void handshake_logged(ss_strategy strategy)
{
    begin();
    start((ss_config){.strategy = strategy, .log = log_event});
    int fd = h_connect(srv);
    h_send_str(fd, "hello there, no TLS\n");
    CHECK(h_wait_eof(fd, 10));
    close(fd);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    CHECK_EQ_INT(atomic_load(&S->logged), 1);
    CHECK_EQ_STR(S->event, "tls_handshake_failed");
    CHECK_MSG(strncmp(S->message, "request from 127.0.0.1:", 23) == 0 && strstr(S->message, "not a TLS client"),
              "message: %s", S->message);
    CHECK_EQ_INT(h_stats(srv).tls_failed, 1);
    stop();
}

TEST(handshake_failure_logged) { handshake_logged(SS_SYNC); }
TEST(handshake_failure_logged_threading) { handshake_logged(SS_THREADING); }
TEST(handshake_failure_logged_forking) { handshake_logged(SS_FORKING); }
TEST(handshake_failure_logged_pool) { handshake_logged(SS_POOL); }
TEST(handshake_failure_logged_event) { handshake_logged(SS_EVENT); }

/* A client that connects and says nothing, or half a ClientHello, is
 * dropped at the handshake's limit (not before), in every strategy. */
static void stalled_handshake(ss_strategy strategy, bool half)
{
    begin();
    start((ss_config){.strategy = strategy, .tls_handshake_timeout = 0.5});
    int fd = h_connect(srv);
    double t0 = h_now();
    if (half) /* a TLS record header announcing 512 bytes, then 5 of them */
        h_send_all(fd, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03", 10);
    CHECK(h_wait_eof(fd, 10));
    double took = h_now() - t0;
    close(fd);
    CHECK_GE_DBL(took, 0.4);
    CHECK(WAIT_FOR(atomic_load(&S->errors) == 1, 10));
    CHECK_MSG(strstr(S->reason, "not done within 0.5 s") != NULL, "reason '%s'", S->reason);
    CHECK_EQ_INT(h_stats(srv).tls_failed, 1);
    CHECK_EQ_INT(atomic_load(&S->handled), 0);
    stop();
}

TEST(silent_client_dropped_sync) { stalled_handshake(SS_SYNC, false); }
TEST(silent_client_dropped_threading) { stalled_handshake(SS_THREADING, false); }
TEST(silent_client_dropped_forking) { stalled_handshake(SS_FORKING, false); }
TEST(silent_client_dropped_pool) { stalled_handshake(SS_POOL, false); }
TEST(silent_client_dropped_event) { stalled_handshake(SS_EVENT, false); }
TEST(half_hello_dropped_threading) { stalled_handshake(SS_THREADING, true); }
TEST(half_hello_dropped_event) { stalled_handshake(SS_EVENT, true); }

/* A client that resets in the middle of the handshake. */
TEST(reset_mid_handshake)
{
    begin();
    start((ss_config){.strategy = SS_EVENT});
    int fd = h_connect(srv);
    h_send_all(fd, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03", 10);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    CHECK(WAIT_FOR(atomic_load(&S->errors) == 1, 10));
    CHECK_EQ_INT(h_stats(srv).tls_failed, 1);
    /* Still serving. */
    int ok;
    client c = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "after a reset\n");
    tls_close(&c, true);
    stop();
}

/* A client that closes, or resets, before its first byte (a port probe,
 * HAProxy's health check after its PROXY header) failed no handshake: no
 * error, no tls_failed, no handler; a real client is served after them. */
static void probe(bool reset, uint64_t nth)
{
    /* From a process of its own: a forked request would hold a copy of a
     * socket made in this one, and its close would end nothing. It says
     * "done" through a pipe (under valgrind, its exit status is valgrind's
     * verdict on a fork of a threaded process). */
    int go[2], done[2];
    CHECK(pipe(go) == 0 && pipe(done) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(done[0]);
        int fd = h_connect(srv);
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(1);
        if (reset) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        if (close(fd) == 0 && write(done[1], "d", 1) != 1)
            _exit(1);
        _exit(0);
    }
    close(go[0]);
    close(done[1]);
    CHECK(WAIT_FOR(h_stats(srv).accepted == nth, 10)); /* its request waits for a byte */
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    char d = 0;
    CHECK_MSG(read(done[0], &d, 1) == 1 && d == 'd', "the probe did not close its connection");
    close(done[0]);
    CHECK(waitpid(pid, NULL, 0) == pid);
}

static void probe_test(ss_strategy strategy)
{
    begin();
    start((ss_config){.strategy = strategy});
    for (uint64_t i = 1; i <= 4; i++)
        probe(i % 2 == 0, i);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    int ok;
    client c = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "after the probes\n");
    tls_close(&c, true);
    CHECK(WAIT_FOR(h_stats(srv).completed == 1, 10));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.tls_failed, 0);
    CHECK_EQ_INT(st.errors, 0);
    CHECK_EQ_INT(atomic_load(&S->errors), 0);
    CHECK_EQ_INT(atomic_load(&S->handled), 1);
    stop();
}

TEST(probe_is_no_failure_sync) { probe_test(SS_SYNC); }
TEST(probe_is_no_failure_threading) { probe_test(SS_THREADING); }
TEST(probe_is_no_failure_forking) { probe_test(SS_FORKING); }
TEST(probe_is_no_failure_pool) { probe_test(SS_POOL); }
TEST(probe_is_no_failure_event) { probe_test(SS_EVENT); }

/* A peer that closes without close_notify: the handler's read reports a
 * truncation, not a clean end of input. */
static void truncation_test(ss_strategy strategy)
{
    begin();
    start((ss_config){.strategy = strategy});
    int ok;
    client c = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "then I vanish\n");
    shutdown(c.fd, SHUT_RDWR); /* no close_notify */
    tls_close(&c, false);
    CHECK(WAIT_FOR(atomic_load(&S->errors) == 1, 10));
    CHECK_EQ_INT(atomic_load(&S->last_err), -ECONNABORTED);
    CHECK_MSG(strstr(S->reason, "without close_notify") != NULL, "reason '%s'", S->reason);
    stop();
}

TEST(truncation_threading) { truncation_test(SS_THREADING); }
TEST(truncation_event) { truncation_test(SS_EVENT); }

/* Session resumption: a second connection resumes the first's session,
 * whichever thread or loop takes it. */
static void resumption_test(ss_strategy strategy, int workers)
{
    begin();
    start((ss_config){.strategy = strategy, .workers = workers});
    int ok;
    client a = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&a, "first\n");
    SSL_SESSION *sess = SSL_get1_session(a.ssl);
    CHECK_NOT_NULL(sess);
    tls_close(&a, true);
    for (int i = 0; i < 6; i++) {
        client b = tls_connect(srv, NULL, 0, NULL, sess, &ok);
        CHECK_EQ_INT(ok, 1);
        CHECK_MSG(SSL_session_reused(b.ssl), "connection %d did not resume", i);
        exchange(&b, "resumed\n");
        tls_close(&b, true);
    }
    SSL_SESSION_free(sess);
    stop();
}

TEST(resumption_threading) { resumption_test(SS_THREADING, 0); }
TEST(resumption_event_two_loops) { resumption_test(SS_EVENT, 2); }
TEST(resumption_forking) { resumption_test(SS_FORKING, 0); }

/* A reload: new connections get the new certificate, open ones keep
 * working; a broken file changes nothing and says why. */
/* ---- Ticket keys shared by servers and processes ------------------------ */

/* A session from the server on port `from`, offered to the one on `to`:
 * resumed there? */
static bool resumes_on(int from, int to)
{
    int ok;
    client a = tls_handshake(h_connect_ip("127.0.0.1", from, SOCK_STREAM), NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&a, "first\n"); /* the TLS 1.3 ticket comes with the reply */
    SSL_SESSION *sess = SSL_get1_session(a.ssl);
    CHECK_NOT_NULL(sess);
    tls_close(&a, true);
    client b = tls_handshake(h_connect_ip("127.0.0.1", to, SOCK_STREAM), NULL, 0, NULL, sess, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&b, "second\n");
    bool reused = SSL_session_reused(b.ssl);
    tls_close(&b, true);
    SSL_SESSION_free(sess);
    return reused;
}

/* Workers of one service: a server in a forked process, on a socket it
 * adopts, and one here, both with the keys made before the fork; a
 * server with keys of its own does not take their sessions. */
TEST(tickets_shared_across_processes)
{
    begin();
    ss_tls_tickets *keys = ss_tls_tickets_new(0);
    CHECK_NOT_NULL(keys);
    atomic_int *port = h_shared_alloc(sizeof *port);
    pid_t pid = fork(); /* before any thread or server here */
    CHECK_GE(pid, 0);
    if (pid == 0) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_EQ_INT(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
        ss_server *b = ss_server_adopt(&(ss_config){.handler = &echo, .tls_cert = cert_pem, .tls_key = key_pem,
                                                    .tls_tickets = keys, .strategy = SS_EVENT}, fd);
        CHECK_NOT_NULL(b);
        CHECK_EQ_INT(strncmp(ss_server_url(b), "tls://127.0.0.1:", 16), 0);
        atomic_store(port, h_server_port(b));
        ss_serve_forever(b, 0); /* until the parent's SIGKILL */
        _exit(0);
    }
    CHECK(WAIT_FOR(atomic_load(port) > 0, 10));
    start((ss_config){.tls_tickets = keys, .strategy = SS_THREADING});
    int here = h_server_port(srv), there = atomic_load(port);
    CHECK_MSG(resumes_on(here, there), "a session made here did not resume in the other process");
    CHECK_MSG(resumes_on(there, here), "a session made in the other process did not resume here");
    ss_server *own = h_server_new(&(ss_config){.listen = "tls://127.0.0.1:0", .handler = &echo,
                                               .tls_cert = cert_pem, .tls_key = key_pem});
    h_serve so;
    h_serve_start(&so, own, 0.01);
    CHECK_MSG(!resumes_on(here, h_server_port(own)), "a server with its own keys took a shared-key session");
    CHECK_EQ_INT(h_serve_stop(&so), 0);
    ss_server_close(own);
    kill(pid, SIGKILL);
    CHECK_EQ_INT(waitpid(pid, NULL, 0), pid);
    stop();
    ss_tls_tickets_free(keys);
    h_shared_free(port, sizeof *port);
}

/* Rotation: a ticket made under the current key still resumes once the
 * key is the previous one (and the session is renewed under the new
 * key); after two intervals with no rotation both keys are new. */
TEST_T(tickets_rotate, 60)
{
    begin();
    const double interval = 3;
    ss_tls_tickets *keys = ss_tls_tickets_new(interval);
    CHECK_NOT_NULL(keys);
    double made = h_now();
    start((ss_config){.tls_tickets = keys, .strategy = SS_EVENT});
    h_sleep(interval * 0.6);
    int ok;
    client a = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    exchange(&a, "first\n");
    SSL_SESSION *sess = SSL_get1_session(a.ssl);
    double issued = h_now();
    tls_close(&a, true);
    h_sleep(made + interval * 1.1 - h_now()); /* rotation due; the session lives `interval` from issue */
    client b = tls_connect(srv, NULL, 0, NULL, sess, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&b, "second\n");
    bool reused = SSL_session_reused(b.ssl);
    double at = h_now();
    tls_close(&b, true);
    if (at - issued < interval * 0.9)
        CHECK_MSG(reused, "a ticket of the previous key did not resume");
    else
        h_note("machine too slow to check resumption under the previous key (%.2f s after issue)", at - issued);
    h_sleep(made + interval * 3.1 - h_now()); /* two intervals after the last rotation at the least */
    client c = tls_connect(srv, NULL, 0, NULL, sess, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&c, "third\n");
    CHECK_MSG(!SSL_session_reused(c.ssl), "a ticket of an erased key resumed");
    tls_close(&c, true);
    SSL_SESSION_free(sess);
    stop();
    ss_tls_tickets_free(keys);
    errno = 0;
    CHECK(!ss_tls_tickets_new(-1));
    CHECK_ERRNO(EINVAL);
    CHECK(!ss_tls_tickets_new(86400 * 8));
    CHECK_ERRNO(EINVAL);
}

/* A PROXY header, then the handshake: TLS behind HAProxy's TCP mode. */
static int peer_handle(ss_request *req)
{
    char line[64];
    if (ss_readline(req, line, sizeof line) <= 0)
        return -EIO;
    return ss_writef(req, "%s %s\n", ss_request_peer_str(req), ss_request_is_tls(req) ? "tls" : "plain") < 0 ? -EIO : 0;
}

TEST(proxy_header_before_the_handshake)
{
    begin();
    static const ss_handler h = {.handle = peer_handle};
    start((ss_config){.handler = &h, .proxy_protocol = true, .strategy = SS_POOL});
    int fd = h_connect(srv);
    h_send_str(fd, "PROXY TCP6 2001:db8::5 ::1 40000 443\r\n");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    CHECK_EQ_INT(SSL_connect(ssl), 1);
    CHECK_EQ_INT(SSL_write(ssl, "hi\n", 3), 3);
    char got[128] = "";
    int n = SSL_read(ssl, got, sizeof got - 1);
    CHECK_GT(n, 0);
    got[n] = '\0';
    CHECK_EQ_STR(got, "[2001:db8::5]:40000 tls\n");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    stop();
}

TEST(reload)
{
    begin();
    write_cert(&server_kc, "live-cert.pem");
    write_key(&server_kc, "live-key.pem", NULL);
    start((ss_config){.strategy = SS_THREADING, .tls_cert = h_path("live-cert.pem"), .tls_key = h_path("live-key.pem")});
    int ok;
    client old = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    exchange(&old, "before\n");
    keycert renewed;
    tls_pki_make(&renewed, "renewed", &ca, 0, -60, 86400);
    write_cert(&renewed, "live-cert.pem");
    write_key(&renewed, "live-key.pem", NULL);
    CHECK_EQ_INT(ss_server_tls_reload(srv), 0);
    client fresh = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    X509 *seen = SSL_get1_peer_certificate(fresh.ssl);
    CHECK_EQ_INT(X509_cmp(seen, renewed.cert), 0);
    X509_free(seen);
    exchange(&old, "the old connection goes on\n");
    exchange(&fresh, "the new one too\n");
    /* Broken: the certificate file is not PEM. */
    h_append_file(h_path("junk.pem"), "not a certificate\n");
    CHECK_EQ_INT(rename(h_path("junk.pem"), h_path("live-cert.pem")), 0);
    CHECK_LT(ss_server_tls_reload(srv), 0);
    CHECK_MSG(ss_last_error() && strstr(ss_last_error(), "live-cert.pem"), "ss_last_error: %s",
              ss_last_error() ? ss_last_error() : "(null)");
    client still = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    seen = SSL_get1_peer_certificate(still.ssl);
    CHECK_EQ_INT(X509_cmp(seen, renewed.cert), 0);
    X509_free(seen);
    exchange(&still, "served with the last good one\n");
    tls_close(&old, true);
    tls_close(&fresh, true);
    tls_close(&still, true);
    tls_pki_free(&renewed);
    stop();
}

/* Two records in one TCP segment: one ss_read1 returns the first; the
 * second, read ahead from the socket, waits inside the library, which
 * ss_input_buffered() says (a poll of the socket would not). */
static int buffered_handle(ss_request *req)
{
    char buf[16384];
    ssize_t n = ss_read1(req, buf, sizeof buf);
    if (n <= 0)
        return -EIO;
    bool more = ss_input_buffered(req);
    struct pollfd p = {.fd = ss_request_fd(req), .events = POLLIN};
    int socket_ready = poll(&p, 1, 0);
    ssize_t m = ss_read1(req, buf + n, sizeof buf - (size_t)n);
    if (m <= 0)
        return -EIO;
    return ss_writef(req, "%zd %d %d %zd %s", n, more, socket_ready, m, ss_input_buffered(req) ? "more" : "none\n") < 0
               ? -EIO : 0;
}

TEST(input_buffered_inside_tls)
{
    begin();
    static const ss_handler h = {.handle = buffered_handle};
    start((ss_config){.handler = &h, .strategy = SS_EVENT});
    int ok;
    client c = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
    CHECK_EQ_INT(ok, 1);
    /* Both records into memory, then out in one send. */
    BIO *mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(c.ssl, mem);
    CHECK_EQ_INT(SSL_write(c.ssl, "one\n", 4), 4);
    CHECK_EQ_INT(SSL_write(c.ssl, "two\n", 4), 4);
    char *bytes;
    long len = BIO_get_mem_data(mem, &bytes);
    CHECK_GT(len, 8);
    h_send_all(c.fd, bytes, (size_t)len);
    BIO_reset(mem);
    char got[64];
    CHECK_GT(tls_recv_line(&c, got, sizeof got), 0);
    CHECK_EQ_STR(got, "4 1 0 4 none\n");
    tls_close(&c, false);
    stop();
}

/* Reloads on another thread while the forking strategy forks: a fork in
 * the middle of building a context used to leave the child holding
 * OpenSSL's store lock, stuck at its first handshake. The test's client
 * uses OpenSSL in this process too, which no lock of the library covers: it
 * starts its handshake only once its request's child exists (a fork during
 * the client's own method fetch left the child stuck the same way, one run
 * in ten). */
static atomic_bool reloading;
static void *reload_loop(void *arg)
{
    ss_server *s = arg;
    while (atomic_load(&reloading))
        CHECK_EQ_INT(ss_server_tls_reload(s), 0);
    return NULL;
}

TEST_T(reload_while_forking, 90)
{
    if (h_sanitized())
        SKIP("GCC 12's sanitizer allocators are not fork-safe while another thread allocates "
             "(the reload's thread does): run without sanitizers");
    begin();
    start((ss_config){.strategy = SS_FORKING, .tls_handshake_timeout = 20});
    atomic_store(&reloading, true);
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, reload_loop, srv), 0);
    for (int i = 0; i < 40; i++) {
        int ok;
        CHECK_MSG(WAIT_FOR(h_children(NULL, 0) == 0, 20), "request %d: the last child is left", i);
        int fd = h_connect(srv);
        CHECK_MSG(WAIT_FOR(h_children(NULL, 0) == 1, 20), "request %d: no child forked", i);
        client c = tls_handshake(fd, NULL, 0, NULL, NULL, &ok);
        CHECK_MSG(ok == 1, "handshake %d failed: a child stuck?", i);
        exchange(&c, "forked\n");
        tls_close(&c, true);
    }
    atomic_store(&reloading, false);
    pthread_join(t, NULL);
    stop();
}

/* What a careless operator gets: each problem named, with the file. */
static void bad_files(const char *cert, const char *key, const char *want)
{
    errno = 0;
    ss_server *s = ss_server_new(&(ss_config){.listen = "tls://127.0.0.1:0", .handler = &echo,
                                               .tls_cert = cert, .tls_key = key});
    CHECK(s == NULL);
    const char *why = ss_last_error();
    CHECK_MSG(why && strstr(why, want), "ss_last_error() = '%s', expected '%s' in it", why ? why : "(null)", want);
}

TEST(bad_files_named)
{
    begin();
    keycert other;
    tls_pki_make(&other, "other", &ca, 0, -60, 86400);
    const char *other_key = write_key(&other, "other-key.pem", NULL);
    const char *secret_key = write_key(&server_kc, "secret-key.pem", "sesame");
    h_append_file(h_path("text.pem"), "hello\n");
    bad_files(h_path("missing.pem"), key_pem, "cannot read");
    bad_files(cert_pem, h_path("missing-key.pem"), "missing-key.pem");
    bad_files(h_path("text.pem"), key_pem, "text.pem");
    bad_files(cert_pem, h_path("text.pem"), "text.pem");
    bad_files(cert_pem, other_key, "does not match the certificate");
    bad_files(cert_pem, secret_key, "encrypted");
    bad_files(NULL, key_pem, "needs tls_cert and tls_key");
    tls_pki_free(&other);
    /* TLS settings on a URL that is not tls://. */
    CHECK(ss_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &echo, .tls_cert = cert_pem}) == NULL);
    CHECK_ERRNO(EINVAL);
    CHECK(ss_tls_available());
    /* Reload on a plain server. */
    ss_server *plain = h_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &echo});
    CHECK_EQ_INT(ss_server_tls_reload(plain), -EINVAL);
    ss_server_close(plain);
}

static int nodelay_handle(ss_request *req)
{
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(ss_request_fd(req), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    atomic_store(&S->is_tls, v);
    return echo_handle(req);
}

/* A TLS 1.3 server sends its session ticket right after the handshake;
 * with Nagle's algorithm a first reply written before the client ACKs it
 * would wait for the client's delayed ACK (about 40 ms). TLS connections
 * are TCP_NODELAY like the others, so the first echo comes at once: the
 * best of five well under 40 ms. */
TEST(first_reply_not_delayed_by_tickets)
{
    static const ss_handler h = {.handle = nodelay_handle};
    begin();
    start((ss_config){.strategy = SS_EVENT, .handler = &h});
    double best = 1e9;
    for (int i = 0; i < 5; i++) {
        int ok;
        client c = tls_connect(srv, NULL, 0, NULL, NULL, &ok);
        CHECK_EQ_INT(ok, 1);
        double t0 = h_now();
        exchange(&c, "first\n");
        double took = h_now() - t0;
        best = took < best ? took : best;
        tls_close(&c, true);
        CHECK_EQ_INT(atomic_load(&S->is_tls), 1); /* here: TCP_NODELAY was set */
    }
    h_note("first echo after the handshake: %.2f ms at best", best * 1e3);
    CHECK_LT_DBL(best, 0.040);
    stop();
}

/* Plain requests say they are not TLS. */
TEST(plain_request_is_not_tls)
{
    begin();
    ss_server *s = h_server_new(&(ss_config){.listen = "tcp://127.0.0.1:0", .handler = &echo,
                                              .handle_error = record_error});
    h_serve p;
    h_serve_start(&p, s, 0.01);
    h_exchange(s, "plain\n");
    CHECK_EQ_INT(atomic_load(&S->is_tls), 0);
    CHECK_EQ_STR(S->version, "(null)");
    CHECK_EQ_INT(h_serve_stop(&p), 0);
    ss_server_close(s);
}

#else /* built without OpenSSL */

TEST(tls_not_built)
{
    CHECK(!ss_tls_available());
    errno = 0;
    static const ss_handler h = {0};
    CHECK(ss_server_new(&(ss_config){.listen = "tls://127.0.0.1:0", .handler = &h}) == NULL);
    CHECK_ERRNO(EPROTONOSUPPORT);
    CHECK(ss_last_error() && strstr(ss_last_error(), "apt-get install libssl-dev"));
    SKIP("the library is built without TLS (OpenSSL 3): apt-get install libssl-dev, then rebuild");
}

#endif
