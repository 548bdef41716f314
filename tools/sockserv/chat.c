/* chat.c: the chat handler: each line the client sends goes to the room, which relays it. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chat_line.h"
#include "cli.h"
#include "line.h"
#include "room.h"

/* What a request keeps between its hooks. */
struct chatter {
    struct room *room;
    uint64_t id;
    int ack;                 /* our end of a socket pair with the broker: it
                                writes there when done with us after LEAVE,
                                and sees it close if this process dies */
};

/* Longest wait for the broker after LEAVE: its own limit, and a margin. */
#define LEAVE_WAIT_SECS (ROOM_LEAVE_SECS + 2.0)

static int chat_setup(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    struct chatter *c = malloc(sizeof *c);

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
    int rc = room_join(c->room, req, c->id, ss_request_fd(req), pair[1],
                       ss_request_peer_str(req));
    close(pair[1]); /* the broker has its copy */
    if (rc < 0) {
        close(c->ack);
        free(c);
        return ss_request_fail(req, rc, "cannot join the chat room: %s", ss_strerror(rc));
    }
    ss_request_set_data(req, c);
    return 0;
}

static int chat_handle(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    struct chatter *c = ss_request_data(req);
    const char *line;
    ssize_t n;

    while ((n = ss_readline_ref(req, &line, line_read_max(app->max_line))) > 0) {
        size_t len;
        enum chat_line kind = chat_line_frame(line, (size_t)n, app->max_line, &len);
        if (kind == CHAT_LINE_QUIT)
            return 0;
        if (kind == CHAT_LINE_LONG) {
            n = -EMSGSIZE;
            break;
        }
        int rc = room_say(c->room, req, c->id, line, len);
        if (rc < 0)
            return ss_request_fail(req, rc, "cannot reach the chat room: %s", ss_strerror(rc));
    }
    if (n == -EMSGSIZE)
        return ss_request_fail(req, -EMSGSIZE, "line longer than %zu bytes", app->max_line);
    return (int)n;
}

static double now_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until the broker has sent what it queued for us, since the
 * connection is shut down once finish returns. ss_wait_fd() yields to an
 * event loop (or polls, elsewhere) and ends at a drain deadline; `ack` is
 * non-blocking, so reading it never blocks either. */
static void wait_broker(ss_request *req, int ack)
{
    double give_up = now_secs() + LEAVE_WAIT_SECS;
    uint64_t count;

    for (;;) {
        if (read(ack, &count, sizeof count) == (ssize_t)sizeof count)
            return;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return;
        double left = give_up - now_secs();
        if (left <= 0 || ss_wait_fd(req, ack, POLLIN, left) < 0)
            return;
    }
}

static int chat_finish(ss_request *req)
{
    struct chatter *c = ss_request_data(req);
    int rc = room_leave(c->room, req, c->id);

    if (rc == 0)
        wait_broker(req, c->ack);
    ss_request_set_data(req, NULL);
    close(c->ack);
    free(c);
    return rc < 0 ? ss_request_fail(req, rc, "cannot leave the chat room: %s", ss_strerror(rc))
                  : 0;
}

const ss_handler chat_handler = { .setup = chat_setup, .handle = chat_handle,
                                  .finish = chat_finish };
