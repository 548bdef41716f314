/* relay.c: a TCP relay (a small proxy): each client gets a connection to UPSTREAM and bytes flow both ways; shows ss_wait_fd. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* epoll, SOCK_NONBLOCK, MSG_DONTWAIT: Linux */
#endif
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockserv.h"

#define CONNECT_TIMEOUT 10.0 /* seconds to reach the upstream server */

/*
 * A relay waits for two sockets at once: its client and its upstream
 * connection. ss_wait_fd waits for one descriptor, so both go into an
 * epoll descriptor of the request's own, which is readable whenever one of
 * them is: the handler waits for that with ss_wait_fd (under the pool and
 * event strategies the request yields to its loop meanwhile, holding no
 * thread) and then reads whichever side is ready, never blocking
 * (MSG_DONTWAIT). Bytes to the client go through ss_write, bytes upstream
 * through send with ss_wait_fd for room. The same code runs in every mode;
 * a drain deadline ends the waits with -ECANCELED.
 */

/* Where to connect, resolved once in main (cfg.userdata). */
typedef struct upstream {
    struct sockaddr_storage addr;
    socklen_t len;
    char name[300];
} upstream;

/* One client's relay (ss_request_data). */
typedef struct relay {
    int up; /* the upstream connection */
    int ep; /* epoll over the client and up */
} relay;

/* Connect without blocking: start, wait until the socket is writable, read the outcome. */
static int connect_upstream(ss_request *req, const upstream *u)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&u->addr, u->len) < 0) {
        rc = errno == EINPROGRESS ? ss_wait_fd(req, fd, POLLOUT, CONNECT_TIMEOUT) : -errno;
        int err = 0;
        socklen_t len = sizeof err;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            rc = -errno;
        else if (rc == 0 && err != 0)
            rc = -err;
    }
    if (rc < 0) {
        close(fd);
        return ss_request_fail(req, rc, "upstream %s: %s", u->name, ss_strerror(rc));
    }
    return fd;
}

static int watch(int ep, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void relay_free(relay *r)
{
    if (!r)
        return;
    if (r->up >= 0)
        close(r->up);
    if (r->ep >= 0)
        close(r->ep);
    free(r);
}

/* Connect upstream and set up the epoll descriptor. On failure nothing is
 * left behind: finish runs only after a setup that succeeded. */
static int setup(ss_request *req)
{
    if (ss_request_is_datagram(req))
        return ss_request_fail(req, -EPROTOTYPE, "relay needs a stream transport");
    relay *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = (relay){.up = -1, .ep = epoll_create1(EPOLL_CLOEXEC)};
    int rc = r->ep < 0 ? -errno : 0;
    if (rc == 0) {
        r->up = connect_upstream(req, ss_server_userdata(ss_request_server(req)));
        rc = r->up < 0 ? r->up : 0;
    }
    if (rc == 0)
        rc = watch(r->ep, ss_request_fd(req));
    if (rc == 0)
        rc = watch(r->ep, r->up);
    if (rc < 0) {
        relay_free(r);
        return rc;
    }
    ss_request_set_data(req, r);
    return 0;
}

static int finish(ss_request *req)
{
    relay_free(ss_request_data(req));
    return 0;
}

/* Send all of buf upstream, waiting for room as needed. */
static int send_upstream(ss_request *req, int up, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t sent = send(up, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            buf += sent;
            n -= (size_t)sent;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = ss_wait_fd(req, up, POLLOUT, 0);
            if (rc < 0)
                return rc;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/* Move what one side has to the other. Returns 1 while that side is
 * open, 0 once it has ended its output, or a negative errno. */
static int pass(ss_request *req, relay *r, int from)
{
    char buf[16384];
    ssize_t n = recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -errno;
    if (n == 0)
        return 0;
    if (from == r->up) {
        ssize_t w = ss_write(req, buf, (size_t)n);
        return w < 0 ? (int)w : 1;
    }
    int rc = send_upstream(req, r->up, buf, (size_t)n);
    return rc < 0 ? rc : 1;
}

static int handle(ss_request *req)
{
    relay *r = ss_request_data(req);
    int client = ss_request_fd(req);

    /* Until upstream is done: it has the last word, as on a direct connection. */
    for (;;) {
        int rc = ss_wait_fd(req, r->ep, POLLIN, 0);
        if (rc < 0)
            return rc;
        struct epoll_event ready[2];
        int n = epoll_wait(r->ep, ready, 2, 0);
        for (int i = 0; i < n; i++) {
            int from = ready[i].data.fd;
            rc = pass(req, r, from);
            if (rc < 0)
                return rc;
            if (rc == 0 && from == r->up)
                return 0; /* upstream closed: the client's connection closes at the request's end */
            if (rc == 0) {
                /* The client sent all it will: tell upstream, keep relaying its answer. */
                shutdown(r->up, SHUT_WR);
                epoll_ctl(r->ep, EPOLL_CTL_DEL, client, NULL);
            }
        }
    }
}

/* "HOST:PORT" or "[V6ADDR]:PORT" into u (getaddrinfo: main may block). */
static int resolve_upstream(const char *text, upstream *u)
{
    char host[256];
    snprintf(u->name, sizeof u->name, "%s", text);
    const char *colon = strrchr(text, ':');
    size_t hlen = colon ? (size_t)(colon - text) : 0;
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        text++;
        hlen -= 2;
    }
    if (!colon || hlen == 0 || hlen >= sizeof host || colon[1] == '\0')
        return EAI_NONAME;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    const struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0)
        return rc;
    memcpy(&u->addr, found->ai_addr, found->ai_addrlen);
    u->len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

int main(int argc, char **argv)
{
    static upstream up;
    ss_strategy mode = SS_THREADING;
    if (argc < 3 || argc > 4 || (argc > 3 && ss_strategy_from_name(argv[3], &mode) < 0)) {
        fprintf(stderr, "usage: %s URL UPSTREAM_HOST:PORT [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    int rc = resolve_upstream(argv[2], &up);
    if (rc != 0) {
        fprintf(stderr, "relay: upstream %s: %s\n", argv[2], gai_strerror(rc));
        return 2;
    }
    static const ss_handler handler = {.setup = setup, .handle = handle, .finish = finish};
    ss_server *srv = ss_server_new(&(ss_config){
        .listen = url, .handler = &handler, .strategy = mode, .userdata = &up, .allow_reuse_address = true});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "relay: %s\n", why);
        else
            fprintf(stderr, "relay: %s: %s\n", url, strerror(err));
        return err == EINVAL ? 2 : 1; /* EINVAL: a bad URL */
    }
    /* SIGINT (Ctrl-C) or SIGTERM: stop accepting, give relays 1 s to finish. */
    ss_stop_on_signals(srv, 1.0, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    return 0;
}
