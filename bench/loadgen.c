/* loadgen.c: the benchmark load generator: many connections from one thread on epoll, plain TCP or TLS, every echoed byte checked. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen_tls.h"

/*
 * What a message is: `size` bytes, the last one '\n', the others taken from a
 * fixed pseudo-random table of printable bytes at an offset that depends on
 * the connection slot, the connection's generation and the message's number.
 * The echo of a connection must be exactly the bytes it sent, in order; the
 * receiver recomputes what each byte must be and compares.
 */
#define PATTERN_SPAN 65536u         /* offsets a message may start at */
#define RECV_BUF ((size_t)256 * 1024) /* one receive buffer for every connection */
#define MAX_EVENTS 1024
#define HIST_SUB_BITS 7             /* 128 buckets per power of two: < 0.8% error */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64u * HIST_SUB)
#define TICK_NS 100000000ll         /* timeouts and retries are checked this often */
#define RETRY_NS 10000000ll         /* a failed slot reconnects after 10 ms */

enum mode { MODE_PINGPONG, MODE_PIPELINE, MODE_CONNECT };
enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DONE };
enum cstate { CS_IDLE, CS_WAIT, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSING };
enum err_kind { E_CONNECT, E_CLOSED, E_MISMATCH, E_TIMEOUT, E_TLS, E_KINDS };
static const char *const err_names[E_KINDS] = { "connect", "closed", "mismatch", "timeout", "tls" };

struct opts {
    const char *host;
    int port;
    int conns;
    enum mode mode;
    int depth;
    size_t size;
    double duration;
    uint64_t requests;
    double warmup;
    uint64_t per_conn;       /* messages per connection, then reconnect; 0: keep it */
    double timeout;
    double setup_timeout;
    double close_timeout;    /* the graceful close at the end */
    int burst;               /* connections being set up at once, at start */
    int src_addrs;           /* spread over 127.0.0.1 .. 127.0.0.N as sources */
    bool hold;               /* after the window, wait for a line on stdin */
    bool quiet;
    bool nodelay;
    bool tls;                /* TLS over every connection */
    bool tls_resume;         /* a new connection resumes its slot's last session */
    int tls_version;         /* 12 or 13 */
    const char *label;
};

struct conn {
    int fd;
    uint32_t slot;
    uint32_t gen;            /* how many connections this slot has made */
    enum cstate state;
    bool ready;              /* its first echo came back (setup is over for it) */
    bool in_setup;           /* counted in setup_inflight */
    bool shut;               /* closing: our side is shut down (SHUT_WR, or TLS close_notify sent) */
    bool close_when_open;    /* closing: a TLS handshake under way finishes first */
    uint64_t queued;         /* messages put in `out` so far on this connection */
    uint64_t done;           /* messages whose echo came back whole */
    size_t roff;             /* bytes of message `done` received so far */
    char *out;               /* bytes still to send */
    size_t olen, ooff;
    int64_t *tq;             /* ring of `depth` queue times (ns) */
    int64_t retry_at;
    struct ssl_st *tls;      /* the connection's TLS state (--tls) */
    struct ssl_session_st *session; /* the slot's last session, to resume (--tls-resume) */
};

struct stats {
    uint64_t requests, bytes, connects;
    uint64_t handshakes, resumed;   /* TLS handshakes completed, and those that resumed a session */
    uint64_t hist[HIST_BUCKETS];
    int64_t max_ns;
    double sum_ns;
};

static struct opts opt;
static char *pattern;
static struct conn *conns;
static int epfd = -1;
static enum phase phase;
static struct stats st;
static uint64_t errors[E_KINDS];
static uint64_t errors_total;
static uint64_t total_done;
static int setup_inflight, setup_next, setup_ready;
static uint32_t *retryq;     /* FIFO of slots waiting to reconnect */
static int rq_head, rq_len;
static struct sockaddr_in dest;
static bool mismatch_reported;
static char *rbuf;
static int closing_left;     /* connections still closing at the end */
static char tls_chosen[128]; /* what the first TLS handshake negotiated */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- messages ---------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void make_pattern(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = PATTERN_SPAN + opt.size;
    uint64_t x = 0x9e3779b97f4a7c15ull;

    pattern = malloc(len);
    if (!pattern) {
        perror("loadgen: malloc");
        exit(1);
    }
    for (size_t i = 0; i < len; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        pattern[i] = alphabet[(x >> 58) & 63];
    }
}

/* Where message k of connection c starts in the pattern. */
static const char *msg_base(const struct conn *c, uint64_t k)
{
    uint64_t h = mix64(((uint64_t)c->slot << 40) ^ ((uint64_t)c->gen << 20) ^ k ^ 0x5bd1e995ull);
    return pattern + (h % PATTERN_SPAN);
}

