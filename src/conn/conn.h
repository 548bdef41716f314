/* conn.h: the connection layer: the ops through which every byte of a request moves, one type per way of moving them (internal). */
#ifndef SS_CONN_H
#define SS_CONN_H

#include "sockserv.h"

#include <stdint.h>

typedef struct ss__conn ss__conn;

/*
 * A request's connection type is chosen once, when the request is made,
 * from the transport (stream or datagram) and the strategy (which stream
 * connection it wants: ss__strategy.stream_conn). The buffered I/O layer
 * (src/io/request_io.c) calls only these ops, so a new way of moving bytes
 * (TLS) is one more type. Every op is required; the types share the
 * no-ops of nops.c. The ops take the connection (ss__conn: its type, its
 * request, its state: `state_size` bytes allocated with the request), so
 * that one type can run over another (TLS over the strategy's stream).
 */
typedef struct ss__conn_type {
    const char *name;
    bool datagram;             /* ss_request_is_datagram() */
    bool nonblocking;          /* the socket is non-blocking (accept4 SOCK_NONBLOCK) */
    size_t state_size;
    /* A new request's connection: socket options, state. 0 or -errno (the
     * request is then dropped). In the thread that made the request. */
    int (*open)(ss__conn *c);
    /* In the request's own thread (or coroutine, or child), before setup:
     * what must happen before the handler talks (the TLS handshake). 0;
     * -errno with the reason in ss_request_error(); or 1 when the client
     * left before sending a byte (a probe, a health check: no error).
     * Unless 0, the handler never runs. */
    int (*start)(ss__conn *c);
    /* False when the connection knows that no input waits (a receive
     * would only find -EAGAIN): the reader then waits at once, without
     * making a buffer ready first. */
    bool (*maybe_input)(const ss__conn *c);
    /* True when input already taken from the socket waits inside the
     * connection (a TLS layer's buffer): a poll of the socket would not
     * show it. */
    bool (*buffered)(const ss__conn *c);
    /* Up to n bytes into buf: > 0, 0 at end of input, -EAGAIN when none
     * can come now (the caller waits with `wait`, then calls again), or
     * -errno (-ETIMEDOUT past deadline, -ECANCELED past a drain). */
    ssize_t (*recv)(ss__conn *c, void *buf, size_t n, int64_t deadline);
    /* Up to n bytes from buf: the count taken (0 only when n is 0),
     * -EAGAIN when none can go now, or -errno. deadline: as for recv. */
    ssize_t (*send)(ss__conn *c, const void *buf, size_t n, int64_t deadline);
    /* Until the connection is ready for events (POLLIN, POLLOUT), the
     * deadline (ns, 0: none) or a drain: 0, -ETIMEDOUT or -ECANCELED. */
    int (*wait)(ss__conn *c, short events, int64_t deadline);
    /* An event loop saw these epoll events on the connection (edge
     * triggered): what the type remembers about readiness is stale. */
    void (*ready)(ss__conn *c, uint32_t events);
    /* After finish and the last flush: what the type sends at the end (a
     * datagram's reply). 0 or -errno. */
    int (*end)(ss__conn *c);
    /* Cut the connection short at once (a stop in a forked child): the
     * handler's blocked call returns. Async-signal-safe. */
    void (*shutdown)(ss__conn *c);
    /* The request is over: end the connection for the peer (a stream says
     * end of output) and give back its descriptor. */
    void (*close)(ss__conn *c);
    /* Free what the connection holds, without a word to the peer (what
     * close did not: a forked request's parent lets go of its copy). */
    void (*drop)(ss__conn *c);
    /* What the connection knows of its security (SS__TLS_*): text that
     * lives as long as the request, or NULL. */
    const char *(*tls_info)(ss__conn *c, int what);
} ss__conn_type;

enum { SS__TLS_VERSION, SS__TLS_CIPHER, SS__TLS_ALPN, SS__TLS_PEER_SUBJECT, SS__TLS_PEER_FINGERPRINT };

/* A connection: its type, the request it serves (the socket is req->fd),
 * the type's state, and the connection it runs over, if any (a TLS
 * connection over the strategy's stream connection: the upper one opens,
 * uses and closes the lower one). */
struct ss__conn {
    const ss__conn_type *type;
    ss_request *req;
    void *state;
    ss__conn *lower;
};

/* A stream connection that never blocks: on EAGAIN the request waits
 * through its strategy (poll, or parked on an event loop). */
extern const ss__conn_type ss__conn_stream;
/* A stream connection in blocking mode (threading): calls wait in the
 * kernel, request_timeout is SO_RCVTIMEO/SO_SNDTIMEO, a drain shuts it
 * down (src/strategy/cancel_set.c). */
extern const ss__conn_type ss__conn_blocking;
/* A datagram request: the packet is the input, the reply goes out after
 * finish. */
extern const ss__conn_type ss__conn_dgram;

/* TLS over a stream connection (src/tls/conn.c; without OpenSSL, none). */
extern const ss__conn_type ss__conn_tls;

/* Shared no-ops (nops.c). */
bool ss__conn_maybe_input(const ss__conn *c);
bool ss__conn_nothing_buffered(const ss__conn *c);
void ss__conn_nop_ready(ss__conn *c, uint32_t events);
int ss__conn_nop(ss__conn *c);       /* open, start, end: nothing to do */
const char *ss__conn_no_tls(ss__conn *c, int what);

#endif /* SS_CONN_H */
