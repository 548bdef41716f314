/* test_ipv6.c: IPv6 servers ([::1]) and dual-stack ones ([::]) reachable from 127.0.0.1 and ::1. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <unistd.h>

static void need_ipv6(void)
{
    if (!h_have_ipv6())
        SKIP("this machine cannot bind the IPv6 loopback ::1");
}

static char seen_peer[80];
static atomic_int seen_count;

static int peer_echo(ss_request *req)
{
    snprintf(seen_peer, sizeof seen_peer, "%s", ss_request_peer_str(req));
    atomic_fetch_add(&seen_count, 1);
    return h_echo_line_handler.handle(req);
}

static const ss_handler peer_handler = { .handle = peer_echo };

/* Exchange a line with ip:port over `type` and return the peer text the server saw. */
static void exchange_via(const char *ip, int port, int type)
{
    int seen = atomic_load(&seen_count);
    int c = h_connect_ip(ip, port, type);
    h_send_str(c, "v6 test\n");
    char buf[64];
    ssize_t n = type == SOCK_STREAM ? h_recv_line(c, buf, sizeof buf, 5)
                                    : h_recv_timeout(c, buf, sizeof buf - 1, 5);
    CHECK_EQ_INT(n, 8);
    buf[n] = '\0';
    CHECK_EQ_STR(buf, "v6 test\n");
    close(c);
    CHECK(WAIT_FOR(atomic_load(&seen_count) == seen + 1, 5)); /* seen_peer is written */
}

static void loopback_test_s(const char *listen, const char *scheme, int type, ss_strategy strategy)
{
    need_ipv6();
    ss_server *srv = h_server_new(&(ss_config){ .listen = listen, .handler = &peer_handler,
                                                .strategy = strategy });
    h_check_server_address(srv);
    int port = h_server_port(srv);
    char want[64];
    snprintf(want, sizeof want, "%s://[::1]:%d", scheme, port);
    CHECK_EQ_STR(ss_server_url(srv), want);
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    exchange_via("::1", port, type);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
    /* The client's address text is bracketed: "[::1]:PORT". */
    CHECK_EQ_INT(strncmp(seen_peer, "[::1]:", 6), 0);
}

static void loopback_test(const char *listen, const char *scheme, int type)
{
    loopback_test_s(listen, scheme, type, SS_THREADING);
}

TEST(tcp_ipv6_loopback) { loopback_test("tcp://[::1]:0", "tcp", SOCK_STREAM); }
TEST(udp_ipv6_loopback) { loopback_test("udp://[::1]:0", "udp", SOCK_DGRAM); }
TEST(tcp_ipv6_loopback_pool) { loopback_test_s("tcp://[::1]:0", "tcp", SOCK_STREAM, SS_POOL); }
TEST(tcp_ipv6_loopback_event) { loopback_test_s("tcp://[::1]:0", "tcp", SOCK_STREAM, SS_EVENT); }
TEST(udp_ipv6_loopback_event) { loopback_test_s("udp://[::1]:0", "udp", SOCK_DGRAM, SS_EVENT); }

/* [::] listens on IPv4 and IPv6 both. */
static void dual_stack_test_s(const char *listen, const char *scheme, int type, ss_strategy strategy)
{
    need_ipv6();
    ss_server *srv = h_server_new(&(ss_config){ .listen = listen, .handler = &peer_handler,
                                                .strategy = strategy });
    h_check_server_address(srv);
    int port = h_server_port(srv);
    char want[64];
    snprintf(want, sizeof want, "%s://[::]:%d", scheme, port);
    CHECK_EQ_STR(ss_server_url(srv), want);
    h_serve s;
    h_serve_start(&s, srv, 0.01);
    exchange_via("::1", port, type);
    CHECK_EQ_INT(strncmp(seen_peer, "[::1]:", 6), 0);
    exchange_via("127.0.0.1", port, type);
    CHECK_MSG(strstr(seen_peer, "127.0.0.1") != NULL, "peer of an IPv4 client shown as %s", seen_peer);
    CHECK_EQ_INT(h_serve_stop(&s), 0);
    ss_server_close(srv);
}

static void dual_stack_test(const char *listen, const char *scheme, int type)
{
    dual_stack_test_s(listen, scheme, type, SS_SYNC);
}

TEST(tcp_dual_stack) { dual_stack_test("tcp://[::]:0", "tcp", SOCK_STREAM); }
TEST(udp_dual_stack) { dual_stack_test("udp://[::]:0", "udp", SOCK_DGRAM); }
TEST(tcp_dual_stack_event) { dual_stack_test_s("tcp://[::]:0", "tcp", SOCK_STREAM, SS_EVENT); }
TEST(udp_dual_stack_event) { dual_stack_test_s("udp://[::]:0", "udp", SOCK_DGRAM, SS_EVENT); }

/* An IPv4-only server is not reachable over IPv6. */
TEST(ipv4_only_not_on_ipv6)
{
    need_ipv6();
    ss_server *srv = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &peer_handler });
    int port = h_server_port(srv);
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&a, sizeof a), -1);
    CHECK_ERRNO(ECONNREFUSED);
    close(fd);
    ss_server_close(srv);
}