/* ---- latency histogram (log buckets, HDR style) ------------------------ */

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB_BITS;
    return (shift + 1u) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's range. */
static double hist_value(unsigned i)
{
    if (i < HIST_SUB)
        return (double)i;
    unsigned shift = i / HIST_SUB - 1u;
    double lo = (double)((uint64_t)(i % HIST_SUB + HIST_SUB) << shift);
    return lo + (double)((uint64_t)1 << shift) / 2.0;
}

static void hist_add(int64_t ns)
{
    if (ns < 0)
        ns = 0;
    st.hist[hist_index((uint64_t)ns)]++;
    st.sum_ns += (double)ns;
    if (ns > st.max_ns)
        st.max_ns = ns;
}

static double hist_quantile(double q)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        n += st.hist[i];
    if (n == 0)
        return 0.0;
    double want = q * (double)n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += st.hist[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return (double)st.max_ns;
}

/* ---- connections -------------------------------------------------------- */

static void count_error(enum err_kind k)
{
    errors[k]++;
    errors_total++;
}

static void schedule_retry(struct conn *c, int64_t now)
{
    c->state = CS_WAIT;
    c->retry_at = now + RETRY_NS;
    retryq[(rq_head + rq_len) % opt.conns] = c->slot;
    rq_len++;
}

static void setup_finished_one(struct conn *c)
{
    if (c->in_setup) {
        c->in_setup = false;
        setup_inflight--;
    }
}

/* The end of a TLS connection: its session kept for the slot's next
 * connection to resume, and our close_notify sent if it was not yet (best
 * effort: the server then sees the end of input, not a truncation). */
static void tls_end(struct conn *c, bool failed)
{
    bool established = c->state == CS_OPEN || c->state == CS_CLOSING;
    if (established && !failed && opt.tls_resume)
        lg_tls_keep_session(c->tls, &c->session);
    if (established && !failed && !c->shut)
        (void)lg_tls_close_notify(c->tls);
    lg_tls_free(c->tls);
    c->tls = NULL;
}

/* Close the connection; after an error the slot tries again a little later. */
static void conn_close(struct conn *c, bool failed, int64_t now)
{
    if (c->state == CS_CLOSING || c->close_when_open)
        closing_left--;
    c->close_when_open = false;
    if (c->tls)
        tls_end(c, failed);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->olen = c->ooff = 0;
    c->roff = 0;
    if (failed)
        setup_finished_one(c);
    if (phase == PH_DONE) {
        c->state = CS_IDLE;
        return;
    }
    if (failed)
        schedule_retry(c, now);
    else
        c->state = CS_IDLE;
}

/* Take the TLS handshake a step further: true once it is done (the
 * connection is open then), false while it waits for the socket or after
 * it failed (the connection is closed then). */
static bool handshake_step(struct conn *c, int64_t now)
{
    int r = lg_tls_handshake(c->tls);
    if (r == 0)
        return false;
    if (r < 0) {
        count_error(E_TLS);
        conn_close(c, true, now);
        return false;
    }
    c->state = CS_OPEN;
    if (!tls_chosen[0])
        lg_tls_describe(c->tls, tls_chosen, sizeof tls_chosen);
    if (phase == PH_MEASURE) {
        st.handshakes++;
        if (lg_tls_resumed(c->tls))
            st.resumed++;
    }
    return true;
}

static bool may_queue(const struct conn *c)
{
    if (phase == PH_DONE)
        return false;
    if (c->queued - c->done >= (uint64_t)opt.depth)
        return false;
    if (opt.per_conn && c->queued >= opt.per_conn)
        return false;
    /* A connection sends one message until it is ready, and while the
     * others are still being set up, nothing more. */
    if ((!c->ready || phase == PH_SETUP) && c->queued >= 1)
        return false;
    return true;
}

/* Put as many messages in the output as the depth allows. */
static void fill(struct conn *c, int64_t now)
{
    while (may_queue(c)) {
        if (c->ooff > 0 && c->ooff == c->olen)
            c->ooff = c->olen = 0;
        if (c->ooff > 0 && c->olen + opt.size > (size_t)opt.depth * opt.size) {
            memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
            c->olen -= c->ooff;
            c->ooff = 0;
        }
        const char *base = msg_base(c, c->queued);
        memcpy(c->out + c->olen, base, opt.size - 1);
        c->out[c->olen + opt.size - 1] = '\n';
        c->olen += opt.size;
        c->tq[c->queued % (uint64_t)opt.depth] = now;
        c->queued++;
    }
}

