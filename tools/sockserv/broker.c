/* broker.c: the chat room's broker thread: reads JOIN/SAY/LEAVE and writes to members. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chat_line.h"
#include "clock.h"
#include "logging.h"
#include "redis_room.h"
#include "room_internal.h"

#define MAX_EVENTS 64
#define MAX_FDS 8              /* fds taken from one message (a JOIN has two or three) */
#define ROUND_MESSAGES 256     /* messages read before looking at members again */

static struct member *find_member(const struct room *room, uint64_t id)
{
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i]->id == id)
            return room->members[i];
    return NULL;
}

/* epoll tags: a member's connection is tagged with the member itself, its
 * ack pair with the member's address plus this bit; a connection to Redis
 * with ROOM_REDIS_TAG (redis_room.h); the handlers' socket with 0. */
#define ACK_TAG ((uintptr_t)1)

/* Start or stop waiting for the member's connection to take more output. */
static int watch(struct room *room, struct member *m, bool on)
{
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = m };

    if (m->watched == on)
        return 0;
    if (epoll_ctl(room->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, m->fd, &ev) < 0)
        return -errno;
    m->watched = on;
    return 0;
}

/* Close the broker's copy of the member's connection (and relay pair) and
 * drop its output. `how` >= 0 shuts them down first, which ends the
 * member's handler even when other processes hold copies of the
 * connection (the relay pair's end first: a TLS member's handler then sees
 * that the room dropped it before its client's connection ends). */
static void drop(struct room *room, struct member *m, int how)
{
    if (m->fd < 0)
        return;
    watch(room, m, false);
    if (how >= 0) {
        shutdown(m->fd, how);
        if (m->conn >= 0)
            shutdown(m->conn, how);
    }
    pthread_mutex_lock(&room->lock);
    close(m->fd);
    m->fd = -1;
    pthread_mutex_unlock(&room->lock);
    if (m->conn >= 0)
        close(m->conn);
    m->conn = -1;
    outq_free(&m->out);
}

static void kick(struct room *room, struct member *m, const char *why)
{
    log_printf(LOG_WARNING, "chat_disconnect", "chat: disconnecting %s: %s", m->peer, why);
    drop(room, m, SHUT_RDWR);
}

/* Done with a member that left: tell its handler the bytes written to its
 * client's connection (none for a TLS member: its relay writes them), free
 * it after this round. */
static void retire(struct room *room, struct member *m)
{
    uint64_t sent = m->conn < 0 ? m->out.sent : 0;

    drop(room, m, -1);
    if (m->ack >= 0) {
        /* Explicitly: forked children may hold copies of the fd, which
         * would keep a closed fd's registration alive. */
        epoll_ctl(room->ep, EPOLL_CTL_DEL, m->ack, NULL);
        if (send(m->ack, &sent, sizeof sent, MSG_NOSIGNAL) < 0) {
            /* The handler is gone, or was told already: nothing to do. */
        }
    }
    m->next = room->dead;
    room->dead = m;
}

static void unlink_leaving(struct room *room, struct member *m)
{
    struct member **p = &room->leaving;

    while (*p && *p != m)
        p = &(*p)->next;
    if (*p)
        *p = m->next;
    m->leaving = false;
}

/* Whether n more bytes keep the member's queue within the backlog. */
static bool fits(const struct room *room, const struct member *m, size_t n)
{
    size_t pending = outq_pending(&m->out);

    return pending <= room->backlog && n <= room->backlog - pending;
}

/* Queue or send one formatted line to one member. */
static void deliver(struct room *room, struct member *m, const char *line, size_t n)
{
    int rc;

    if (!fits(room, m, n)) {
        rc = outq_flush(&m->out, m->fd);
        if (rc < 0) {
            drop(room, m, SHUT_RDWR);
            return;
        }
        if (!fits(room, m, n)) {
            kick(room, m, "it does not read its messages");
            return;
        }
    }
    rc = outq_write(&m->out, m->fd, line, n);
    if (rc == -ENOMEM)
        kick(room, m, "out of memory");
    else if (rc < 0)
        drop(room, m, SHUT_RDWR);
    else if (rc == 1 && watch(room, m, true) < 0)
        kick(room, m, "cannot wait for it");
    else if (rc == 0)
        watch(room, m, false);
}

/* The connection can take output again (or failed). */
static void member_ready(struct room *room, struct member *m, uint32_t events)
{
    if (m->fd < 0)
        return;
    int rc = outq_flush(&m->out, m->fd);
    bool failed = rc < 0 || (rc > 0 && (events & (EPOLLERR | EPOLLHUP)));
    if (m->leaving) {
        if (rc <= 0 || failed) {
            unlink_leaving(room, m);
            retire(room, m);
        }
    } else if (failed) {
        drop(room, m, SHUT_RDWR);
    } else if (rc == 0) {
        watch(room, m, false);
    }
}

