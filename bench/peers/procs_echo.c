/* procs_echo.c: sockserv's echo handler in N worker processes sharing one port,
 * two ways: an inherited listener (one socket made before fork, as
 * `sockserv --processes` does) or SO_REUSEPORT (a socket per worker, the
 * kernel spreading connections over them by a hash of the 4-tuple).
 *
 *   procs_echo MODE N inherit|reuseport
 *
 * MODE: event (one loop per worker) or threading. Prints "listening on
 * tcp://127.0.0.1:PORT" once every worker serves; at SIGTERM or SIGINT each
 * worker drains (1 s) and prints one line on stderr,
 * "procs_echo: worker I: accepted A, completed C, errors E", from which
 * bench/run.py reads how evenly the connections were spread. Built with
 * the library by bench/CMakeLists.txt (the bench's "reuseport"
 * measurement, docs/PERFORMANCE.md); not part of the library's tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sockserv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64

static int echo(ss_request *req)
{
    const char *line;
    ssize_t n;
    while ((n = ss_readline_ref(req, &line, 1 << 20)) > 0)
        if ((n = ss_write(req, line, (size_t)n)) < 0)
            return (int)n;
    return (int)n;
}

static const ss_handler handler = { .handle = echo };

/* One worker: serve on its server until SIGTERM, report, exit. The ready
 * pipe gets one byte once it serves (or none if it failed). */
static int worker(int index, ss_strategy mode, int inherited_fd, unsigned port, int ready)
{
    char url[64];
    ss_stats st;
    ss_config cfg = {
        .handler = &handler,
        .strategy = mode,
        .workers = 1,
        .max_connections = 10000,
        .final_stats = &st,
    };
    ss_server *srv;
    if (inherited_fd >= 0) {
        srv = ss_server_adopt(&cfg, inherited_fd);
    } else {
        snprintf(url, sizeof url, "tcp://127.0.0.1:%u", port);
        cfg.listen = url;
        cfg.allow_reuse_address = true;
        cfg.allow_reuse_port = true;
        srv = ss_server_new(&cfg);
    }
    if (!srv) {
        fprintf(stderr, "procs_echo: worker %d: %s\n", index, ss_last_error() ? ss_last_error() : strerror(errno));
        return 1;
    }
    if (ss_stop_on_signals(srv, 1.0, NULL) < 0)
        return 1;
    if (write(ready, "r", 1) != 1)
        return 1;
    close(ready);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    fprintf(stderr, "procs_echo: worker %d: accepted %llu, completed %llu, errors %llu\n", index,
            (unsigned long long)st.accepted, (unsigned long long)st.completed, (unsigned long long)st.errors);
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

int main(int argc, char **argv)
{
    ss_strategy mode;
    char *end = NULL;
    long n = argc == 4 ? strtol(argv[2], &end, 10) : 0;
    bool reuseport = argc == 4 && strcmp(argv[3], "reuseport") == 0;
    if (argc != 4 || ss_strategy_from_name(argv[1], &mode) < 0 || !end || *end || n < 1 || n > MAX_WORKERS ||
        (!reuseport && strcmp(argv[3], "inherit") != 0)) {
        fprintf(stderr, "usage: procs_echo event|threading N inherit|reuseport\n");
        return 2;
    }
    /* inherit: the one listening socket, which each worker serves a
     * duplicate of; reuseport: a bound socket that only reserves the port
     * (not listening, so never in the group the kernel spreads connections
     * over). Either way the parent closes its own once the workers serve. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) < 0 ||
        (!reuseport && listen(fd, 128) < 0)) {
        perror("procs_echo: listening socket");
        if (fd >= 0)
            close(fd);
        return 1;
    }
    unsigned port = ntohs(a.sin_port);
    /* SIGTERM and SIGINT blocked until sigsuspend() waits for them (no stop
     * lost between a test of the flag and the wait); the workers unblock them. */
    struct sigaction sa = { .sa_handler = on_stop };
    sigset_t stops, old;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &old);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int ready[2];
    if (pipe(ready) < 0) {
        perror("procs_echo: pipe");
        close(fd);
        return 1;
    }
    pid_t pids[MAX_WORKERS];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("procs_echo: fork");
            for (int k = 0; k < i; k++)
                kill(pids[k], SIGKILL);
            close(fd);
            return 1;
        }
        if (pids[i] == 0) {
            close(ready[0]);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, NULL);
            int own = -1;
            if (!reuseport) {
                own = dup(fd); /* the server owns its descriptor */
                close(fd);
            } else {
                close(fd);
            }
            _exit(worker(i, mode, own, port, ready[1]));
        }
    }
    close(ready[1]);
    char c;
    int up = 0;
    while (up < n && read(ready[0], &c, 1) == 1)
        up++;
    close(ready[0]);
    close(fd); /* the workers hold their listeners */
    if (up < n) {
        fprintf(stderr, "procs_echo: only %d of %ld workers started\n", up, n);
        for (int i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        return 1;
    }
    printf("listening on tcp://127.0.0.1:%u (%ld %s workers, %s)\n", port, n, argv[1],
           reuseport ? "SO_REUSEPORT" : "inherited listener");
    fflush(stdout);
    while (!stop_signal)
        sigsuspend(&old);
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(pids[i], &status, 0)) < 0 && errno == EINTR)
            ;
        failed |= got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return failed;
}