/* Send what is pending; false when the connection failed (and was closed). */
static bool flush_out(struct conn *c, int64_t now)
{
    while (c->ooff < c->olen) {
        ssize_t n = c->tls ? lg_tls_send(c->tls, c->out + c->ooff, c->olen - c->ooff)
                           : send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (n > 0) {
            c->ooff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        count_error(E_CLOSED);
        conn_close(c, true, now);
        return false;
    }
    c->ooff = c->olen = 0;
    return true;
}

static void report_mismatch(const struct conn *c, size_t at, char want, char got)
{
    if (mismatch_reported)
        return;
    mismatch_reported = true;
    fprintf(stderr,
            "loadgen: mismatch on connection %u (#%u), request %" PRIu64 ", byte %zu: "
            "expected 0x%02x, got 0x%02x\n",
            c->slot, c->gen, c->done, at, (unsigned char)want, (unsigned char)got);
}

/* The byte offset within [off, off+len) of message k where the data differs, or -1. */
static ssize_t check_chunk(const struct conn *c, const char *data, size_t off, size_t len, char *want)
{
    const char *base = msg_base(c, c->done);
    size_t body = opt.size - 1;
    size_t n = len;
    if (off < body) {
        size_t m = off + n > body ? body - off : n;
        if (memcmp(data, base + off, m) != 0) {
            for (size_t i = 0; i < m; i++)
                if (data[i] != base[off + i]) {
                    *want = base[off + i];
                    return (ssize_t)(off + i);
                }
        }
        data += m;
        off += m;
        n -= m;
    }
    if (n > 0 && data[0] != '\n') {
        *want = '\n';
        return (ssize_t)off;
    }
    return -1;
}

static void message_done(struct conn *c, int64_t now)
{
    int64_t lat = now - c->tq[c->done % (uint64_t)opt.depth];
    c->done++;
    c->roff = 0;
    total_done++;
    if (!c->ready) {
        c->ready = true;
        if (c->in_setup) {
            setup_finished_one(c);
            setup_ready++;
        }
    }
    if (phase == PH_MEASURE) {
        st.requests++;
        st.bytes += opt.size;
        hist_add(lat);
    }
}

/* Take what the server sent; false when the connection was closed. to_end:
 * read until EAGAIN or end of input (the peer hung up, or we are closing). */
static bool drain_in(struct conn *c, int64_t *now, bool to_end)
{
    for (;;) {
        ssize_t n = c->tls ? lg_tls_recv(c->tls, rbuf, RECV_BUF) : recv(c->fd, rbuf, RECV_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0) {
            /* End of input: expected only once we shut our side down and
             * every line came back; anything else is an error. */
            bool clean = n == 0 && c->state == CS_CLOSING && c->shut && c->done == c->queued;
            if (!clean)
                count_error(E_CLOSED);
            conn_close(c, !clean, *now);
            return false;
        }
        const char *p = rbuf;
        size_t left = (size_t)n;
        while (left > 0) {
            if (c->done >= c->queued) {
                /* Bytes nobody asked for. */
                report_mismatch(c, c->roff, 0, p[0]);
                count_error(E_MISMATCH);
                conn_close(c, true, *now);
                return false;
            }
            size_t need = opt.size - c->roff;
            size_t take = left < need ? left : need;
            char want = 0;
            ssize_t bad = check_chunk(c, p, c->roff, take, &want);
            if (bad >= 0) {
                report_mismatch(c, (size_t)bad, want, p[(size_t)bad - c->roff]);
                count_error(E_MISMATCH);
                conn_close(c, true, *now);
                return false;
            }
            c->roff += take;
            p += take;
            left -= take;
            if (c->roff == opt.size) {
                *now = now_ns();
                message_done(c, *now);
            }
        }
        /* A short read drained the socket: the next arrival is a new edge
         * (but an end of input that came with the data makes none). Not
         * so over TLS: a read returns one record, and OpenSSL may hold
         * more; it is drained when it says it wants to read. */
        if (!c->tls && (size_t)n < RECV_BUF && !to_end)
            return true;
    }
}

static void conn_start(struct conn *c, int64_t now)
{
    c->gen++;
    c->queued = c->done = 0;
    c->roff = 0;
    c->olen = c->ooff = 0;
    c->ready = phase != PH_SETUP;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        count_error(E_CONNECT);
        if (c->in_setup)
            setup_finished_one(c);
        schedule_retry(c, now);
        return;
    }
    if (opt.nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (opt.src_addrs > 1) {
        int one = 1;
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr.s_addr = htonl(0x7f000001u + (c->slot % (uint32_t)opt.src_addrs));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            count_error(E_CONNECT);
            if (c->in_setup)
                setup_finished_one(c);
            schedule_retry(c, now);
            return;
        }
    }
    c->fd = fd;
    c->shut = false;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = c->slot };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    if (opt.tls && !(c->tls = lg_tls_new(fd, opt.tls_resume ? c->session : NULL))) {
        count_error(E_TLS);
        conn_close(c, true, now);
        return;
    }
    /* The first message is queued now, so its latency includes the connect
     * (and the TLS handshake). */
    fill(c, now);
    int rc = connect(fd, (struct sockaddr *)&dest, sizeof dest);
    if (rc == 0) {
        c->state = c->tls ? CS_HANDSHAKE : CS_OPEN;
        if (c->state == CS_OPEN || handshake_step(c, now))
            flush_out(c, now);
    } else if (errno == EINPROGRESS) {
        c->state = CS_CONNECTING;
    } else {
        count_error(E_CONNECT);
        conn_close(c, true, now);
        return;
    }
    if (phase == PH_MEASURE)
        st.connects++;
}

