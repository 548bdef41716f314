/* room.c: the chat room's life cycle (socketpair, epoll, broker thread) and its member list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chat_line.h"
#include "redis_room.h"
#include "room_internal.h"
#include "thread.h"

/* Ask for big socket buffers and check that the largest message fits. */
static int size_buffers(struct room *room)
{
    int want = ROOM_SOCKBUF, got = 0;
    socklen_t len = sizeof got;
    size_t need;

    /* Linux refuses a datagram bigger than the send buffer less a little. */
    if (__builtin_add_overflow(room->rxcap, (size_t)1024, &need))
        return -EMSGSIZE;
    setsockopt(room->tx, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    setsockopt(room->rx, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    if (getsockopt(room->tx, SOL_SOCKET, SO_SNDBUF, &got, &len) < 0)
        return -errno;
    if (got < 0 || (size_t)got < need)
        return -EMSGSIZE;
    return 0;
}

/* The buffers' sizes for texts of max_text bytes: a datagram (header, text,
 * and a byte to see one that is too long), and a formatted line, which must
 * fit a member's backlog. -EMSGSIZE when they do not fit. */
static int size_lines(struct room *room)
{
    size_t text;

    if (__builtin_add_overflow(sizeof(struct room_hdr) + 1, room->max_text, &room->rxcap) ||
        __builtin_mul_overflow(room->max_text, (size_t)CHAT_CLEAN_GROWTH, &text) ||
        __builtin_add_overflow(text, (size_t)ROOM_MAX_PEER + 2, &room->linecap) ||
        room->linecap > room->backlog)
        return -EMSGSIZE;
    return 0;
}

/* The room of this process (one: the program's). A fork happens only
 * while its broker waits for events (ss_fork_gate_enter). */
static _Atomic(struct room *) forking_room;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A forked child never uses the room's connections to Redis: closing its
 * copies lets Redis see them end when the broker closes its own. */
static void after_fork_child(void)
{
    struct room *room = atomic_load(&forking_room);
    if (room)
        redis_room_forget(room->redis);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

static void room_free(struct room *room)
{
    room_free_members(room);
    redis_room_free(room->redis); /* leaves the epoll set: before it closes */
    if (room->ep >= 0)
        close(room->ep);
    if (room->rx >= 0)
        close(room->rx);
    if (room->tx >= 0)
        close(room->tx);
    pthread_mutex_destroy(&room->lock);
    free(room->members);
    free(room->rxbuf);
    free(room->line);
    free(room);
}

struct room *room_start(size_t max_text, size_t backlog, const struct room_url *shared)
{
    struct room *room = calloc(1, sizeof *room);
    int sv[2], rc;

    if (!room)
        return NULL;
    room->tx = room->rx = room->ep = -1;
    room->max_text = max_text;
    room->backlog = backlog;
    atomic_init(&room->next_seq, 0);
    pthread_mutex_init(&room->lock, NULL);
    if ((rc = size_lines(room)) < 0)
        goto fail;
    room->rxbuf = malloc(room->rxcap);
    room->line = malloc(room->linecap);
    if (!room->rxbuf || !room->line) {
        rc = -ENOMEM;
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = -errno;
        goto fail;
    }
    room->tx = sv[0];
    room->rx = sv[1];
    if ((rc = size_buffers(room)) < 0)
        goto fail;
    room->ep = epoll_create1(EPOLL_CLOEXEC);
    if (room->ep < 0) {
        rc = -errno;
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(room->ep, EPOLL_CTL_ADD, room->rx, &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    if (shared && !(room->redis = redis_room_new(shared, room, room->ep, max_text))) {
        rc = -errno;
        goto fail;
    }
    if ((rc = helper_thread_start(&room->thread, room_broker, room)) < 0)
        goto fail;
    pthread_once(&atfork_once, install_atfork);
    atomic_store(&forking_room, room);
    return room;
fail:
    room_free(room);
    errno = -rc;
    return NULL;
}

void room_stop(struct room *room)
{
    struct room_hdr stop = { .type = MSG_STOP };

    if (!room)
        return;
    atomic_store(&forking_room, NULL);
    while (send(room->tx, &stop, sizeof stop, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
    pthread_join(room->thread, NULL);
    room_free(room);
}

char *room_list(struct room *room)
{
    size_t size = 64;
    char *out;

    pthread_mutex_lock(&room->lock);
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i]->fd >= 0)
            size += strlen(room->members[i]->peer) + 1;
    out = malloc(size);
    if (out) {
        size_t count = 0, used = 0;
        for (size_t i = 0; i < room->nmembers; i++) {
            const struct member *m = room->members[i];
            if (m->fd < 0)
                continue;
            used += (size_t)sprintf(out + used, "%s\n", m->peer);
            count++;
        }
        snprintf(out + used, size - used, "%zu client%s connected\n", count,
                 count == 1 ? "" : "s");
    }
    if (out && room->redis) {
        /* The console's words: shared or not, right now. */
        const char *state = redis_room_shared(room->redis)
                                ? "shared through"
                                : "not shared right now (members of this process only), "
                                  "reconnecting to";
        char *all = NULL;
        if (asprintf(&all, "%sroom %s %s\n", out, state, redis_room_name(room->redis)) < 0)
            all = NULL;
        free(out);
        out = all;
    }
    pthread_mutex_unlock(&room->lock);
    return out;
}
