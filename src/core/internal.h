/* internal.h: the library's private structures and the ops tables that join its parts. */
#ifndef SS_INTERNAL_H
#define SS_INTERNAL_H

#include "sockserv.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <sys/un.h>

#define SS__DEFAULT_BACKLOG 128
#define SS__DEFAULT_RBUFSIZE 8192
#define SS__DEFAULT_PACKET 8192
#define SS__DEFAULT_MAX_CHILDREN 40
#define SS__DEFAULT_STACK 65536
#define SS__DEFAULT_BLOCKING 4         /* event: ss_run_blocking helper threads */
#define SS__REPLY_MIN_CAP 65536        /* a datagram reply may be this big at least */
#define SS__ACCEPT_PAUSE_NS 100000000  /* back-off after EMFILE and friends: 100 ms */
#define SS__KILL_GRACE_NS 1000000000   /* drain deadline -> SIGKILL of children: 1 s */
#define SS__MAX_BUFSIZE ((size_t)256 << 20) /* rbufsize, wbufsize, max_packet_size, stack_size */
#define SS__MAX_WORKERS 4096           /* pool workers, event loops: threads */
#define SS__MAX_QUEUE (1 << 24)        /* pool queue_size (doubling it stays an int) */
#define SS__MAX_CHILDREN (1 << 22)     /* forking: over the kernel's pid_max */
#define SS__PEER_STR_MAX 512         /* an escaped Unix name: "./" + 4 x 107 */

/* A parsed listen URL. */
typedef struct ss__url {
    int socktype;                      /* SOCK_STREAM or SOCK_DGRAM */
    int family;                        /* AF_INET, AF_INET6 (after resolving) or AF_UNIX */
    char host[256];                    /* inet: literal or name, without brackets */
    unsigned port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* unix, as given */
} ss__url;

/* One transport (Python's server classes): the socket kind's request handling. */
typedef struct ss__transport {
    const char *scheme;
    /* Take one request from the socket: 0 with *out set, -EAGAIN when none is
     * waiting, other negative errno on failure. */
    int (*get_request)(ss_server *srv, ss_request **out);
    /* After finish: flush the output (stream) or send the reply (datagram). */
    int (*request_end)(ss_request *req);
    /* Close the request's connection (stream: shutdown(SHUT_WR) then close). */
    void (*close_request)(ss_request *req);
} ss__transport;

/* One concurrency strategy (Python's mix-ins). */
typedef struct ss__strategy {
    const char *name;
    int (*init)(ss_server *srv);
    /* Run the request (takes ownership of req). */
    void (*process_request)(ss_server *srv, ss_request *req);
    /* Collect finished threads / children without blocking. */
    void (*reap)(ss_server *srv);
    /* Server close: wait (block) or let go of what still runs, free state. */
    void (*close)(ss_server *srv, bool block);
    /* Fill the strategy's counters (threads, children) of out. */
    void (*stats)(const ss_server *srv, ss_stats *out);
    /* Wait until fd is ready for events or deadline (ns, 0 = none); fd < 0
     * waits for the deadline alone. 0, -ETIMEDOUT or -ECANCELED. */
    int (*wait)(ss_request *req, int fd, short events, int64_t deadline);

    /* Optional, for strategies whose own threads accept (event): */
    bool loops_accept;                 /* the serve loop leaves the listener alone */
    void (*serve_begin)(ss_server *srv);
    void (*serve_end)(ss_server *srv); /* accept no more (soon) */
    void (*release_listener)(ss_server *srv); /* returns once nobody uses it */
    /* A connection slot freed below max_connections: re-check accepting
     * (loops that stopped at the limit). Any thread or process may call it. */
    void (*accept_resume)(ss_server *srv);
    /* Before a request's connection is closed (event: leave epoll). */
    void (*before_close)(ss_request *req);
    /* ss_run_blocking(); NULL: call fn in place. */
    int (*run_blocking)(ss_request *req, int (*fn)(void *), void *arg);
    /* Free the input buffer while waiting for input with nothing buffered:
     * idle connections then hold no buffer (event: many connections). */
    bool free_idle_buffers;
    /* Stream connections stay in blocking mode: a read or write waits in
     * the kernel (request_timeout through SO_RCVTIMEO/SO_SNDTIMEO), which
     * saves a poll per wait. The strategy then cancels a request by
     * shutting its connection down (threading: one thread per request). */
    bool blocking_streams;
    /* The strategy's loop clears req->drained on every input event of the
     * connection (edge-triggered epoll): a read that found the socket
     * drained then waits at once instead of trying recv for EAGAIN. */
    bool input_events;
} ss__strategy;

/* State shared with forked children (a MAP_SHARED page): counters and the
 * drain deadline are seen by every process of the server. */
typedef struct ss__shared {
    _Atomic int64_t drain_deadline;    /* CLOCK_MONOTONIC ns; 0 = none */
    _Atomic uint64_t accepted, refused, completed, errors, accept_errors, cancelled, dropped;
    _Atomic unsigned active;
} ss__shared;

struct ss_server {
    ss_config cfg;
    char *listen;                      /* cfg.listen, copied */
    ss__url url;
    const ss__transport *tp;
    const ss__strategy *st;
    void *st_state;                    /* the strategy's own */
    unsigned limit;                    /* requests in flight at most (0: no
                                          limit): max_connections, lowered by
                                          a strategy's own bound (forking) */
    struct ss__cancel_set *cancel_set; /* blocking_streams: the open connections */