static void start_setup_connections(int64_t now)
{
    while (setup_next < opt.conns && setup_inflight < opt.burst) {
        struct conn *c = &conns[setup_next++];
        c->in_setup = true;
        setup_inflight++;
        conn_start(c, now);
    }
}

/* Closing: once everything queued is sent, shut our side down; the server
 * then echoes what is left and closes, and no reset is left behind. */
static void shut_when_sent(struct conn *c, int64_t now)
{
    if (!flush_out(c, now))
        return;
    if (c->ooff < c->olen)
        return; /* the rest goes on EPOLLOUT */
    if (c->tls) {
        int r = lg_tls_close_notify(c->tls);
        if (r == 0)
            return; /* again on EPOLLOUT */
        if (r < 0) {
            count_error(E_CLOSED);
            conn_close(c, true, now);
            return;
        }
    } else if (shutdown(c->fd, SHUT_WR) < 0) {
        count_error(E_CLOSED);
        conn_close(c, true, now);
        return;
    }
    c->shut = true;
}

static void begin_close(struct conn *c, int64_t now)
{
    if (c->tls && (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE)) {
        /* The handshake goes on, then the connection closes like an open
         * one: a server sees a clean end, not a failed handshake. */
        c->close_when_open = true;
        closing_left++;
        return;
    }
    if (c->state == CS_CONNECTING || c->state == CS_WAIT) {
        conn_close(c, false, now);
        return;
    }
    if (c->state != CS_OPEN)
        return;
    c->state = CS_CLOSING;
    c->shut = false;
    closing_left++;
    shut_when_sent(c, now);
}

static void on_event(struct conn *c, uint32_t events, int64_t now)
{
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == 0 && !(events & (EPOLLOUT | EPOLLIN)) && (events & (EPOLLERR | EPOLLHUP)))
            err = ECONNRESET;
        if (err != 0) {
            count_error(E_CONNECT);
            conn_close(c, true, now);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        c->state = c->tls ? CS_HANDSHAKE : CS_OPEN;
    }
    if (c->state == CS_HANDSHAKE) {
        if (!handshake_step(c, now))
            return;
        if (c->close_when_open) {
            c->close_when_open = false;
            closing_left--;
            begin_close(c, now);
            return;
        }
        events |= EPOLLIN; /* whatever came with the handshake's end is read now */
    }
    if (c->state == CS_CLOSING) {
        if (!c->shut && (events & EPOLLOUT))
            shut_when_sent(c, now);
        if (c->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            drain_in(c, &now, true);
        return;
    }
    if (c->state != CS_OPEN)
        return;
    if ((events & EPOLLOUT) && !flush_out(c, now))
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (!drain_in(c, &now, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0))
            return;
    }
    if (opt.per_conn && c->done >= opt.per_conn) {
        conn_close(c, false, now);
        if (phase != PH_DONE)
            conn_start(c, now);
        return;
    }
    size_t before = c->olen;
    fill(c, now);
    if (c->olen != before || c->ooff < c->olen)
        flush_out(c, now);
}

/* Requests or connects that take longer than the timeout are errors; slots
 * whose back-off is over reconnect. */
static void tick(int64_t now)
{
    int64_t limit = (int64_t)(opt.timeout * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE ||
            (c->state == CS_OPEN && c->queued > c->done)) {
            if (now - c->tq[c->done % (uint64_t)opt.depth] > limit) {
                count_error(c->state == CS_CONNECTING ? E_CONNECT : c->state == CS_HANDSHAKE ? E_TLS : E_TIMEOUT);
                conn_close(c, true, now);
            }
        }
    }
}

