/* test_adopt.c: servers on sockets made elsewhere (ss_server_adopt): every kind, shared listeners, ownership; systemd socket activation (ss_socket_activation). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

/* A socket of the family and type bound to the loopback (or a Unix path),
 * listening when `listening`. */
static int made(int family, int type, const char *path, bool listening)
{
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
        len = sizeof *un;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    }
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&ss, len), 0);
    if (listening)
        CHECK_EQ_INT(listen(fd, 16), 0);
    return fd;
}

static ss_server *adopt(int fd, ss_strategy strategy)
{
    ss_server *srv = ss_server_adopt(&(ss_config){.handler = &h_echo_line_handler, .strategy = strategy}, fd);
    CHECK_MSG(srv != NULL, "ss_server_adopt: %s (%s)", strerror(errno), ss_last_error() ? ss_last_error() : "-");
    return srv;
}

static void serve_exchange(ss_server *srv)
{
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    if (h_server_socktype(srv) == SOCK_STREAM) {
        h_exchange(srv, "adopted\n");
    } else {
        int c = h_connect(srv);
        h_send_str(c, "dgram\n");
        char buf[32];
        CHECK_EQ_INT(h_recv_timeout(c, buf, sizeof buf, 5), 6);
        close(c);
    }
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    CHECK(WAIT_FOR(h_stats(srv).completed == 1, 10)); /* a thread may still be closing */
}

TEST(tcp_listening_and_not_yet)
{
    for (int listening = 0; listening < 2; listening++) {
        int fd = made(AF_INET, SOCK_STREAM, NULL, listening);
        ss_server *srv = adopt(fd, SS_EVENT);
        CHECK_EQ_INT(ss_server_fd(srv), fd);
        char want[64];
        snprintf(want, sizeof want, "tcp://127.0.0.1:%d", h_server_port(srv));
        CHECK_EQ_STR(ss_server_url(srv), want);
        h_check_server_address(srv);
        CHECK(h_is_cloexec(fd));
        CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
        serve_exchange(srv);
        ss_server_close(srv);
        CHECK(!h_fd_open(fd)); /* the server owned it */
    }
}

TEST(udp_unix_stream_unix_dgram)
{
    ss_server *srv = adopt(made(AF_INET, SOCK_DGRAM, NULL, false), SS_THREADING);
    CHECK_EQ_INT(strncmp(ss_server_url(srv), "udp://127.0.0.1:", 16), 0);
    serve_exchange(srv);
    ss_server_close(srv);

    const char *path = h_path("s.sock");
    srv = adopt(made(AF_UNIX, SOCK_STREAM, path, true), SS_POOL);
    char want[600];
    snprintf(want, sizeof want, "unix:%s", path);
    CHECK_EQ_STR(ss_server_url(srv), want);
    serve_exchange(srv);
    ss_server_close(srv);
    CHECK(h_exists(path)); /* not ours to remove */
    unlink(path);

    path = h_path("d.sock");
    srv = adopt(made(AF_UNIX, SOCK_DGRAM, path, false), SS_SYNC);
    snprintf(want, sizeof want, "unix-dgram:%s", path);
    CHECK_EQ_STR(ss_server_url(srv), want);
    serve_exchange(srv);
    ss_server_close(srv);
    CHECK(h_exists(path));
}

/* Two servers (two processes, in real life) share one listener: the one
 * that stops for good leaves it working for the other. */
TEST(stop_leaves_a_shared_listener_serving)
{
    for (ss_strategy st = 0; ss_strategy_name(st); st++) {
        int fd = made(AF_INET, SOCK_STREAM, NULL, true);
        ss_server *a = adopt(fd, st), *b = adopt(dup(fd), SS_SYNC);
        h_serve sa, sb;
        h_serve_start(&sa, a, 0.01);
        ss_server_stop(a, 1.0);
        CHECK_EQ_INT(h_serve_join(&sa, 10), 0);
        h_serve_start(&sb, b, 0.01);
        h_exchange(b, "still here\n");
        CHECK_EQ_INT(h_serve_stop(&sb), 0);
        CHECK_EQ_INT(h_stats(b).completed, 1);
        CHECK_EQ_INT(h_stats(a).accepted, 0);
        ss_server_close(a);
        ss_server_close(b);
    }
}

/* A worker stops (with a drain), then whoever owns the shared listener
 * shuts it down: an accept that fails now is the stop's, not an accept
 * error, even once serve_forever has returned (an event loop may still be
 * in its accept batch then). */
TEST(shared_listener_shut_down_after_the_stop)
{
    int fd = made(AF_INET, SOCK_STREAM, NULL, true);
    ss_server *srv = adopt(dup(fd), SS_SYNC);
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    ss_server_stop(srv, 1.0);
    CHECK_EQ_INT(h_serve_join(&s, 10), 0);
    CHECK_EQ_INT(shutdown(fd, SHUT_RDWR), 0); /* the owner's copy: the same socket */
    CHECK_LT(ss_handle_request(srv), 0);
    CHECK_EQ_INT(h_stats(srv).accept_errors, 0);
    ss_server_close(srv);
    close(fd);
}

