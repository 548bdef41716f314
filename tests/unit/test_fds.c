/* test_fds.c: every fd the library creates is close-on-exec, and none leaks. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

/* The set of open fds (as a bitmap over 0..1023). */
typedef struct fdset {
    unsigned char open[1024];
} fdset;

static void snapshot(fdset *s)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir("/proc/self/fd");
    CHECK_NOT_NULL(d);
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0' && fd != self && fd >= 0 && fd < 1024)
            s->open[fd] = 1;
    }
    closedir(d);
}

/* Every fd open now that was not open in `before` must be close-on-exec. */
static int check_new_fds_cloexec(const fdset *before, const char *where)
{
    fdset now;
    snapshot(&now);
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        if (now.open[fd] && !before->open[fd]) {
            /* Only what the library makes: sockets, pipes, eventfd, timerfd,
             * epoll. A sanitizer runtime briefly opens files of its own
             * (e.g. /proc/self/maps) without O_CLOEXEC. */
            char path[64], target[256];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t len = readlink(path, target, sizeof target - 1);
            if (len < 0)
                continue; /* closed meanwhile */
            target[len] = '\0';
            if (strncmp(target, "socket:", 7) != 0 && strncmp(target, "pipe:", 5) != 0 &&
                strncmp(target, "anon_inode:", 11) != 0)
                continue;
            n++;
            CHECK_MSG(h_is_cloexec(fd), "%s: fd %d (%s) is not close-on-exec", where, fd, target);
        }
    }
    return n;
}

static atomic_int req_fd_cloexec = -1;
static atomic_int handler_new_fds = -1;
static fdset g_before;

static int cloexec_handle(ss_request *req)
{
    atomic_store(&req_fd_cloexec, h_is_cloexec(ss_request_fd(req)));
    /* Everything the library opened so far, in this thread or child, too. */
    atomic_store(&handler_new_fds, check_new_fds_cloexec(&g_before, "inside the handler"));
    return h_echo_line_handler.handle(req);
}

static void cloexec_test(const char *listen, ss_strategy strategy)
{
    static const ss_handler h = { .handle = cloexec_handle };
    snapshot(&g_before);
    ss_server *srv = h_server_new(&(ss_config){ .listen = listen, .handler = &h, .strategy = strategy });
    CHECK(h_is_cloexec(ss_server_fd(srv)));
    CHECK_GE(check_new_fds_cloexec(&g_before, "after ss_server_new"), 1);
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    if (h_server_socktype(srv) == SOCK_STREAM) {
        h_exchange(srv, "cloexec\n");
    } else {
        int c = h_connect(srv);
        h_send_str(c, "cloexec\n");
        char buf[16];
        CHECK_EQ_INT(h_recv_timeout(c, buf, sizeof buf, 5), 8);
        close(c);
    }
    if (strategy != SS_FORKING) {
        CHECK_EQ_INT(atomic_load(&req_fd_cloexec), 1);
        CHECK_GE(atomic_load(&handler_new_fds), 1);
    }
    check_new_fds_cloexec(&g_before, "while serving");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

TEST(cloexec_tcp_sync) { cloexec_test("tcp://127.0.0.1:0", SS_SYNC); }
TEST(cloexec_tcp_threading) { cloexec_test("tcp://127.0.0.1:0", SS_THREADING); }
TEST(cloexec_tcp_forking) { cloexec_test("tcp://127.0.0.1:0", SS_FORKING); }
TEST(cloexec_udp) { cloexec_test("udp://127.0.0.1:0", SS_THREADING); }
TEST(cloexec_unix) { cloexec_test(h_url("unix:", "c.sock"), SS_SYNC); }
TEST(cloexec_unix_dgram) { cloexec_test(h_url("unix-dgram:", "c.dgram"), SS_SYNC); }
TEST(cloexec_tcp_pool) { cloexec_test("tcp://127.0.0.1:0", SS_POOL); }
TEST(cloexec_tcp_event) { cloexec_test("tcp://127.0.0.1:0", SS_EVENT); }
TEST(cloexec_udp_event) { cloexec_test("udp://127.0.0.1:0", SS_EVENT); }
TEST(cloexec_unix_event) { cloexec_test(h_url("unix:", "c.sock"), SS_EVENT); }
TEST(cloexec_unix_dgram_pool) { cloexec_test(h_url("unix-dgram:", "c.dgram"), SS_POOL); }

/* Under event, the descriptors behind ss_wait_fd and ss_run_blocking (the
 * loop's own duplicates, helper threads' wake-ups) are close-on-exec too,
 * and none is left once the server is closed. */
static int wf_pipe[2] = { -1, -1 };

static int blocking_noop(void *arg)
{
    (void)arg;
    return 7;
}

static atomic_int wf_waiting;

static int waitfd_cloexec_handle(ss_request *req)
{
    atomic_store(&wf_waiting, 1);
    int r = ss_wait_fd(req, wf_pipe[0], POLLIN, 5);
    if (r < 0)
        return r;
    atomic_store(&handler_new_fds, check_new_fds_cloexec(&g_before, "in ss_wait_fd's handler"));
    if (ss_run_blocking(req, blocking_noop, NULL) != 7)
        return -EPROTO;
    check_new_fds_cloexec(&g_before, "after ss_run_blocking");
    return h_echo_line_handler.handle(req);
}

static void wait_fd_cloexec_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = waitfd_cloexec_handle };
    CHECK_EQ_INT(pipe2(wf_pipe, O_CLOEXEC), 0);
    int before_count = h_count_fds();
    snapshot(&g_before);
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = strategy });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    /* The first request waits on the pipe: look at the fds meanwhile. */
    int c = h_connect(srv);
    h_send_str(c, "wait fd\n");
    CHECK(WAIT_FOR(atomic_load(&wf_waiting), 5));
    h_sleep(0.05);
    check_new_fds_cloexec(&g_before, "while a handler waits in ss_wait_fd");
    CHECK_EQ_INT(write(wf_pipe[1], "x", 1), 1); /* never read: stays readable */
    char buf[32];
    CHECK_GT(h_recv_line(c, buf, sizeof buf, 5), 0);
    CHECK_EQ_STR(buf, "wait fd\n");
    close(c);
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "wait fd\n");
    check_new_fds_cloexec(&g_before, "while serving");
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    CHECK_EQ_INT(h_count_fds(), before_count);
    close(wf_pipe[0]);
    close(wf_pipe[1]);
}

