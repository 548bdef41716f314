/* internal.h: the library's private structures (server, request, shared page) and the calls that join its parts. */
#ifndef SS_INTERNAL_H
#define SS_INTERNAL_H

#include "sockserv.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <sys/un.h>

#include "conn/conn.h"
#include "strategy/strategy.h"
#include "transport/transport.h"

#define SS__DEFAULT_BACKLOG 128
#define SS__DEFAULT_RBUFSIZE 8192
#define SS__DEFAULT_PACKET 8192
#define SS__DEFAULT_MAX_CHILDREN 40
#define SS__DEFAULT_STACK 65536
#define SS__DEFAULT_BLOCKING 4         /* event: ss_run_blocking helper threads */
#define SS__REPLY_MIN_CAP 65536        /* a datagram reply may be this big at least */
#define SS__ACCEPT_PAUSE_NS 100000000  /* back-off after EMFILE and friends: 100 ms */
#define SS__KILL_GRACE_NS 1000000000   /* drain deadline -> SIGKILL of children: 1 s */
#define SS__ACCEPT_BATCH 64            /* requests taken per readiness of the listener */
#define SS__MAX_BUFSIZE ((size_t)256 << 20) /* rbufsize, wbufsize, max_packet_size, stack_size */
#define SS__MAX_WORKERS 4096           /* pool workers, event loops: threads */
#define SS__MAX_QUEUE (1 << 24)        /* pool queue_size (doubling it stays an int) */
#define SS__MAX_CHILDREN (1 << 22)     /* forking: over the kernel's pid_max */
#define SS__PEER_STR_MAX 512           /* an escaped Unix name: "./" + 4 x 107 */
#define SS__PROXY_SECS 3.0             /* a PROXY header's time when request_timeout is 0 */

/* State shared with forked children (a MAP_SHARED page): counters and the
 * drain deadline are seen by every process of the server. */
typedef struct ss__shared {
    _Atomic int64_t drain_deadline;    /* CLOCK_MONOTONIC ns; 0 = none */
    _Atomic uint64_t accepted, refused, completed, errors, accept_errors, cancelled, dropped, tls_failed;
    _Atomic unsigned active;
    /* Counted once per request, at its end (ss__request_done). */
    _Atomic uint64_t bytes_in, bytes_out, duration_sum_us;
    _Atomic uint64_t duration[SS_DURATION_BUCKETS];
} ss__shared;

struct ss_server {
    ss_config cfg;
    char *listen;                      /* cfg.listen, copied */
    char *copies[5];                   /* the config's other strings (tls_*,
                                          proxy_trusted), copied */
    ss_cidr *proxy_trusted;            /* with cfg.proxy_protocol */
    ss__url url;
    const ss__transport *tp;
    const ss__strategy *st;
    void *st_state;                    /* the strategy's own */
    bool st_ready;                     /* its init succeeded: its ops may run */
    unsigned limit;                    /* requests in flight at most (0: no
                                          limit): max_connections, lowered by
                                          a strategy's own bound (forking) */

    int fd;                            /* listening / datagram socket */
    struct sockaddr_storage addr;      /* bound address */
    socklen_t addrlen;
    char bound_url[SS__PEER_STR_MAX + 16]; /* scheme + escaped address */
    bool bound, activated;
    bool adopted;                      /* ss_server_adopt: the socket may be
                                          shared: never shut down */
    bool unlink_on_close;              /* we created a Unix socket file */
    dev_t sock_dev;
    ino_t sock_ino;
    void *tp_state;                    /* the transport's own (unix-dgram:
                                          each client's share of replies) */

    int wake_fd;                       /* eventfd: a stop was requested */
    int cancel_fd;                     /* timerfd: fires at the drain deadline */
    atomic_bool stop_requested;
    atomic_bool serving;
    volatile sig_atomic_t cancel_here; /* this process's requests are cut
                                          short now (a forked child's stop) */
    _Atomic int64_t accept_paused_until; /* ns; accept back-off after EMFILE */

    ss__shared *sh;
    atomic_uint refs;                  /* owner + one per live request */
    _Atomic uint64_t seq;              /* request sequence numbers */
};

struct ss_request {
    ss_server *srv;
    ss__conn conn;                     /* how its bytes move */
    int fd;
    int early_err;                     /* set by get_request (report, do not
                                          handle) or a refusal: nothing is sent */
    bool failed;                       /* handle_error was called */
    bool ran;                          /* setup succeeded, handle and finish ran */
    bool cancelled;                    /* reported -ECANCELED (counted once) */
    uint64_t seq;
    int64_t opened;                    /* ss__now() when taken (SS_STATS) */
    uint64_t bytes_in, bytes_out;      /* on its socket (ss__count_in/out) */
    const char *err_event;             /* the log event of the next report */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    char *peer_str;                    /* made on first use */
    bool proxied;                      /* a PROXY header was read: */
    struct sockaddr_storage proxy;     /* the proxy itself */
    socklen_t proxylen;
    void *data;
    char *errmsg;