TEST(refused_sockets_stay_with_the_caller)
{
    const ss_config cfg = {.handler = &h_echo_line_handler};
    int p[2];
    CHECK_EQ_INT(pipe(p), 0);
    errno = 0;
    CHECK(!ss_server_adopt(&cfg, p[0]));
    CHECK_ERRNO(ENOTSOCK);
    CHECK_MSG(strstr(ss_last_error(), "not a socket") != NULL, "%s", ss_last_error());
    CHECK(h_fd_open(p[0]));
    close(p[0]);
    close(p[1]);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not bound */
    CHECK(!ss_server_adopt(&cfg, fd));
    CHECK_ERRNO(EINVAL);
    CHECK_MSG(strstr(ss_last_error(), "not bound") != NULL, "%s", ss_last_error());
    CHECK(h_fd_open(fd));
    close(fd);

    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    CHECK(!ss_server_adopt(&cfg, fd));
    CHECK_ERRNO(EINVAL);
    close(fd);

    fd = made(AF_UNIX, SOCK_STREAM, h_path("m.sock"), true);
    CHECK(!ss_server_adopt(&(ss_config){.handler = &h_echo_line_handler, .socket_mode = 0600}, fd));
    CHECK_ERRNO(EINVAL);
    CHECK(strstr(ss_last_error(), "socket_mode") != NULL);
    CHECK(h_fd_open(fd));
    close(fd);

    CHECK(!ss_server_adopt(&cfg, -1));
    CHECK_ERRNO(EBADF);
}

/* ---- socket activation ------------------------------------------------ */

/* Put fd at `at` (3, 4, ...), moving whatever the harness had there. */
static void place(int fd, int at)
{
    if (fd == at)
        return;
    CHECK_EQ_INT(dup2(fd, at), at);
    close(fd);
}

static void set_env(const char *fds, const char *names, bool ours)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", ours ? (long)getpid() : (long)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", fds, 1);
    if (names)
        setenv("LISTEN_FDNAMES", names, 1);
    else
        unsetenv("LISTEN_FDNAMES");
}

static bool env_gone(void)
{
    return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

TEST(socket_activation)
{
    /* Make room at 3 and 4 (the harness may hold them): move them up. */
    for (int at = 3; at <= 4; at++)
        if (h_fd_open(at)) {
            CHECK_GE(fcntl(at, F_DUPFD_CLOEXEC, 64), 0);
            close(at);
        }
    int tcp = socket(AF_INET, SOCK_STREAM, 0); /* no close-on-exec, as passed */
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ_INT(bind(tcp, (struct sockaddr *)&in, sizeof in), 0);
    CHECK_EQ_INT(listen(tcp, 8), 0);
    place(tcp, 3);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK_EQ_INT(bind(udp, (struct sockaddr *)&in, sizeof in), 0);
    place(udp, 4);

    CHECK_EQ_INT(ss_socket_activation(NULL), 0); /* nothing passed */
    set_env("2", "web:stats", true);
    char **names = NULL;
    CHECK_EQ_INT(ss_socket_activation(&names), 2);
    CHECK(env_gone());
    CHECK_EQ_STR(names[0], "web");
    CHECK_EQ_STR(names[1], "stats");
    free(names);
    CHECK(h_is_cloexec(3) && h_is_cloexec(4));
    set_env("2", NULL, true);
    CHECK_EQ_INT(ss_socket_activation(&names), 2);
    CHECK_EQ_STR(names[0], "unknown");
    CHECK_EQ_STR(names[1], "unknown");
    free(names);

    ss_server *srv = adopt(3, SS_THREADING);
    serve_exchange(srv);
    ss_server_close(srv);
    srv = adopt(4, SS_SYNC);
    serve_exchange(srv);
    ss_server_close(srv);

    /* Another process's variables: not ours, but gone all the same. */
    set_env("1", NULL, false);
    CHECK_EQ_INT(ss_socket_activation(NULL), 0);
    CHECK(env_gone());
    /* Malformed: each refused with its reason, the variables removed. */
    const char *bad_fds[] = {"0", "-1", "x", "", "99999", "2"}; /* 3 and 4 are closed now: "2" names closed fds */
    for (size_t i = 0; i < sizeof bad_fds / sizeof bad_fds[0]; i++) {
        set_env(bad_fds[i], NULL, true);
        CHECK_MSG(ss_socket_activation(NULL) == -EINVAL, "LISTEN_FDS=%s accepted", bad_fds[i]);
        CHECK(ss_last_error() && strstr(ss_last_error(), "LISTEN_FDS"));
        CHECK(env_gone());
    }
    setenv("LISTEN_PID", "12abc", 1);
    setenv("LISTEN_FDS", "1", 1);
    CHECK_EQ_INT(ss_socket_activation(NULL), -EINVAL);
    CHECK(strstr(ss_last_error(), "LISTEN_PID"));
    int again = socket(AF_INET, SOCK_STREAM, 0);
    place(again, 3);
    set_env("1", "a:b", true);
    CHECK_EQ_INT(ss_socket_activation(&names), -EINVAL);
    CHECK(strstr(ss_last_error(), "LISTEN_FDNAMES"));
    CHECK(env_gone());
    close(3);
}
