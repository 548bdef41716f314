/* minimal.h: what the minimal C peers share: the listening socket on 127.0.0.1, the ready line, a stop on SIGTERM. */
#ifndef MINIMAL_H
#define MINIMAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t minimal_stop;

static void minimal_on_signal(int sig)
{
    (void)sig;
    minimal_stop = 1;
}

/* Listen on 127.0.0.1:PORT (argv[1], default 0: any), print the ready line,
 * make SIGTERM/SIGINT interrupt accept and set minimal_stop. Returns the
 * blocking listener, or exits. */
static int minimal_listen(int argc, char **argv, const char *name)
{
    long port = 0;
    if (argc == 2) {
        char *end;
        errno = 0;
        port = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || errno != 0 || port < 0 || port > 65535)
            argc = 3; /* usage */
    }
    if (argc > 2) {
        fprintf(stderr, "usage: %s [PORT]\n", name);
        exit(2);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = minimal_on_signal; /* no SA_RESTART: accept returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof sin;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0) {
        fprintf(stderr, "%s: listen: %s\n", name, strerror(errno));
        exit(1);
    }
    printf("listening on tcp://127.0.0.1:%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    return lfd;
}

/* Echo what comes until end of input, then close: the handler of both peers. */
static void minimal_echo(int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto done;
            off += w;
        }
    }
done:
    close(fd);
}

#endif
