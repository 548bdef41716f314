/* epoll_echo.c: the baseline peer: a minimal single-threaded echo server on raw epoll (level-triggered). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Whatever a client sends is written back as read: for clients that send
 * whole lines this is a line echo. When the socket will not take all of it,
 * the rest waits in the connection's buffer and reading stops until it is
 * gone (no unbounded buffering). `--corrupt N` flips one byte in every Nth
 * read, so the load generator's checking can itself be tested.
 */
#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 512

struct client {
    int fd;
    char *pending;           /* bytes the socket did not take yet */
    size_t plen, poff;
};

static char buf[BUF_SIZE];
static volatile sig_atomic_t stop;
static unsigned long corrupt_every, reads;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void client_free(struct client *c)
{
    close(c->fd);
    free(c->pending);
    free(c);
}

static int set_events(int epfd, struct client *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write data; keep what does not fit. Returns false when the client is gone. */
static bool send_or_keep(int epfd, struct client *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            char *p = malloc(len);
            if (!p)
                return false;
            memcpy(p, data, len);
            c->pending = p;
            c->plen = len;
            c->poff = 0;
            return set_events(epfd, c, EPOLLOUT) == 0;
        }
        return false;
    }
    return true;
}

static bool on_readable(int epfd, struct client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (n == 0)
            return false;
        if (corrupt_every && ++reads % corrupt_every == 0)
            buf[0] ^= 0x20;
        /* Level-triggered: one read per wake-up is enough. */
        return send_or_keep(epfd, c, buf, (size_t)n);
    }
}

static bool on_writable(int epfd, struct client *c)
{
    while (c->poff < c->plen) {
        ssize_t n = send(c->fd, c->pending + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
        if (n > 0) {
            c->poff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        return false;
    }
    free(c->pending);
    c->pending = NULL;
    c->plen = c->poff = 0;
    return set_events(epfd, c, EPOLLIN) == 0;
}

static void accept_all(int epfd, int lfd)
{
    for (;;) {
        /* Each client lives on in its epoll registration (data.ptr) until
         * client_free, which the analyzer cannot follow; and accept4 takes NULL
         * for the peer address, which cppcheck 2.10's gnu.cfg does not allow. */
        /* cppcheck-suppress nullPointer */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or out of descriptors: try again later */
        }
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            client_free(c);
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--corrupt") == 0 && i + 1 < argc)
            corrupt_every = strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] >= '0' && argv[i][0] <= '9') {
            char *end;
            long p = strtol(argv[i], &end, 10);
            if (*end != '\0' || p > 65535) {
                fprintf(stderr, "epoll_echo: bad port %s\n", argv[i]);
                return 2;
            }
            port = (int)p;
        } else {
            fprintf(stderr, "usage: epoll_echo [PORT] [--corrupt N]\n");
            return 2;
        }
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
        perror("epoll_echo: listen");
        return 1;
    }
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    static int listener_tag;
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("epoll_echo: epoll");
        return 1;
    }
    printf("listening on tcp://127.0.0.1:%d\n", ntohs(sin.sin_port));
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_all(epfd, lfd);
                continue;
            }
            struct client *c = evs[i].data.ptr;
            bool ok;
            if (c->pending)
                ok = on_writable(epfd, c);
            else
                ok = on_readable(epfd, c);
            if (!ok)
                client_free(c);
        }
    }
    close(lfd);
    return 0;
}
