/* chat.c: the chat handler: each line the client sends goes to the room, which relays it (to a TLS member through its request: relay.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chat_line.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "relay.h"
#include "room.h"

/* What a request keeps between its hooks. */
struct chatter {
    struct room *room;
    uint64_t id;
    int ack;                 /* our end of a socket pair with the broker: it
                                writes there when done with us after LEAVE,
                                and sees it close if this process dies */
    struct relay *relay;     /* TLS: the room's lines come through it; NULL
                                otherwise (the broker writes to the client) */
    char *in;                /* TLS: the client's input not yet a whole line */
    size_t inlen, incap;
};

/* Longest wait for the broker after LEAVE: its own limit, and a margin. */
#define LEAVE_WAIT_SECS (ROOM_LEAVE_SECS + 2.0)

static void chatter_free(struct chatter *c)
{
    relay_close(c->relay);
    close(c->ack);
    free(c->in);
    free(c);
}

static int chat_setup(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    struct chatter *c = calloc(1, sizeof *c);
    int out = -1, rc;

    if (!c)
        return -ENOMEM;
    c->room = app->room;
    c->id = room_new_id(c->room);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
        int err = -errno;
        free(c);
        return ss_request_fail(req, err, "cannot join the chat room: %s", ss_strerror(err));
    }
    c->ack = pair[0];
    if (ss_request_is_tls(req) && (rc = relay_open(req, &c->relay, &out)) < 0) {
        close(pair[1]);
        chatter_free(c);
        return ss_request_fail(req, rc, "cannot join the chat room: %s", ss_strerror(rc));
    }
    rc = room_join(c->room, req, c->id, ss_request_fd(req), out, pair[1],
                   ss_request_peer_str(req));
    close(pair[1]); /* the broker has its copies */
    if (out >= 0)
        close(out);
    if (rc < 0) {
        chatter_free(c);
        return ss_request_fail(req, rc, "cannot join the chat room: %s", ss_strerror(rc));
    }
    ss_request_set_data(req, c);
    return 0;
}

static int too_long(ss_request *req, size_t max_line)
{
    return ss_request_fail(req, -EMSGSIZE, "line longer than %zu bytes", max_line);
}

/* One line as ss_readline_ref() gives it (n > 0 bytes, its '\n' included
 * unless the input ended first) to the room. Returns 1 to read on, 0 when
 * the client said quit, or -errno. */
static int take_line(ss_request *req, const struct chatter *c, size_t max_line, const char *line,
                     size_t n)
{
    size_t len;
    enum chat_line kind = chat_line_frame(line, n, max_line, &len);

    if (kind == CHAT_LINE_QUIT)
        return 0;
    if (kind == CHAT_LINE_LONG)
        return too_long(req, max_line);
    int rc = room_say(c->room, req, c->id, line, len);
    if (rc < 0)
        return ss_request_fail(req, rc, "cannot reach the chat room: %s", ss_strerror(rc));
    return 1;
}

/* The broker writes to the client: read lines, that is all. */
static int chat_handle_plain(ss_request *req, const struct chatter *c, size_t max_line)
{
    const char *line;
    ssize_t n;
    size_t lines = 0;

    while ((n = ss_readline_ref(req, &line, line_read_max(max_line))) > 0) {
        int rc = take_line(req, c, max_line, line, (size_t)n);
        if (rc <= 0)
            return rc;
        lines++;
    }
    if (line_silent_reset(req, n, lines))
        return 0;
    return n == -EMSGSIZE ? too_long(req, max_line) : (int)n;
}

/* Append n bytes of input to c->in (it holds less than a line's limit
 * before: take_lines). 0 or -ENOMEM. */
static int buffer_input(struct chatter *c, const char *data, size_t n)
{
    if (c->incap - c->inlen < n) {
        size_t cap = c->inlen + n;
        char *grown = realloc(c->in, cap);
        if (!grown)
            return -ENOMEM;
        c->in = grown;
        c->incap = cap;
    }
    memcpy(c->in + c->inlen, data, n);
    c->inlen += n;
    return 0;
}

