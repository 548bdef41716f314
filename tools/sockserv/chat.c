/* chat.c: the chat handler: each line the client sends goes to the room, which relays it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "room.h"

/* What a request keeps between its hooks. */
struct chatter {
    struct room *room;
    uint64_t id;
    int ack;                 /* eventfd: the broker is done with us after LEAVE */
};

/* Longest wait for the broker after LEAVE: its own limit, and a margin. */
#define LEAVE_WAIT_SECS (ROOM_LEAVE_SECS + 2.0)

static bool is_quit(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    return len == 4 && memcmp(text, "quit", 4) == 0;
}

static int chat_setup(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    struct chatter *c = malloc(sizeof *c);

    if (!c)
        return -ENOMEM;
    c->room = app->room;
    c->id = room_new_id(c->room);
    c->ack = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->ack < 0) {
        int err = -errno;
        free(c);
        return ss_request_fail(req, err, "cannot join the chat room: %s", ss_strerror(err));
    }
    int rc = room_join(c->room, c->id, ss_request_fd(req), c->ack, ss_request_peer_str(req));
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
    struct chatter *c = ss_request_data(req);
    const char *line;
    ssize_t n;

    while ((n = ss_readline_ref(req, &line, CHAT_MAX_LINE + 1)) > 0) {
        size_t len = (size_t)n;
        if (line[len - 1] == '\n') {
            len--;
            if (len > 0 && line[len - 1] == '\r')
                len--;
        }
        if (is_quit(line, len))
            return 0;
        int rc = room_say(c->room, c->id, line, len);
        if (rc < 0)
            return ss_request_fail(req, rc, "cannot reach the chat room: %s", ss_strerror(rc));
    }
    if (n == -EMSGSIZE)
        return ss_request_fail(req, -EMSGSIZE, "line longer than %zu bytes", CHAT_MAX_LINE);
    return (int)n;
}

/* Wait until the broker has sent what it queued for us, since the
 * connection is shut down once finish returns. ss_sleep() lets the wait
 * yield to an event loop and ends at a drain deadline. */
static void wait_broker(ss_request *req, int ack)
{
    double step = 0.0002, waited = 0;
    uint64_t count;

    while (read(ack, &count, sizeof count) < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (waited >= LEAVE_WAIT_SECS || ss_sleep(req, step) < 0)
            return;
        waited += step;
        if (step < 0.02)
            step *= 2;
    }
}

static int chat_finish(ss_request *req)
{
    struct chatter *c = ss_request_data(req);
    int rc = room_leave(c->room, c->id);

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