static void run_retries(int64_t now)
{
    while (rq_len > 0) {
        struct conn *c = &conns[retryq[rq_head]];
        if (c->state == CS_WAIT && c->retry_at > now)
            break;
        rq_head = (rq_head + 1) % opt.conns;
        rq_len--;
        if (c->state != CS_WAIT || phase == PH_DONE)
            continue;
        if (!c->ready && phase == PH_SETUP) {
            c->in_setup = true;
            setup_inflight++;
        }
        conn_start(c, now);
    }
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: loadgen --port PORT [options]\n"
        "  --host ADDR         IPv4 address of the echo server (default 127.0.0.1)\n"
        "  --port PORT         its port (required)\n"
        "  --mode MODE         pingpong (one line in flight per connection, default),\n"
        "                      pipeline (--depth lines in flight), connect (connect,\n"
        "                      one line, read the echo, close; --connections at a time)\n"
        "  --connections N     connections (connect mode: concurrent ones), default 50\n"
        "  --depth N           pipeline depth (default 16 in pipeline mode)\n"
        "  --size BYTES        bytes per line, its '\\n' included (default 64)\n"
        "  --duration SECS     length of the measured window (default 3)\n"
        "  --requests N        stop the window after N requests instead\n"
        "  --warmup SECS       load before the window, not counted (default 0.5)\n"
        "  --per-conn N        reconnect after N requests per connection (0: never)\n"
        "  --timeout SECS      a request or connect taking longer is an error (default 10)\n"
        "  --setup-timeout S   time to open every connection (default 60)\n"
        "  --close-timeout S   time for the graceful close at the end (default 10): every\n"
        "                      connection shuts its side down, gets its last echoes\n"
        "                      (checked too) and the server's end of input\n"
        "  --burst N           connections being opened at once at the start (default 128)\n"
        "  --src-addrs N       use 127.0.0.1 .. 127.0.0.N as source addresses (default 1)\n"
        "  --nodelay           set TCP_NODELAY on the client sockets\n"
        "  --tls               TLS over every connection (connect mode: a full handshake\n"
        "                      per request), TLS_AES_128_GCM_SHA256 with X25519 (1.2:\n"
        "                      ECDHE-ECDSA-AES128-GCM-SHA256); the server's certificate\n"
        "                      is not verified: a benchmark against local servers.\n"
        "                      Implies --nodelay, as TLS clients do: a handshake's\n"
        "                      flights are several writes, which Nagle's algorithm\n"
        "                      would hold for the peer's delayed ACK (40 ms)\n"
        "  --tls-resume        --tls, each new connection resuming its slot's previous\n"
        "                      session (connect mode: resumed handshakes)\n"
        "  --tls-version V     1.3 (default) or 1.2, and nothing else offered\n"
        "  --features          say whether this loadgen has TLS, and exit\n"
        "  --hold              after the window, wait for a line on stdin before closing\n"
        "  --label TEXT        copied into the JSON result\n"
        "  --quiet             print only the JSON line\n"
        "Prints '# window start' and '# window end' around the measured window, a\n"
        "human summary, and one JSON line starting with {\"loadgen\". Exit status: 0,\n"
        "1 when any error (connect, closed, mismatch, timeout, tls) happened, 2 bad usage.\n");
}

/* Why there is no TLS, and what to do about it. */
#define NO_TLS "built without TLS: OpenSSL 3 was not found by pkg-config when the build was " \
               "configured; apt-get install libssl-dev pkg-config, then configure a fresh build"

