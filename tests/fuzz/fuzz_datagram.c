/* fuzz_datagram.c: fuzz target: the datagram path (unix-dgram and udp): a packet in, read by a script, echoed back as the reply. */
#include "fuzz.h"

#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <netinet/in.h>

/* Who sends: a Unix client with an (autobound) address, one without (the
 * reply has nowhere to go), a UDP client. */
enum client_kind { UNIX_BOUND, UNIX_UNBOUND, UDP, CLIENT_KINDS };
static const size_t packet_sizes[] = {1, 100, SS__DEFAULT_PACKET}; /* max_packet_size */
#define PACKET_SIZES (sizeof packet_sizes / sizeof packet_sizes[0])
#define MAX_SENT 60000 /* below UDP's limit: longer inputs are cut */

/* The current input, as the handler and handle_error see it. */
static struct {
    fuzz_ctl *ctl;
    enum client_kind kind;
    const uint8_t *packet;
    size_t len, echoed;
    bool empty_write;                  /* the handler starts with ss_write(req, "", 0) */
    int handled, errors, err;
} cur;

static void echo_piece(ss_request *req, const char *p, size_t n)
{
    ssize_t w = ss_write(req, p, n);
    FUZZ_CHECK(w == (ssize_t)n, "ss_write of %zu bytes: %zd", n, w);
}

static int echo_handle(ss_request *req)
{
    const char *peer = ss_request_peer_str(req);
    cur.handled++;
    FUZZ_CHECK(ss_request_is_datagram(req), "the request is not a datagram");
    FUZZ_CHECK(cur.kind == UDP ? strncmp(peer, "127.0.0.1:", 10) == 0
               : cur.kind == UNIX_BOUND ? peer[0] == '@' : strncmp(peer, "unix:#", 6) == 0,
               "peer '%s' for client kind %d", peer, cur.kind);
    if (cur.empty_write) /* a reply, even if empty */
        FUZZ_CHECK(ss_write(req, "", 0) == 0, "an empty ss_write failed");
    cur.echoed = fuzz_read_script(req, cur.packet, cur.len, cur.ctl, NULL, echo_piece);
    return 0;
}

static void record_error(ss_server *srv, ss_request *req, int err)
{
    (void)srv;
    (void)req;
    cur.errors++;
    cur.err = err;
}

static const ss_handler echo_handler = {.handle = echo_handle};

/* One server per transport and packet size, made on first use. */
static ss_server *server(bool udp, size_t size_index)
{
    static ss_server *servers[2][PACKET_SIZES];
    ss_server **srv = &servers[udp][size_index];
    if (*srv)
        return *srv; /* cppcheck-suppress identicalInnerCondition ; a false positive of cppcheck 2.10 */
    char url[64];
    if (udp)
        snprintf(url, sizeof url, "udp://127.0.0.1:0");
    else
        snprintf(url, sizeof url, "unix-dgram:@sockserv-fuzz-dgram-%d-%zu", (int)getpid(), size_index);
    ss_config cfg = {.listen = url, .handler = &echo_handler, .strategy = SS_SYNC,
                     .max_packet_size = packet_sizes[size_index], .handle_error = record_error};
    *srv = ss_server_new(&cfg);
    FUZZ_CHECK(*srv, "ss_server_new(%s): %s", url, strerror(errno));
    return *srv;
}

static int client(enum client_kind kind)
{
    static int fds[CLIENT_KINDS];
    static bool made[CLIENT_KINDS];
    if (made[kind])
        return fds[kind];
    int fd = socket(kind == UDP ? AF_INET : AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    if (kind == UNIX_BOUND) { /* just the family: the kernel picks an abstract name */
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        FUZZ_CHECK(bind(fd, (struct sockaddr *)&un, sizeof un.sun_family) == 0, "autobind: %s", strerror(errno));
    } else if (kind == UDP) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        FUZZ_CHECK(bind(fd, (struct sockaddr *)&in, sizeof in) == 0, "bind: %s", strerror(errno));
    }
    fds[kind] = fd;
    made[kind] = true;
    return fd;
}

static void wait_readable(int fd, const char *what)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    FUZZ_CHECK(poll(&p, 1, 10000) == 1, "%s: nothing to read after 10 s", what);
}

static void expect_no_reply(int fd)
{
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);
    FUZZ_CHECK(n < 0 && errno == EAGAIN, "an unexpected reply (%zd)", n);
}

/* Input: byte 0 = n, n control bytes (client kind, packet size limit, read
 * buffer size, an empty write first or not; read calls and their sizes),
 * then the packet. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctl ctl;
    const uint8_t *packet;
    size_t len;

    fuzz_split(data, size, &ctl, &packet, &len);
    if (len > MAX_SENT)
        len = MAX_SENT;
    unsigned b = fuzz_ctl_byte(&ctl);
    enum client_kind kind = (enum client_kind)(b % CLIENT_KINDS);
    size_t size_index = (b / CLIENT_KINDS) % PACKET_SIZES;
    ss_server *srv = server(kind == UDP, size_index);
    srv->cfg.rbufsize = b & 0x80 ? 7 : SS__DEFAULT_RBUFSIZE; /* where reads bypass the buffer */
    int fd = client(kind);
    memset(&cur, 0, sizeof cur);
    cur.ctl = &ctl;
    cur.kind = kind;
    cur.packet = packet;
    cur.len = len;
    cur.empty_write = b & 0x40;

    socklen_t alen;
    const struct sockaddr *addr = ss_server_address(srv, &alen);
    ssize_t sent = sendto(fd, packet, len, 0, addr, alen);
    FUZZ_CHECK(sent == (ssize_t)len, "sendto of %zu bytes: %zd (%s)", len, sent, strerror(errno));
    wait_readable(ss_server_fd(srv), "server");
    int rc = ss__handle_one(srv);
    FUZZ_CHECK(rc == 0, "ss__handle_one: %d", rc);

    /* Too big: reported, never handled. Otherwise handled; a reply is due
     * if the handler wrote, and fails for a client without an address. */
    bool fits = len <= packet_sizes[size_index];
    bool wrote = cur.empty_write || cur.echoed > 0;
    bool unsendable = kind == UNIX_UNBOUND && wrote;
    int want = !fits ? -EMSGSIZE : unsendable ? -ENOTCONN : 0;
    FUZZ_CHECK(cur.handled == fits && cur.errors == (want != 0) && cur.err == want,
               "a %zu-byte packet (limit %zu, client kind %d, %zu bytes written): handled %d, errors %d (last %d)",
               len, packet_sizes[size_index], kind, cur.echoed, cur.handled, cur.errors, cur.err);
    if (fits && wrote && !unsendable) { /* the reply: what the script read, all unless it stopped early */
        char *reply = malloc(len + 1);
        FUZZ_CHECK(reply, "out of memory");
        wait_readable(fd, "client");
        ssize_t n = recv(fd, reply, len + 1, MSG_DONTWAIT | MSG_TRUNC);
        FUZZ_CHECK(n == (ssize_t)cur.echoed && memcmp(reply, packet, cur.echoed) == 0,
                   "reply of %zd bytes for %zu read of a %zu-byte packet", n, cur.echoed, len);
        free(reply);
    }
    expect_no_reply(fd);
    return 0;
}
