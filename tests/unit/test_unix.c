/* test_unix.c: Unix sockets: stale and live socket files, removal on close, abstract names, unnamed peers. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const ss_handler empty = { 0 };

/* A socket of `type` bound at path (and listening for streams); returns its fd. */
static int bind_at(const char *path, int type, bool listening)
{
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (listening && type == SOCK_STREAM)
        CHECK_EQ_INT(listen(fd, 8), 0);
    return fd;
}

static int connect_path(const char *path, int type)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -errno;
    }
    return fd;
}

static void serve_one_exchange(ss_server *srv)
{
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    if (h_server_socktype(srv) == SOCK_STREAM) {
        h_exchange(srv, "unix\n");
    } else {
        int c = h_connect(srv);
        h_send_str(c, "dgram\n");
        char buf[32];
        ssize_t n = h_recv_timeout(c, buf, sizeof buf, 5);
        CHECK_EQ_INT(n, 6);
        close(c);
    }
    CHECK_EQ_INT(h_serve_stop(&s), 0);
}

/* A socket file nobody listens on (a dead server's) is replaced. */
static void stale_test_s(const char *scheme, int type, ss_strategy strategy)
{
    const char *path = h_path("stale.sock");
    close(bind_at(path, type, true)); /* the file stays, the socket is gone */
    CHECK(h_exists(path));
    char url[600];
    snprintf(url, sizeof url, "%s%s", scheme, path);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &h_echo_line_handler,
                                                .strategy = strategy });
    serve_one_exchange(srv);
    ss_server_close(srv);
    CHECK(!h_exists(path));
}

static void stale_test(const char *scheme, int type)
{
    stale_test_s(scheme, type, SS_SYNC);
}

TEST(stale_socket_replaced_stream) { stale_test("unix:", SOCK_STREAM); }
TEST(stale_socket_replaced_dgram) { stale_test("unix-dgram:", SOCK_DGRAM); }
TEST(stale_socket_replaced_stream_pool) { stale_test_s("unix:", SOCK_STREAM, SS_POOL); }
TEST(stale_socket_replaced_stream_event) { stale_test_s("unix:", SOCK_STREAM, SS_EVENT); }
TEST(stale_socket_replaced_dgram_event) { stale_test_s("unix-dgram:", SOCK_DGRAM, SS_EVENT); }

/* A socket file a live server listens on is left alone: EADDRINUSE. */
static void live_test(const char *scheme, int type)
{
    const char *path = h_path("live.sock");
    int live = bind_at(path, type, true);
    struct stat before, after;
    CHECK_EQ_INT(stat(path, &before), 0);
    char url[600];
    snprintf(url, sizeof url, "%s%s", scheme, path);
    errno = 0;
    ss_server *srv = ss_server_new(&(ss_config){ .listen = url, .handler = &empty });
    CHECK(srv == NULL);
    CHECK_ERRNO(EADDRINUSE);
    CHECK_EQ_INT(stat(path, &after), 0);
    CHECK_EQ_INT(after.st_ino, before.st_ino);
    /* And the live socket still works. */
    int c = connect_path(path, type);
    CHECK_GE(c, 0);
    close(c);
    close(live);
}

TEST(live_socket_left_alone_stream) { live_test("unix:", SOCK_STREAM); }
TEST(live_socket_left_alone_dgram) { live_test("unix-dgram:", SOCK_DGRAM); }

/* A live server that accepts nothing, its backlog full: the probe that
 * tells a stale file from a live one must not wait for it to accept. */