static double parse_num(const char *name, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "loadgen: bad value for %s: '%s' (want %g..%g)\n", name, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_MODE, O_CONNS, O_DEPTH, O_SIZE, O_DURATION, O_REQUESTS, O_WARMUP,
           O_PERCONN, O_TIMEOUT, O_SETUP, O_CLOSE, O_BURST, O_SRC, O_NODELAY, O_HOLD, O_LABEL, O_QUIET, O_HELP,
           O_TLS, O_TLS_RESUME, O_TLS_VERSION, O_FEATURES };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, O_HOST },
        { "port", required_argument, NULL, O_PORT },
        { "mode", required_argument, NULL, O_MODE },
        { "connections", required_argument, NULL, O_CONNS },
        { "depth", required_argument, NULL, O_DEPTH },
        { "size", required_argument, NULL, O_SIZE },
        { "duration", required_argument, NULL, O_DURATION },
        { "requests", required_argument, NULL, O_REQUESTS },
        { "warmup", required_argument, NULL, O_WARMUP },
        { "per-conn", required_argument, NULL, O_PERCONN },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "setup-timeout", required_argument, NULL, O_SETUP },
        { "close-timeout", required_argument, NULL, O_CLOSE },
        { "burst", required_argument, NULL, O_BURST },
        { "src-addrs", required_argument, NULL, O_SRC },
        { "nodelay", no_argument, NULL, O_NODELAY },
        { "hold", no_argument, NULL, O_HOLD },
        { "label", required_argument, NULL, O_LABEL },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, O_HELP },
        { "tls", no_argument, NULL, O_TLS },
        { "tls-resume", no_argument, NULL, O_TLS_RESUME },
        { "tls-version", required_argument, NULL, O_TLS_VERSION },
        { "features", no_argument, NULL, O_FEATURES },
        { NULL, 0, NULL, 0 },
    };
    bool depth_given = false;

    opt = (struct opts){ .host = "127.0.0.1", .port = -1, .conns = 50, .mode = MODE_PINGPONG,
                         .depth = 1, .size = 64, .duration = 3.0, .warmup = 0.5, .timeout = 10.0,
                         .setup_timeout = 60.0, .close_timeout = 10.0, .burst = 128, .src_addrs = 1, .tls_version = 13, .label = "" };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case O_HOST: opt.host = optarg; break;
        case O_PORT: opt.port = (int)parse_num("--port", optarg, 1, 65535); break;
        case O_MODE:
            if (strcmp(optarg, "pingpong") == 0 || strcmp(optarg, "ping-pong") == 0)
                opt.mode = MODE_PINGPONG;
            else if (strcmp(optarg, "pipeline") == 0 || strcmp(optarg, "pipelined") == 0)
                opt.mode = MODE_PIPELINE;
            else if (strcmp(optarg, "connect") == 0)
                opt.mode = MODE_CONNECT;
            else {
                fprintf(stderr, "loadgen: unknown mode '%s'\n", optarg);
                exit(2);
            }
            break;
        case O_CONNS: opt.conns = (int)parse_num("--connections", optarg, 1, 1000000); break;
        case O_DEPTH: opt.depth = (int)parse_num("--depth", optarg, 1, 65536); depth_given = true; break;
        case O_SIZE: opt.size = (size_t)parse_num("--size", optarg, 1, 64 << 20); break;
        case O_DURATION: opt.duration = parse_num("--duration", optarg, 0.001, 86400); break;
        case O_REQUESTS: opt.requests = (uint64_t)parse_num("--requests", optarg, 1, 1e15); break;
        case O_WARMUP: opt.warmup = parse_num("--warmup", optarg, 0, 3600); break;
        case O_PERCONN: opt.per_conn = (uint64_t)parse_num("--per-conn", optarg, 0, 1e15); break;
        case O_TIMEOUT: opt.timeout = parse_num("--timeout", optarg, 0.001, 3600); break;
        case O_SETUP: opt.setup_timeout = parse_num("--setup-timeout", optarg, 0.001, 3600); break;
        case O_CLOSE: opt.close_timeout = parse_num("--close-timeout", optarg, 0, 3600); break;
        case O_BURST: opt.burst = (int)parse_num("--burst", optarg, 1, 1000000); break;
        case O_SRC: opt.src_addrs = (int)parse_num("--src-addrs", optarg, 1, 250); break;
        case O_NODELAY: opt.nodelay = true; break;
        case O_HOLD: opt.hold = true; break;
        case O_LABEL: opt.label = optarg; break;
        case O_QUIET: opt.quiet = true; break;
        case O_HELP: usage(stdout); exit(0);
        case O_TLS: opt.tls = true; break;
        case O_TLS_RESUME: opt.tls = opt.tls_resume = true; break;
        case O_TLS_VERSION:
            if (strcmp(optarg, "1.3") == 0)
                opt.tls_version = 13;
            else if (strcmp(optarg, "1.2") == 0)
                opt.tls_version = 12;
            else {
                fprintf(stderr, "loadgen: --tls-version is 1.2 or 1.3, not '%s'\n", optarg);
                exit(2);
            }
            break;
        case O_FEATURES:
            if (lg_tls_library())
                printf("tls: %s\n", lg_tls_library());
            else
                printf("tls: no (%s)\n", NO_TLS);
            exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc || opt.port < 0) {
        usage(stderr);
        exit(2);
    }
    if (opt.tls && !lg_tls_library()) {
        fprintf(stderr, "loadgen: --tls: %s\n", NO_TLS);
        exit(2);
    }
    if (opt.tls)
        opt.nodelay = true;
    if (opt.mode == MODE_PIPELINE && !depth_given)
        opt.depth = 16;
    if (opt.mode != MODE_PIPELINE)
        opt.depth = 1;
    if (opt.mode == MODE_CONNECT)
        opt.per_conn = 1;
    for (const char *p = opt.label; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            fprintf(stderr, "loadgen: --label must not contain quotes, backslashes or control characters\n");
            exit(2);
        }
    memset(&dest, 0, sizeof dest);
    dest.sin_family = AF_INET;
    dest.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &dest.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address, not '%s'\n", opt.host);
        exit(2);
    }
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)opt.conns + 16 > rl.rlim_cur)
        fprintf(stderr, "loadgen: warning: %d connections but only %llu descriptors allowed\n",
                opt.conns, (unsigned long long)rl.rlim_cur);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        perror("loadgen: calloc");
        exit(1);
    }
    return p;
}

