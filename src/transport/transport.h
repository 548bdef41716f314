/* transport.h: the transports (Python's server classes): the listening socket's kinds and how each takes a request (internal). */
#ifndef SS_TRANSPORT_H
#define SS_TRANSPORT_H

#include "sockserv.h"

#include <stdbool.h>
#include <sys/un.h>

/* A parsed listen URL. */
typedef struct ss__url {
    const struct ss__transport *tp;    /* from the scheme */
    int socktype;                      /* SOCK_STREAM or SOCK_DGRAM */
    int family;                        /* AF_INET, AF_INET6 (after resolving) or AF_UNIX */
    char host[256];                    /* inet: literal or name, without brackets */
    unsigned port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* unix, as given */
} ss__url;

/*
 * One transport: a URL scheme and the socket it listens on. Every op is
 * required. Adding one: its file and a line in transports.c.
 */
typedef struct ss__transport {
    const char *scheme;                /* "tcp", "udp", "tls", "unix", "unix-dgram" */
    const char *prefix;                /* in a URL: "tcp://", "unix:" */
    int socktype;
    bool inet;                         /* HOST:PORT, TCP or UDP (else a Unix path) */
    bool tls;                          /* takes the config's tls_* fields */
    /* ss_server_close closes the socket at once (a listener), or leaves it
     * to the last request (datagram requests reply through it). */
    bool closes_first;
    /* The socket is made, not yet bound: set up what the transport keeps
     * per server (srv->tp_state). 0, or -errno with ss_last_error(). */
    int (*setup)(ss_server *srv);
    /* Take one request: 0 with *out set, -EAGAIN when none is waiting,
     * other -errno on failure. */
    int (*get_request)(ss_server *srv, ss_request **out);
    /* A stop for good: refuse new clients at once (a listener is shut
     * down; its fd stays open until close). Async-signal-safe. */
    void (*refuse)(ss_server *srv);
    /* A datagram request's reply: send it once, never waiting. 0 (sent,
     * or dropped and counted in stats.dropped) or -errno. */
    int (*send_reply)(ss_request *req, const void *buf, size_t len);
    /* The server is freed: what `setup` set up goes (srv->tp_state). */
    void (*release)(ss_server *srv);
} ss__transport;

extern const ss__transport ss__tcp, ss__udp, ss__unix_stream, ss__unix_dgram;
/* tls:// (src/tls/transport.c; without OpenSSL, src/tls/absent.c). */
extern const ss__transport ss__tls;

/* Streams (stream.c): accept a connection as a request whose connection is
 * of type conn (over lower, if not NULL); the listener refusing clients. */
int ss__stream_accept(ss_server *srv, ss_request **out, const ss__conn_type *conn, const ss__conn_type *lower);
void ss__stream_refuse(ss_server *srv);

/* The transport whose prefix starts url, or NULL (transports.c). */
const ss__transport *ss__transport_by_prefix(const char *url);

/* URLs and addresses as text (address.c). */
int ss__url_parse(const char *text, ss__url *out, const char **why);
int ss__sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);
socklen_t ss__peer_len(const struct sockaddr_storage *sa, socklen_t len);

/* The listening socket (socket.c). */
int ss__socket_open(ss_server *srv);
int ss__socket_bind(ss_server *srv);
int ss__socket_listen(ss_server *srv);
/* Serve a socket made elsewhere (ss_server_adopt): its transport, address
 * and URL read from it; listening, non-blocking, close-on-exec. */
int ss__socket_adopt(ss_server *srv, int fd);
void ss__socket_close(ss_server *srv);

/* Shared ops (transports.c): nothing to set up or free; refuse nothing;
 * no replies (a stream transport). */
int ss__tp_nop_setup(ss_server *srv);
void ss__tp_nop_server(ss_server *srv);
int ss__tp_no_reply(ss_request *req, const void *buf, size_t len);

/* Unix datagram replies: each client's share of the send buffer
 * (dgram_budget.c; MAP_SHARED, used by forked children too), kept in
 * srv->tp_state. */
typedef struct ss__dgram_budget ss__dgram_budget;
int ss__budget_new(ss_server *srv, ss__dgram_budget **out);
void ss__budget_free(ss__dgram_budget *b);
/* May a reply of `bytes` go to this peer now? If so it is charged to it. */
bool ss__budget_take(ss__dgram_budget *b, int fd, const struct sockaddr_storage *peer, socklen_t len, size_t bytes);
/* The reply did not go out after all. */
void ss__budget_refund(ss__dgram_budget *b, const struct sockaddr_storage *peer, socklen_t len, size_t bytes);

#endif /* SS_TRANSPORT_H */