TEST(live_socket_with_full_backlog_answered_at_once)
{
    const char *path = h_path("busy.sock");
    int live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    CHECK_EQ_INT(bind(live, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ_INT(listen(live, 1), 0);
    int queued[8], nq = 0;
    for (; nq < 8; nq++) { /* fill the backlog: a further connect would wait */
        queued[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (connect(queued[nq], (struct sockaddr *)&a, sizeof a) < 0) {
            CHECK_ERRNO(EAGAIN);
            close(queued[nq]);
            break;
        }
    }
    CHECK_LT(nq, 8);
    double t0 = h_now();
    errno = 0;
    ss_server *srv = ss_server_new(&(ss_config){ .listen = h_url("unix:", "busy.sock"), .handler = &empty });
    CHECK(srv == NULL);
    CHECK_ERRNO(EADDRINUSE);
    CHECK_LT_DBL(h_now() - t0, 5.0); /* a blocking probe waits forever */
    for (int i = 0; i < nq; i++)
        close(queued[i]);
    close(live);
}

/* A stream server does not take over a live datagram socket's file, nor the reverse. */
TEST(live_socket_of_other_type_left_alone)
{
    const char *path = h_path("other.sock");
    int live = bind_at(path, SOCK_DGRAM, false);
    char url[600];
    snprintf(url, sizeof url, "unix:%s", path);
    errno = 0;
    CHECK(ss_server_new(&(ss_config){ .listen = url, .handler = &empty }) == NULL);
    CHECK_ERRNO(EADDRINUSE);
    CHECK(h_exists(path));
    close(live);
}

/* A regular file in the way is never deleted. */
TEST(regular_file_not_replaced)
{
    const char *path = h_path("precious.txt");
    h_append_file(path, "keep me\n");
    char url[600];
    snprintf(url, sizeof url, "unix:%s", path);
    errno = 0;
    ss_server *srv = ss_server_new(&(ss_config){ .listen = url, .handler = &empty });
    CHECK(srv == NULL);
    CHECK_ERRNO(EADDRINUSE);
    char text[64];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "keep me\n");
}

/* ss_server_close removes the socket file it created... */
TEST(socket_file_removed_on_close)
{
    const char *path = h_path("mine.sock");
    char url[600];
    snprintf(url, sizeof url, "unix:%s", path);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    ss_server_close(srv);
    CHECK(!h_exists(path));
    snprintf(url, sizeof url, "unix-dgram:%s", path);
    srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    CHECK(h_exists(path));
    ss_server_close(srv);
    CHECK(!h_exists(path));
}

/* ...but not a file that replaced it meanwhile. */
TEST(replaced_socket_file_not_removed)
{
    const char *path = h_path("taken.sock");
    char url[600];
    snprintf(url, sizeof url, "unix:%s", path);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    CHECK_EQ_INT(unlink(path), 0);
    h_append_file(path, "someone else's\n");
    ss_server_close(srv);
    CHECK(h_exists(path));
    char text[64];
    CHECK_GT(h_read_file(path, text, sizeof text), 0);
    CHECK_EQ_STR(text, "someone else's\n");
    unlink(path);

    /* Another server's socket in its place is left alone too. */
    srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    CHECK_EQ_INT(unlink(path), 0);
    ss_server *other = h_server_new(&(ss_config){ .listen = url, .handler = &h_echo_line_handler });
    ss_server_close(srv);
    CHECK(h_exists(path));
    serve_one_exchange(other);
    ss_server_close(other);
    CHECK(!h_exists(path));
}

/* A relative path works and is reported as given. */
TEST(relative_path)
{
    CHECK_EQ_INT(chdir(h_tmpdir()), 0);
    ss_server *srv = h_server_new(&(ss_config){ .listen = "unix:rel.sock", .handler = &h_echo_line_handler });
    CHECK_EQ_STR(ss_server_url(srv), "unix:rel.sock");
    CHECK(h_exists(h_path("rel.sock")));
    serve_one_exchange(srv);
    ss_server_close(srv);
    CHECK(!h_exists(h_path("rel.sock")));
}

/* The directory must exist. */
TEST(missing_directory)
{
    errno = 0;
    CHECK(ss_server_new(&(ss_config){ .listen = h_url("unix:", "no/such/dir.sock"), .handler = &empty }) == NULL);
    CHECK_ERRNO(ENOENT);
}

/* ---- Abstract namespace ------------------------------------------------ */

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    CHECK_NOT_NULL(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void abstract_test(const char *scheme)
{
    CHECK_EQ_INT(chdir(h_tmpdir()), 0);
    char name[64], url[100];
    h_random_name(name, sizeof name, "@sockserv-test-");
    snprintf(url, sizeof url, "%s%s", scheme, name);
    ss_server *srv = h_server_new(&(ss_config){ .listen = url, .handler = &h_echo_line_handler });
    CHECK_EQ_STR(ss_server_url(srv), url);
    socklen_t len = 0;
    const struct sockaddr_un *sa = (const void *)ss_server_address(srv, &len);
    CHECK_NOT_NULL(sa);
    CHECK_EQ_INT(sa->sun_family, AF_UNIX);
    CHECK_EQ_INT(sa->sun_path[0], '\0');
    CHECK_EQ_INT(len, offsetof(struct sockaddr_un, sun_path) + strlen(name));
    CHECK_EQ_MEM(sa->sun_path + 1, name + 1, strlen(name) - 1);
    h_check_server_address(srv);
    /* No file anywhere near. */
    CHECK_EQ_INT(count_entries(h_tmpdir()), 0);
    serve_one_exchange(srv);
    /* A second server on the same name: EADDRINUSE. */
    errno = 0;
    CHECK(ss_server_new(&(ss_config){ .listen = url, .handler = &empty }) == NULL);
    CHECK_ERRNO(EADDRINUSE);
    ss_server_close(srv);
    CHECK_EQ_INT(count_entries(h_tmpdir()), 0);
    /* The name is free again. */
    srv = h_server_new(&(ss_config){ .listen = url, .handler = &empty });
    ss_server_close(srv);
}

TEST(abstract_stream) { abstract_test("unix:"); }
TEST(abstract_dgram) { abstract_test("unix-dgram:"); }

/* ---- Unnamed peers ------------------------------------------------------ */

static char peer_str[600];
static socklen_t peer_len = 99;

static int peer_handle(ss_request *req)
{
    snprintf(peer_str, sizeof peer_str, "%s", ss_request_peer_str(req));
    ss_request_peer(req, &peer_len);
    return 0;
}

/* An unnamed Unix client shows as "unix:#N" with an empty address. */
TEST(unnamed_peer)
{
    static const ss_handler h = { .handle = peer_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = h_url("unix:", "peer.sock"), .handler = &h });
    int c = h_connect(srv);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    CHECK_EQ_INT(strncmp(peer_str, "unix:#", 6), 0);
    char *end;
    long n = strtol(peer_str + 6, &end, 10);
    CHECK(end != peer_str + 6 && *end == '\0');
    CHECK_GE(n, 0);
    CHECK_EQ_INT(peer_len, 0);
    ss_server_close(srv);
}

/* The name an abstract-bound client gets: its bytes, length-delimited. */
static int bind_abstract(const char *name, size_t n)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    memcpy(a.sun_path + 1, name, n);
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), 0);
    return fd;
}