TEST(cloexec_wait_fd_event) { wait_fd_cloexec_test(SS_EVENT); }
TEST(cloexec_wait_fd_pool) { wait_fd_cloexec_test(SS_POOL); }

/* In a forked child the request fd (and all else) is close-on-exec too:
 * the child reports through a pipe. */
static int report_fd = -1;

static int child_cloexec_handle(ss_request *req)
{
    char r = h_is_cloexec(ss_request_fd(req)) ? 'y' : 'n';
    fdset now;
    snapshot(&now);
    for (int fd = 0; fd < 1024; fd++)
        if (now.open[fd] && !g_before.open[fd] && fd != report_fd && !h_is_cloexec(fd))
            r = 'x';
    if (write(report_fd, &r, 1) != 1)
        return -EIO;
    return h_echo_line_handler.handle(req);
}

TEST(cloexec_in_forked_child)
{
    static const ss_handler h = { .handle = child_cloexec_handle };
    int p[2];
    CHECK_EQ_INT(pipe(p), 0);
    snapshot(&g_before);
    report_fd = p[1];
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                .strategy = SS_FORKING });
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    h_exchange(srv, "child\n");
    char r = 0;
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    CHECK_EQ_INT(poll(&pf, 1, 5000), 1);
    CHECK_EQ_INT(read(p[0], &r, 1), 1);
    CHECK_MSG(r == 'y', "child reported '%c' (n: request fd not cloexec, x: another fd not cloexec)", r);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    close(p[0]);
    close(p[1]);
}

/* Create, serve and close servers of every kind: no fd is left behind. */
TEST(no_fd_leak_across_servers)
{
    const char *listens[] = { "tcp://127.0.0.1:0", "udp://127.0.0.1:0", h_url("unix:", "l.sock"),
                              h_url("unix-dgram:", "l.dgram") };
    int before = h_count_fds();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 4; i++) {
            for (ss_strategy strategy = 0; ss_strategy_name(strategy); strategy++) {
                ss_server *srv = h_server_new(&(ss_config){ .listen = listens[i],
                                                            .handler = &h_echo_line_handler,
                                                            .strategy = strategy });
                h_serve s;
                h_serve_start(&s, srv, 0.01);
                if (h_server_socktype(srv) == SOCK_STREAM) {
                    h_exchange(srv, "leak?\n");
                } else {
                    int c = h_connect(srv);
                    h_send_str(c, "leak?\n");
                    char buf[16];
                    CHECK_EQ_INT(h_recv_timeout(c, buf, sizeof buf, 5), 6);
                    close(c);
                }
                CHECK_EQ_INT(h_serve_stop(&s), 0);
                ss_server_close(srv);
            }
        }
    }
    CHECK_EQ_INT(h_count_fds(), before);
    CHECK(h_no_children_left());
}