/* The whole lines of c->in to the room, as chat_handle_plain reads them
 * (a line of max bytes without its '\n' is too long). Returns 1 to read
 * on, 0 when the client said quit, or -errno; *lines counts those taken. */
static int take_lines(ss_request *req, struct chatter *c, size_t max_line, size_t *lines)
{
    size_t max = line_read_max(max_line), used = 0;
    int rc = 1;

    *lines = 0;
    while (rc > 0) {
        size_t look = c->inlen - used < max ? c->inlen - used : max;
        const char *nl = memchr(c->in + used, '\n', look);
        if (!nl) {
            if (look == max)
                rc = too_long(req, max_line);
            break;
        }
        size_t n = (size_t)(nl - (c->in + used)) + 1;
        rc = take_line(req, c, max_line, c->in + used, n);
        used += n;
        ++*lines;
    }
    memmove(c->in, c->in + used, c->inlen - used);
    c->inlen -= used;
    if (c->inlen == 0) { /* a member waiting for input holds no buffer */
        free(c->in);
        c->in = NULL;
        c->incap = 0;
    }
    return rc;
}

/* The member reads its client's input and writes the room's lines to the
 * client, whichever comes: the time limit of a line (request_timeout)
 * runs, as for ss_readline_ref(), from the end of the line before. */
static int chat_handle_tls(ss_request *req, struct chatter *c, size_t max_line)
{
    double limit = ss_server_config(ss_request_server(req))->request_timeout;
    double by = limit > 0 ? monotonic_secs() + limit : 0;
    int rc;

    for (;;) {
        if ((rc = relay_wait(c->relay, req, by)) <= 0)
            break;
        const char *data;
        ssize_t n = relay_read(c->relay, req, &data);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        size_t lines;
        if ((rc = buffer_input(c, data, (size_t)n)) < 0 ||
            (rc = take_lines(req, c, max_line, &lines)) <= 0)
            return rc;
        if (lines > 0 && limit > 0)
            by = monotonic_secs() + limit;
    }
    if (rc == 0 && c->inlen > 0) { /* the last line, without its '\n' */
        rc = take_line(req, c, max_line, c->in, c->inlen);
        return rc < 0 ? rc : 0;
    }
    /* Dropped by the room (its connection shut down, as over tcp://, where
     * the read then meets the end of input): no failure of ours. */
    if (rc < 0 && rc != -ECANCELED && relay_closed(c->relay))
        return 0;
    return rc;
}

static int chat_handle(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    struct chatter *c = ss_request_data(req);

    return c->relay ? chat_handle_tls(req, c, app->max_line)
                    : chat_handle_plain(req, c, app->max_line);
}

/* Wait until the broker has sent what it queued for us, since the
 * connection is shut down once finish returns. ss_wait_fd() yields to an
 * event loop (or polls, elsewhere) and ends at a drain deadline; `ack` is
 * non-blocking, so reading it never blocks either. */
static void wait_broker(ss_request *req, int ack)
{
    double give_up = monotonic_secs() + LEAVE_WAIT_SECS;
    uint64_t count;

    for (;;) {
        if (read(ack, &count, sizeof count) == (ssize_t)sizeof count) {
            ss_request_count_bytes(req, 0, count); /* the room's lines it wrote */
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return;
        double left = give_up - monotonic_secs();
        if (left <= 0 || ss_wait_fd(req, ack, POLLIN, left) < 0)
            return;
    }
}

static int chat_finish(ss_request *req)
{
    struct chatter *c = ss_request_data(req);
    int rc = room_leave(c->room, req, c->id);

    if (rc == 0 && c->relay) {
        /* What the room still has for us goes out through us; then our end
         * closes, so a broker still writing to it gives up at once. */
        relay_drain(c->relay, req, monotonic_secs() + LEAVE_WAIT_SECS);
        relay_close(c->relay);
        c->relay = NULL;
    }
    if (rc == 0)
        wait_broker(req, c->ack);
    ss_request_set_data(req, NULL);
    chatter_free(c);
    return rc < 0 ? ss_request_fail(req, rc, "cannot leave the chat room: %s", ss_strerror(rc))
                  : 0;
}

const ss_handler chat_handler = { .setup = chat_setup, .handle = chat_handle,
                                  .finish = chat_finish };