/* The peer string a client bound to `name` gets. */
static const char *peer_of(ss_server *srv, int c)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK_EQ_INT(connect(c, sa, len), 0);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    return peer_str;
}

/* A client picks its own name: it must not be able to put a line break, a
 * terminal escape, a space (a chat prefix ends at the first one) or a name
 * that looks like another client's (an address, the library's unix:#N)
 * into the text that names it. Control, non-ASCII, space and backslash
 * bytes come out as \xNN; abstract names start with "@", paths with "/"
 * or "./". */
TEST(client_chosen_names_escaped)
{
    static const ss_handler h = { .handle = peer_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = h_url("unix:", "peer.sock"), .handler = &h });
    static const struct {
        const char *name;
        size_t len;
        const char *shown;
    } cases[] = {
#define NAME(lit) (lit), sizeof(lit) - 1
        { NAME("evil\n127.0.0.1:5 forged"), "@evil\\x0a127.0.0.1:5\\x20forged" },
        { NAME("\x1b]0;title\x07\x1b[2J"), "@\\x1b]0;title\\x07\\x1b[2J" },
        { NAME("a\0b"), "@a\\x00b" },
        { NAME("back\\slash \xc3\xa9"), "@back\\x5cslash\\x20\\xc3\\xa9" },
        { NAME("127.0.0.1:80"), "@127.0.0.1:80" },
#undef NAME
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = peer_of(srv, bind_abstract(cases[i].name, cases[i].len));
        CHECK_EQ_STR(got, cases[i].shown);
    }
    /* A relative path that spells what the library calls unnamed peers. */
    CHECK_EQ_INT(chdir(h_tmpdir()), 0);
    CHECK_EQ_STR(peer_of(srv, bind_at("unix:#1", SOCK_STREAM, false)), "./unix:#1");
    CHECK_EQ_STR(peer_of(srv, bind_at("@x", SOCK_STREAM, false)), "./@x");
    ss_server_close(srv);
}

/* The same for a datagram client: its name is where the reply goes and
 * what the request is said to come from. */
TEST(client_chosen_names_escaped_dgram)
{
    static const ss_handler h = { .handle = peer_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = h_url("unix-dgram:", "peer.sock"), .handler = &h });
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    static const char name[] = "evil\n127.0.0.1:5 \x1b[2Jforged";
    int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    memcpy(a.sun_path + 1, name, sizeof name - 1);
    CHECK_EQ_INT(bind(c, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof name)), 0);
    CHECK_EQ_INT(sendto(c, "x", 1, 0, sa, len), 1);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    CHECK_EQ_STR(peer_str, "@evil\\x0a127.0.0.1:5\\x20\\x1b[2Jforged");
    CHECK_EQ_INT(chdir(h_tmpdir()), 0);
    c = bind_at("unix:#1", SOCK_DGRAM, false);
    CHECK_EQ_INT(sendto(c, "x", 1, 0, sa, len), 1);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    CHECK_EQ_STR(peer_str, "./unix:#1");
    ss_server_close(srv);
}

/* A named Unix client shows as its path. */
TEST(named_peer)
{
    static const ss_handler h = { .handle = peer_handle };
    ss_server *srv = h_server_new(&(ss_config){ .listen = h_url("unix:", "peer.sock"), .handler = &h });
    const char *me = h_path("client.sock");
    int c = bind_at(me, SOCK_STREAM, false);
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK_EQ_INT(connect(c, sa, len), 0);
    CHECK_EQ_INT(ss_handle_request(srv), 0);
    close(c);
    CHECK_EQ_STR(peer_str, me);
    CHECK_GT(peer_len, offsetof(struct sockaddr_un, sun_path));
    ss_server_close(srv);
}