    int fd;                            /* listening / datagram socket */
    struct sockaddr_storage addr;      /* bound address */
    socklen_t addrlen;
    char bound_url[sizeof(((struct sockaddr_un *)0)->sun_path) + 300];
    bool bound, activated;
    bool unlink_on_close;              /* we created a Unix socket file */
    dev_t sock_dev;
    ino_t sock_ino;

    int wake_fd;                       /* eventfd: a stop was requested */
    int cancel_fd;                     /* timerfd: fires at the drain deadline */
    atomic_bool stop_requested;
    atomic_bool serving;
    _Atomic int64_t accept_paused_until; /* ns; accept back-off after EMFILE */

    ss__shared *sh;
    struct ss__dgram_budget *budget;   /* unix-dgram: replies per client */
    atomic_uint refs;                  /* owner + one per live request */
    _Atomic uint64_t seq;              /* request sequence numbers */

    /* Forked child only: the request it runs, and a stop request for it. */
    bool in_child;
    ss_request *child_req;
    volatile sig_atomic_t child_cancel;
    _Atomic unsigned char *child_slot; /* shared with the parent: set by
                                          whichever gives the slot back */
};

struct ss_request {
    ss_server *srv;
    int fd;
    bool dgram;
    bool rcv_short;                    /* SO_RCVTIMEO below request_timeout */
    bool drained;                      /* input_events: nothing came since a recv
                                          found the socket empty */
    bool in_shut;                      /* input_events: the peer shut down or the
                                          socket failed (never drained then) */
    bool cs_member;                    /* in the server's cancel set */
    ss_request *cs_prev, *cs_next;
    int early_err;                     /* set by get_request: report, do not handle */
    bool failed;                       /* handle_error was called */
    bool ran;                          /* setup succeeded, handle and finish ran */
    bool cancelled;                    /* reported -ECANCELED (counted once) */
    bool reply;                        /* datagram: ss_write was called */
    uint64_t seq;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    char *peer_str;                    /* made on first use */
    void *data;
    char *errmsg;

    /* Input: the receive buffer (stream) or the packet (datagram, eof set). */
    char *rbuf;
    size_t rcap, rpos, rlen, scan;     /* scan: readline_ref resumes here */
    size_t rwant;                      /* size of the next fresh buffer (0: rbufsize) */
    bool eof;
    /* Output: the write buffer (stream) or the reply (datagram). */
    char *wbuf;
    size_t wcap, wlen;
};

/* transports (src/transport/) */
extern const ss__transport ss__tcp, ss__udp, ss__unix_stream, ss__unix_dgram;
const ss__transport *ss__transport_for(const ss__url *url);
int ss__socket_open(ss_server *srv);
int ss__socket_bind(ss_server *srv);
int ss__socket_listen(ss_server *srv);
void ss__socket_close(ss_server *srv);

/* Unix datagram replies: each client's share of the send buffer
 * (src/transport/dgram_budget.c; MAP_SHARED, used by forked children too). */
typedef struct ss__dgram_budget ss__dgram_budget;
int ss__budget_new(ss_server *srv);
void ss__budget_free(ss__dgram_budget *b);
/* May a reply of `bytes` go to this peer now? If so it is charged to it. */
bool ss__budget_take(ss__dgram_budget *b, int fd, const struct sockaddr_storage *peer, socklen_t len, size_t bytes);
/* The reply did not go out after all. */
void ss__budget_refund(ss__dgram_budget *b, const struct sockaddr_storage *peer, socklen_t len, size_t bytes);

/* addresses (src/transport/address.c) */
int ss__url_parse(const char *text, ss__url *out, const char **why);
int ss__sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);
socklen_t ss__peer_len(const struct sockaddr_storage *sa, socklen_t len);

/* untrusted text (src/core/escape.c) */
enum { SS__ESC_TEXT, SS__ESC_NAME };
/* Copy n bytes of in to out (size bytes, NUL-terminated), each control or
 * non-ASCII byte as \xNN; SS__ESC_NAME also escapes the space and the
 * backslash. Stops before an escape that does not fit. Returns the length. */
size_t ss__escape(const char *in, size_t n, char *out, size_t size, int mode);

/* strategies (src/strategy/) */
extern const ss__strategy ss__sync, ss__threading, ss__forking, ss__pool, ss__event;
/* The ops of a strategy, NULL for a value that is none (strategies.c). */
const ss__strategy *ss__strategy_ops(ss_strategy s);
int ss__poll_wait(ss_request *req, int fd, short events, int64_t deadline);

/* requests (src/core/request.c) */
ss_request *ss__request_new(ss_server *srv, int fd, bool dgram);
void ss__request_free(ss_request *req);
void ss__finish_request(ss_request *req);
void ss__request_done(ss_request *req);
void ss__report(ss_request *req, int err);

/* server internals (src/core/server.c) */
void ss__server_release(ss_server *srv);
int ss__handle_one(ss_server *srv);
bool ss__at_capacity(ss_server *srv);
void ss__slot_release(ss_server *srv);
bool ss__cancelled(ss_server *srv);

/* signals (src/core/signals.c): put back what ss_stop_on_signals() changed. */
void ss__signals_forget(ss_server *srv);

/* errors (src/core/errors.c) */
void ss__clear_error(void);
/* Record why set-up failed, for ss_last_error(); returns err. */
int ss__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* time (src/core/clock.c) */
int64_t ss__now(void);
int64_t ss__ns(double seconds);
int64_t ss__deadline(double seconds);
struct timeval ss__timeval(int64_t ns);
int ss__ms_until(int64_t deadline);

#endif /* SS_INTERNAL_H */
