/* conn.h: the connection layer: the ops through which every byte of a request moves, one type per way of moving them (internal). */
#ifndef SS_CONN_H
#define SS_CONN_H

#include "sockserv.h"

#include <stdint.h>

/*
 * A request's connection type is chosen once, when the request is made,
 * from the transport (stream or datagram) and the strategy (which stream
 * connection it wants: ss__strategy.stream_conn). The buffered I/O layer
 * (src/io/request_io.c) calls only these ops, so a new way of moving bytes
 * (TLS) is one more type. Every op is required; the types share the
 * no-ops of nops.c. Each type keeps its own state in req->conn_state,
 * `state_size` bytes allocated with the request.
 */
typedef struct ss__conn_type {
    const char *name;
    bool datagram;             /* ss_request_is_datagram() */
    bool nonblocking;          /* the socket is non-blocking (accept4 SOCK_NONBLOCK) */
    size_t state_size;
    /* A new request's connection: socket options, state. 0 or -errno (the
     * request is then dropped). In the thread that made the request. */
    int (*open)(ss_request *req);
    /* False when the connection knows that no input waits (a receive
     * would only find -EAGAIN): the reader then waits at once, without
     * making a buffer ready first. */
    bool (*maybe_input)(const ss_request *req);
    /* Up to n bytes into buf: > 0, 0 at end of input, -EAGAIN when none
     * can come now (the caller waits with `wait`, then calls again), or
     * -errno (-ETIMEDOUT past deadline, -ECANCELED past a drain). */
    ssize_t (*recv)(ss_request *req, void *buf, size_t n, int64_t deadline);
    /* Up to n bytes from buf: the count taken (0 only when n is 0),
     * -EAGAIN when none can go now, or -errno. deadline: as for recv. */
    ssize_t (*send)(ss_request *req, const void *buf, size_t n, int64_t deadline);
    /* Until the connection is ready for events (POLLIN, POLLOUT), the
     * deadline (ns, 0: none) or a drain: 0, -ETIMEDOUT or -ECANCELED. */
    int (*wait)(ss_request *req, short events, int64_t deadline);
    /* An event loop saw these epoll events on the connection (edge
     * triggered): what the type remembers about readiness is stale. */
    void (*ready)(ss_request *req, uint32_t events);
    /* After finish and the last flush: what the type sends at the end (a
     * datagram's reply). 0 or -errno. */
    int (*end)(ss_request *req);
    /* Cut the connection short at once (a stop in a forked child): the
     * handler's blocked call returns. Async-signal-safe. */
    void (*shutdown)(ss_request *req);
    /* The request is over: end the connection for the peer (a stream says
     * end of output) and give back its descriptor. */
    void (*close)(ss_request *req);
    /* Free what the connection holds, without a word to the peer (what
     * close did not: a forked request's parent lets go of its copy). */
    void (*drop)(ss_request *req);
} ss__conn_type;

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

/* Shared no-ops (nops.c). */
bool ss__conn_maybe_input(const ss_request *req);
void ss__conn_nop_ready(ss_request *req, uint32_t events);
int ss__conn_nop_end(ss_request *req);
int ss__conn_nop_open(ss_request *req);

#endif /* SS_CONN_H */