static void on_join(struct room *room, uint64_t id, const char *peer, size_t len,
                    const int *fds, int nfds)
{
    struct member *m = NULL;
    char *name = NULL;

    if ((nfds != 2 && nfds != 3) || find_member(room, id)) {
        log_printf(LOG_ERROR, "chat_refused", "chat: cannot take %.*s: %s", (int)len, peer,
            nfds < 2 ? "its connection did not come through (out of fds?)"
            : nfds > 3 ? "it sent too many descriptors"
                       : "it joined twice");
        goto refuse;
    }
    m = calloc(1, sizeof *m);
    name = strndup(peer, len < ROOM_MAX_PEER ? len : ROOM_MAX_PEER);
    if (room->nmembers == room->capmembers) {
        size_t cap = room->capmembers ? room->capmembers * 2 : 16, size;
        struct member **grown = NULL;
        if (cap > room->capmembers && !__builtin_mul_overflow(cap, sizeof *grown, &size))
            grown = realloc(room->members, size);
        if (grown) {
            room->members = grown;
            room->capmembers = cap;
        }
    }
    if (!m || !name || room->nmembers == room->capmembers) {
        log_printf(LOG_ERROR, "chat_refused", "chat: cannot take %.*s: out of memory", (int)len, peer);
        goto refuse;
    }
    m->id = id;
    m->fd = nfds == 3 ? fds[2] : fds[0];
    m->conn = nfds == 3 ? fds[0] : -1;
    m->ack = fds[1];
    m->peer = name;
    /* The handler's end closing before a LEAVE: its process died. */
    struct epoll_event ev = { .events = EPOLLRDHUP, .data.u64 = (uintptr_t)m | ACK_TAG };
    if (epoll_ctl(room->ep, EPOLL_CTL_ADD, m->ack, &ev) < 0) {
        log_printf(LOG_ERROR, "chat_refused", "chat: cannot take %.*s: %s", (int)len, peer, strerror(errno));
        goto refuse;
    }
    pthread_mutex_lock(&room->lock);
    room->members[room->nmembers++] = m;
    pthread_mutex_unlock(&room->lock);
    return;
refuse:
    /* Shutting the connection (and a relay pair) down ends the handler
     * that sent the JOIN. */
    for (int i = 0; i < nfds; i += 2)
        shutdown(fds[i], SHUT_RDWR);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    free(m);
    free(name);
}

/* Relay a text to every member as "PEER TEXT\n": PEER is the server's
 * name for the sender (no blank, no control byte; checked again for a
 * line from Redis: redis_room.c), and TEXT comes cleaned
 * (chat_line_clean), so no member can make a line look like another's or
 * drive the others' terminals. room->line has room for the longest peer
 * and a text of max_text grown CHAT_CLEAN_GROWTH times. */
void room_deliver(struct room *room, const char *peer, size_t plen, const char *text, size_t len)
{
    if (plen > ROOM_MAX_PEER || len > room->max_text)
        return;
    memcpy(room->line, peer, plen);
    room->line[plen] = ' ';
    size_t n = plen + 1 + chat_line_clean(text, len, room->line + plen + 1);
    room->line[n++] = '\n';
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i]->fd >= 0)
            deliver(room, room->members[i], room->line, n);
}

/* A member's line: through the channel while the room is shared (it comes
 * back to us there, in the channel's order), else straight to the members
 * here. */
static void on_say(struct room *room, uint64_t id, const char *text, size_t len)
{
    const struct member *from = find_member(room, id);

    if (!from || len > room->max_text)
        return;
    size_t plen = strlen(from->peer); /* at most ROOM_MAX_PEER */
    if (room->redis && redis_room_publish(room->redis, from->peer, plen, text, len) != ROOM_LOCAL)
        return;
    room_deliver(room, from->peer, plen, text, len);
}

static void unlink_member(struct room *room, const struct member *m)
{
    size_t i;

    pthread_mutex_lock(&room->lock);
    for (i = 0; room->members[i] != m; i++)
        ;
    memmove(&room->members[i], &room->members[i + 1],
            (room->nmembers - i - 1) * sizeof room->members[0]);
    room->nmembers--;
    pthread_mutex_unlock(&room->lock);
}

static void on_leave(struct room *room, uint64_t id)
{
    struct member *m = find_member(room, id);

    if (!m)
        return;
    unlink_member(room, m);
    /* What was queued for it before it left is still its due. */
    if (m->fd >= 0 && outq_flush(&m->out, m->fd) == 1 && watch(room, m, true) == 0) {
        m->leave_by = monotonic_ns() + (int64_t)ROOM_LEAVE_SECS * 1000000000;
        m->leaving = true;
        m->next = room->leaving;
        room->leaving = m;
        return;
    }
    retire(room, m);
}

/* The member's handler is gone without a LEAVE (its process was killed):
 * nobody reads its client any more, so the client is disconnected. */