static void marker(const char *text)
{
    if (!opt.quiet) {
        printf("# %s\n", text);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_fd_limit();
    make_pattern();
    rbuf = xcalloc(1, RECV_BUF);
    conns = xcalloc((size_t)opt.conns, sizeof *conns);
    retryq = xcalloc((size_t)opt.conns, sizeof *retryq);
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].slot = (uint32_t)i;
        conns[i].out = xcalloc((size_t)opt.depth, opt.size);
        conns[i].tq = xcalloc((size_t)opt.depth, sizeof *conns[i].tq);
    }
    /* Many TLS connections: OpenSSL's buffers (two of 16 KiB or more each)
     * are given back between records, else they would take the client's
     * memory by the hundreds of megabytes. */
    if (opt.tls && lg_tls_setup(opt.tls_version, opt.conns >= 1000) < 0)
        return 1;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("loadgen: epoll_create1");
        return 1;
    }

    static struct epoll_event evs[MAX_EVENTS];
    int64_t t0 = now_ns();
    int64_t now = t0, phase_end = 0, next_tick = t0 + TICK_NS;
    int64_t setup_end = t0 + (int64_t)(opt.setup_timeout * 1e9);
    int64_t win_start = 0, win_end = 0;
    double setup_secs = 0, cpu_start = 0, cpu_end = 0;
    uint64_t errors_at_window = 0;

    if (opt.per_conn) {
        /* Connections come and go: no set-up phase (a server that serves a
         * bounded number of connections at a time would never see all of
         * them at once), the warm-up covers the start. */
        phase = PH_WARMUP;
        phase_end = t0 + (int64_t)(opt.warmup * 1e9);
        for (int i = 0; i < opt.conns; i++)
            conn_start(&conns[i], now);
    } else {
        phase = PH_SETUP;
        start_setup_connections(now);
    }

    while (phase != PH_DONE) {
        now = now_ns();
        /* Phase changes. */
        if (phase == PH_SETUP) {
            bool all = setup_next >= opt.conns && setup_inflight == 0;
            if (all || now >= setup_end) {
                setup_secs = (double)(now - t0) / 1e9;
                if (!all)
                    fprintf(stderr, "loadgen: only %d of %d connections set up in %.1f s\n",
                            setup_ready, opt.conns, setup_secs);
                phase = PH_WARMUP;
                phase_end = now + (int64_t)(opt.warmup * 1e9);
                /* Ready connections may now send freely. */
                for (int i = 0; i < opt.conns; i++) {
                    struct conn *c = &conns[i];
                    c->in_setup = false;
                    if (c->state == CS_OPEN && c->ready) {
                        fill(c, now);
                        flush_out(c, now);
                    }
                }
                setup_inflight = 0;
                continue;
            }
        }
        if (phase == PH_WARMUP && now >= phase_end) {
            phase = PH_MEASURE;
            memset(&st, 0, sizeof st);
            win_start = now;
            phase_end = now + (int64_t)(opt.duration * 1e9);
            cpu_start = cpu_seconds();
            errors_at_window = errors_total;
            marker("window start");
            continue;
        }
        if (phase == PH_MEASURE && (opt.requests ? st.requests >= opt.requests : now >= phase_end)) {
            win_end = now;
            cpu_end = cpu_seconds();
            phase = PH_DONE;
            break;
        }
        if (now >= next_tick) {
            tick(now);
            next_tick = now + TICK_NS;
        }
        run_retries(now);
        if (phase == PH_SETUP)
            start_setup_connections(now);

        int64_t wait_until = next_tick;
        if (phase != PH_SETUP && !opt.requests && phase_end < wait_until)
            wait_until = phase_end;
        if (phase == PH_WARMUP && phase_end < wait_until)
            wait_until = phase_end;
        if (rq_len > 0 && conns[retryq[rq_head]].retry_at < wait_until)
            wait_until = conns[retryq[rq_head]].retry_at;
        int timeout_ms = wait_until > now ? (int)((wait_until - now + 999999) / 1000000) : 0;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("loadgen: epoll_wait");
            return 1;
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            if (c->fd >= 0)
                on_event(c, evs[i].events, now);
        }
    }

    marker("window end");
    if (opt.hold) {
        /* The caller samples the server while the connections are still open. */
        char line[64];
        if (!fgets(line, sizeof line, stdin)) {
            /* stdin closed: go on */
        }
    }
    /* Close gracefully: requests in flight come back (and are checked), the
     * server sees end of input after them and closes first. */
    uint64_t unfinished = 0;
    now = now_ns();
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == CS_OPEN)
            unfinished += c->queued - c->done;
        begin_close(c, now);
    }
    int64_t close_end = now + (int64_t)(opt.close_timeout * 1e9);
    while (closing_left > 0 && now < close_end) {
        int timeout_ms = (int)((close_end - now + 999999) / 1000000);
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            return 1;
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            if (c->fd >= 0)
                on_event(c, evs[i].events, now);
        }
    }
    uint64_t unclosed = 0;
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->fd < 0)
            continue;
        unclosed++;
        if (c->queued > c->done)
            count_error(E_TIMEOUT); /* its echo never came back */
        lg_tls_free(c->tls);
        c->tls = NULL;
        close(c->fd);
        c->fd = -1;
    }

    double secs = (double)(win_end - win_start) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double rps = (double)st.requests / secs;
    double mbps = (double)st.bytes / secs / 1e6;
    double p50 = hist_quantile(0.50) / 1e3, p90 = hist_quantile(0.90) / 1e3;
    double p99 = hist_quantile(0.99) / 1e3, p999 = hist_quantile(0.999) / 1e3;
    double mean = st.requests ? st.sum_ns / (double)st.requests / 1e3 : 0.0;
    double maxl = (double)st.max_ns / 1e3;
    double cpu = cpu_end - cpu_start;
    static const char *const mode_names[] = { "pingpong", "pipeline", "connect" };

    if (!opt.quiet) {
        printf("%s%s%d connections, %s, %zu-byte lines%s, %.2f s window\n",
               opt.label, *opt.label ? ": " : "", opt.conns, mode_names[opt.mode], opt.size,
               opt.mode == MODE_PIPELINE ? " (pipelined)" : "", secs);
        printf("  requests    %" PRIu64 " (%.0f/s, %.2f MB/s echoed)\n", st.requests, rps, mbps);
        printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
               p50, p90, p99, p999, maxl, mean);
        printf("  errors      %" PRIu64 " (connect %" PRIu64 ", closed %" PRIu64 ", mismatch %" PRIu64
               ", timeout %" PRIu64 ", tls %" PRIu64 ")%s\n",
               errors_total, errors[E_CONNECT], errors[E_CLOSED], errors[E_MISMATCH], errors[E_TIMEOUT],
               errors[E_TLS], errors[E_MISMATCH] ? "  << ECHO MISMATCH" : "");
        if (opt.tls && st.handshakes)
            printf("  tls         %s; %" PRIu64 " handshakes in the window (%.0f/s, %.1f%% resumed), "
                   "loadgen CPU %.1f us per handshake\n",
                   tls_chosen, st.handshakes, (double)st.handshakes / secs,
                   100.0 * (double)st.resumed / (double)st.handshakes, cpu / (double)st.handshakes * 1e6);
        else if (opt.tls)
            printf("  tls         %s; no handshake in the window\n",
                   tls_chosen[0] ? tls_chosen : "no handshake completed");
        printf("  setup       %.2f s; loadgen CPU %.0f%% of the window; %" PRIu64 " in flight at the end, "
               "%" PRIu64 " connections not closed by the server in time\n",
               setup_secs, 100.0 * cpu / secs, unfinished, unclosed);
    }
    printf("{\"loadgen\":1,\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"depth\":%d,"
           "\"size\":%zu,\"per_conn\":%" PRIu64 ",\"seconds\":%.6f,\"requests\":%" PRIu64 ","
           "\"rps\":%.3f,\"mb_per_s\":%.6f,\"connects\":%" PRIu64 ","
           "\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
           "\"errors\":%" PRIu64 ",\"errors_in_window\":%" PRIu64 ",\"error_kinds\":{",
           opt.label, mode_names[opt.mode], opt.conns, opt.depth, opt.size, opt.per_conn, secs,
           st.requests, rps, mbps, st.connects, p50, p90, p99, p999, maxl, mean, errors_total,
           errors_total - errors_at_window);
    for (int k = 0; k < E_KINDS; k++)
        printf("%s\"%s\":%" PRIu64, k ? "," : "", err_names[k], errors[k]);
    printf("},\"unfinished\":%" PRIu64 ",\"unclosed\":%" PRIu64 ",\"setup_seconds\":%.3f,\"client_cpu_seconds\":%.6f,"
           "\"ready_connections\":%d,\"tls\":",
           unfinished, unclosed, setup_secs, cpu, opt.per_conn ? opt.conns : setup_ready);
    if (opt.tls)
        printf("{\"version\":\"1.%d\",\"resume\":%s,\"negotiated\":\"%s\",\"handshakes\":%" PRIu64
               ",\"resumed\":%" PRIu64 ",\"handshakes_per_s\":%.3f}}\n",
               opt.tls_version % 10, opt.tls_resume ? "true" : "false", tls_chosen, st.handshakes, st.resumed,
               (double)st.handshakes / secs);
    else
        printf("null}\n");
    fflush(stdout);
    return errors_total ? 1 : 0;
}
