/* fuzz_tls.c: fuzz target: the server side of the TLS handshake and record layer over arbitrary client bytes in arbitrary chunks, held to OpenSSL's own answer. */
#include "fuzz.h"

#if !SS_HAVE_TLS

/* Built without OpenSSL: nothing to run, and the replay test says so
 * (skipped, never passed). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data, (void)size;
    printf("SKIPPED: the library is built without TLS (OpenSSL 3): apt-get install libssl-dev, then rebuild\n");
    exit(77);
}

#else

#include "tls_fixture.h"

/*
 * Input: byte 0 = n, n control bytes, then the bytes the client sends. The
 * control bytes are taken in turn, round and round: the read buffer size,
 * then at each wait a fault byte and a chunk size (feed.c), after the
 * handshake the read calls and their sizes (script.c), last the size of a
 * reply.
 *
 * The server is the same in every run (tls_fixture.c), so the seeds are
 * real clients recorded against it (tls_seeds.c) that complete the
 * handshake and send data. What the connection does must agree with
 * OpenSSL's plain API given the same bytes at once, whatever the chunks:
 * the handshake's result, the parameters agreed, the plaintext, and how the
 * input ends (close_notify, a truncation, an error).
 */

/* A reason that can go to a log as it is: printable ASCII. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < ' ' || *s > '~')
            return false;
    return true;
}

/* A TLS parameter as the connection gives it (NULL: none) and as OpenSSL
 * does ("": none). */
static bool same(const char *got, const char *want)
{
    return got ? strcmp(got, want) == 0 : !*want;
}

/* A failed handshake: a negative errno (the injected fault's, or OpenSSL's
 * verdict), a reason in words, counted; reads after it fail. */
static void refused(fuzz_feed *f, const fuzz_tls_answer *a, int rc, uint64_t failed_before)
{
    ss_request *req = f->req;
    FUZZ_CHECK(rc < 0 && rc > -4096, "the handshake returned %d", rc);
    if (f->faults)
        FUZZ_CHECK(rc == f->fault, "the handshake failed with %d after the injected fault %d", rc, f->fault);
    else
        FUZZ_CHECK(rc == a->handshake, "the handshake failed with %d (%s); OpenSSL, given the bytes at once: %d",
                   rc, ss_request_error(req), a->handshake);
    const char *why = ss_request_error(req);
    /* A drain cuts the handshake short; the client did nothing wrong. */
    FUZZ_CHECK(why || rc == -ECANCELED, "the handshake failed with %d and no reason", rc);
    FUZZ_CHECK(!why || printable(why), "the reason is not printable ASCII: %s", why);
    FUZZ_CHECK(atomic_load(&req->srv->sh->tls_failed) == failed_before + 1, "tls_failed was not counted");
    FUZZ_CHECK(!ss_request_tls_version(req) && !ss_request_tls_cipher(req) && !ss_request_tls_alpn(req),
               "TLS parameters of a failed handshake");
    char buf[64];
    ssize_t r = ss_read1(req, buf, sizeof buf);
    FUZZ_CHECK(r < 0, "a read after the failed handshake (%d) returned %zd", rc, r);
    r = ss_read(req, buf, sizeof buf);
    FUZZ_CHECK(r < 0, "a second read after the failed handshake (%d) returned %zd", rc, r);
}

/* A client that left before its first byte (an empty input, or a reset
 * injected before any came): no failure, nothing counted, no reason
 * needed; reads after it fail. */
static void left(fuzz_feed *f, size_t len, uint64_t failed_before)
{
    ss_request *req = f->req;
    if (f->faults)
        FUZZ_CHECK(f->fault == -ECONNRESET || f->fault == -EPIPE || f->fault == -ECONNABORTED,
                   "the client left before a byte, said the handshake, after the injected fault %d", f->fault);
    else
        FUZZ_CHECK(len == 0, "the client left before a byte, said the handshake, with %zu bytes to read", len);
    FUZZ_CHECK(atomic_load(&req->srv->sh->tls_failed) == failed_before, "a client that left counted as failed");
    char buf[64];
    FUZZ_CHECK(ss_read1(req, buf, sizeof buf) < 0, "a read after the client left succeeded");
}

/* A completed handshake: what OpenSSL agreed to; then the plaintext, read
 * with a script; then a reply, which must go or fail. */
static void established(fuzz_feed *f, const fuzz_tls_answer *a, fuzz_ctl *ctl)
{
    ss_request *req = f->req;
    FUZZ_CHECK(a->handshake == 0, "the handshake completed; OpenSSL, given the bytes at once, failed it: %d",
               a->handshake);
    FUZZ_CHECK(ss_request_is_tls(req), "not a TLS request");
    FUZZ_CHECK(same(ss_request_tls_version(req), a->version), "version %s, OpenSSL's %s",
               ss_request_tls_version(req), a->version);
    FUZZ_CHECK(same(ss_request_tls_cipher(req), a->cipher), "cipher %s, OpenSSL's %s", ss_request_tls_cipher(req),
               a->cipher);
    FUZZ_CHECK(same(ss_request_tls_alpn(req), a->alpn), "ALPN %s, OpenSSL's %s", ss_request_tls_alpn(req), a->alpn);
    FUZZ_CHECK(!ss_request_tls_peer_subject(req) && !ss_request_tls_peer_fingerprint(req),
               "a client certificate, none asked for");
    fuzz_read_script_to(req, a->plain, a->len, a->end, ctl, f, NULL);

    size_t n = fuzz_ctl_size(ctl, 16384);
    char *reply = malloc(n);
    FUZZ_CHECK(reply, "out of memory");
    memset(reply, 'r', n);
    ssize_t w = ss_write(req, reply, n);
    FUZZ_CHECK(w == (ssize_t)n || (w < 0 && w > -4096), "ss_write(%zu) = %zd", n, w);
    int rc = ss_flush(req);
    FUZZ_CHECK(rc <= 0 && rc > -4096, "ss_flush = %d", rc);
    free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctl ctl;
    const uint8_t *payload;
    size_t len;
    fuzz_feed f;
    fuzz_tls_answer a;

    fuzz_split(data, size, &ctl, &payload, &len);
    ss_server *srv = fuzz_tls_server();
    fuzz_tls_answer_to(srv, payload, len, &a);
    uint64_t failed_before = atomic_load(&srv->sh->tls_failed);
    fuzz_tls_rand_restart(); /* the connection's server makes the same random bytes */
    fuzz_feed_start_on(&f, srv, &ss__conn_tls, &ss__conn_stream, payload, len, &ctl);
    int rc = f.req->conn.type->start(&f.req->conn);
    if (rc == 0)
        established(&f, &a, &ctl);
    else if (rc == 1)
        left(&f, len, failed_before);
    else
        refused(&f, &a, rc, failed_before);
    f.req->conn.type->close(&f.req->conn); /* close_notify, as a request's end sends it */
    fuzz_feed_end(&f);
    fuzz_tls_answer_free(&a);
    return 0;
}

#endif