static void member_gone(struct room *room, struct member *m)
{
    if (m->leaving) {
        unlink_leaving(room, m);
    } else if (find_member(room, m->id) == m) {
        log_printf(LOG_WARNING, "chat_disconnect", "chat: disconnecting %s: its handler ended", m->peer);
        unlink_member(room, m);
        drop(room, m, SHUT_RDWR);
    } else {
        return; /* retired this round already */
    }
    retire(room, m);
}

/* Give up on leaving members whose output took too long. Returns the
 * epoll_wait timeout (ms) until the next deadline, -1 for none. */
static int expire_leaving(struct room *room)
{
    int64_t now = monotonic_ns(), next = -1;
    struct member *m = room->leaving;

    while (m) {
        struct member *after = m->next;
        if (m->leave_by <= now) {
            unlink_leaving(room, m);
            /* A TLS member's handler may be stuck writing to a client that
             * does not read: ending the connection frees it. */
            if (m->conn >= 0)
                shutdown(m->conn, SHUT_RDWR);
            retire(room, m);
        } else if (next < 0 || m->leave_by - now < next) {
            next = m->leave_by - now;
        }
        m = after;
    }
    return next < 0 ? -1 : (int)((next + 999999) / 1000000);
}

/* Take the fds a message carried into fds[]; returns their count. */
static int take_fds(struct msghdr *msg, int *fds)
{
    int count = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < n && count < MAX_FDS; k++)
            memcpy(&fds[count++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
    }
    return count;
}

/* Read and handle one message. Returns 1 on STOP, 0 when one was handled,
 * -errno (-EAGAIN: none waiting) otherwise. */
static int receive_one(struct room *room)
{
    struct room_hdr hdr;
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = room->rxbuf, .iov_len = room->rxcap };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    int fds[MAX_FDS];
    ssize_t n;

    do
        n = recvmsg(room->rx, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    int nfds = take_fds(&msg, fds);
    bool whole = (size_t)n >= sizeof hdr && !(msg.msg_flags & MSG_TRUNC);
    if (whole)
        memcpy(&hdr, room->rxbuf, sizeof hdr);
    if (!whole || (hdr.type != MSG_JOIN && nfds > 0)) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return 0;                       /* malformed: dropped */
    }
    const char *payload = room->rxbuf + sizeof hdr;
    size_t len = (size_t)n - sizeof hdr;
    switch (hdr.type) {
    case MSG_JOIN:
        on_join(room, hdr.id, payload, len, fds, nfds);
        break;
    case MSG_SAY:
        on_say(room, hdr.id, payload, len);
        break;
    case MSG_LEAVE:
        on_leave(room, hdr.id);
        break;
    case MSG_STOP:
        return 1;
    }
    return 0;
}

static void free_member(struct member *m)
{
    if (m->fd >= 0)
        close(m->fd);
    if (m->conn >= 0)
        close(m->conn);
    if (m->ack >= 0)
        close(m->ack);
    outq_free(&m->out);
    free(m->peer);
    free(m);
}

static void free_list(struct member **list)
{
    while (*list) {
        struct member *m = *list;
        *list = m->next;
        free_member(m);
    }
}

void room_free_members(struct room *room)
{
    free_list(&room->dead);
    free_list(&room->leaving);
    for (size_t i = 0; i < room->nmembers; i++)
        free_member(room->members[i]);
    room->nmembers = 0;
}

/* The broker's loop, entered and left holding the fork gate (it lets
 * forks through only while it waits for events). */
static void broker_loop(struct room *room)
{
    struct epoll_event events[MAX_EVENTS];
    int timeout = room->redis ? redis_room_tick(room->redis) : -1;

    for (;;) {
        ss_fork_gate_leave();
        int n = epoll_wait(room->ep, events, MAX_EVENTS, timeout);
        ss_fork_gate_enter();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cli_error("chat: epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            uintptr_t tag = (uintptr_t)events[i].data.u64;
            if (redis_room_tagged(tag)) {
                redis_room_ready(room->redis, tag, events[i].events);
                continue;
            }
            if (tag & ACK_TAG) {
                member_gone(room, (struct member *)(tag & ~ACK_TAG)); /* NOLINT(performance-no-int-to-ptr): a tagged pointer in epoll data */
                continue;
            }
            if (tag) {
                member_ready(room, (struct member *)tag, events[i].events); /* NOLINT(performance-no-int-to-ptr): a tagged pointer in epoll data */
                continue;
            }
            for (int k = 0; k < ROUND_MESSAGES; k++) {
                int rc = receive_one(room);
                if (rc == 1)
                    return;
                if (rc < 0)
                    break;
            }
        }
        timeout = expire_leaving(room);
        if (room->redis) {
            int redis = redis_room_tick(room->redis);
            if (redis >= 0 && (timeout < 0 || redis < timeout))
                timeout = redis;
        }
        free_list(&room->dead);
    }
}

void *room_broker(void *arg)
{
    struct room *room = arg;

    ss_fork_gate_enter();
    broker_loop(room);
    ss_fork_gate_leave();
    return NULL;
}