    /* Input: the receive buffer (stream) or the packet (datagram, eof set). */
    char *rbuf;
    size_t rcap, rpos, rlen, scan;     /* scan: readline_ref resumes here */
    size_t rwant;                      /* size of the next fresh buffer (0: rbufsize) */
    bool eof;
    /* Output buffered by wbufsize. */
    char *wbuf;
    size_t wcap, wlen;
};

/* Bytes a request moved on its socket: counted by whoever calls recv and
 * send on it (the connections that own a socket, the datagram transport,
 * the PROXY header reader), added to the server's counters at its end.
 * Compiled out with SS_STATS=OFF. */
#ifndef SS_STATS
#define SS_STATS 1
#endif
static inline void ss__count_in(ss_request *req, ssize_t n)
{
#if SS_STATS
    if (n > 0)
        req->bytes_in += (uint64_t)n;
#else
    (void)req, (void)n;
#endif
}
static inline void ss__count_out(ss_request *req, ssize_t n)
{
#if SS_STATS
    if (n > 0)
        req->bytes_out += (uint64_t)n;
#else
    (void)req, (void)n;
#endif
}

/* log (src/core/log.c): a message for cfg.log when level is logged (the
 * text made only then), escaped to printable ASCII. */
static inline bool ss__logs(const ss_server *srv, ss_log_level level)
{
    return level <= srv->cfg.log_level;
}
void ss__log(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The duration histogram's bucket for ns nanoseconds. */
unsigned ss__duration_bucket(int64_t ns);

/* requests (src/core/request.c) */
/* A request on fd with a connection of that type, over one of type lower
 * when not NULL (opened): NULL with errno. */
ss_request *ss__request_new(ss_server *srv, int fd, const ss__conn_type *conn, const ss__conn_type *lower);
void ss__request_free(ss_request *req);
void ss__finish_request(ss_request *req);
void ss__request_done(ss_request *req);
void ss__report(ss_request *req, int err);
/* A request that cannot run: report err, then end it. */
void ss__request_abort(ss_request *req, int err);


/* The PROXY protocol (src/core/proxy.c). */
typedef struct ss__proxy_hdr {
    size_t len;                        /* the header's bytes, TLVs included */
    bool local;                        /* LOCAL or UNKNOWN: keep the real endpoints */
    struct sockaddr_storage src, dst;
    socklen_t srclen, dstlen;
} ss__proxy_hdr;
/* Parse a header at the start of buf[0..n): its length (> 0), 0 when more
 * bytes are needed to tell, or -EPROTO with *why. The addresses are read
 * once hdr->len is known and they are in buf (v2 TLVs may not be). */
int ss__proxy_parse(const unsigned char *buf, size_t n, ss__proxy_hdr *hdr, const char **why);
/* Read the request's header from its socket, never a byte past it: its
 * client becomes the peer. 0, or -errno with ss_request_fail's reason. */
int ss__proxy_read(ss_request *req);

/* server internals (src/core/server.c) */
void ss__server_release(ss_server *srv);
int ss__handle_one(ss_server *srv);
bool ss__at_capacity(ss_server *srv);
void ss__slot_release(ss_server *srv);
bool ss__cancelled(ss_server *srv);

/* signals (src/core/signals.c): put back what ss_stop_on_signals() changed. */
void ss__signals_forget(const ss_server *srv);

/* errors (src/core/errors.c) */
void ss__clear_error(void);
/* Record why set-up failed, for ss_last_error(); returns err. */
int ss__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* untrusted text (src/core/escape.c) */
enum { SS__ESC_TEXT, SS__ESC_NAME };
/* Copy n bytes of in to out (size bytes, NUL-terminated), each control or
 * non-ASCII byte as \xNN; SS__ESC_NAME also escapes the space and the
 * backslash. Stops before an escape that does not fit. Returns the length. */
size_t ss__escape(const char *in, size_t n, char *out, size_t size, int mode);

/* eventfds (src/core/eventfd.c): a wake-up that never blocks the waker
 * (async-signal-safe; a full counter means a wake is pending anyway), and
 * taking every wake-up pending. */
void ss__eventfd_wake(int fd);
void ss__eventfd_drain(int fd);

/* time (src/core/clock.c) */
int64_t ss__now(void);
int64_t ss__ns(double seconds);
int64_t ss__deadline(double seconds);
struct timeval ss__timeval(int64_t ns);
struct timespec ss__timespec(int64_t ns);
int ss__ms_until(int64_t deadline);

#endif /* SS_INTERNAL_H */
