/* redis_room.c: the chat room shared through Redis pub/sub: hiredis's async API on the broker's epoll (the adapter), a publisher and a subscriber, reconnection with backoff. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "logging.h"
#include "redis_room.h"
#include "room_internal.h"
#include "room_message.h"

_Static_assert(ROOM_MESSAGE_MAX_PEER == ROOM_MAX_PEER, "a message carries any peer the room has");
/* The subscriber's input not yet a whole message, at least: what another
 * client publishes there may be long, and is dropped once read; past this
 * (or twice our longest message) the connection is made again. */
#define MAX_PENDING_LEAST ((size_t)8 << 20)
/* A dropped message is reported at most this often (the first at once). */
#define DROP_REPORT_NS ((int64_t)60 * 1000000000)

enum link_role { PUBLISHER, SUBSCRIBER };

/* One connection to Redis, and its registration in the broker's epoll. The
 * two links live as long as the room; their hiredis context comes and
 * goes (NULL while down). */
struct link {
    struct redis_room *rr;
    enum link_role role;
    redisAsyncContext *ac;
    int fd;                  /* ac's socket, else -1 */
    uint32_t events;         /* what hiredis wants now (EPOLLIN, EPOLLOUT) */
    uint32_t registered;     /* what epoll has (0: not in the set) */
    bool flush;              /* commands were added: write them at the round's end */
    bool flushing;           /* writing them: a wish to write is for epoll */
    bool up;                 /* publisher: connected; subscriber: subscribed */
    int64_t deadline;        /* connecting or subscribing: give up at (ns) */
    int64_t retry_at;        /* down: connect again at (ns) */
    int64_t backoff;         /* the next wait after a failure (ns) */
    const char *why;         /* set before we close it ourselves */
    char whybuf[128];        /* hiredis's reason, kept past its context */
};

struct redis_room {
    struct room *room;
    int ep;
    struct room_url url;
    char name[sizeof "redis://[]:65535/" + INET6_ADDRSTRLEN + ROOM_HOST_MAX + ROOM_CHANNEL_MAX];
    size_t max_text;
    size_t max_message;      /* the longest well-formed message */
    size_t max_pending;      /* the subscriber's unread input allowed */
    struct link link[2];
    atomic_bool shared;
    bool said_lost;          /* the warning was printed; the notice is due when back */
    bool ever_shared;
    bool closing;            /* redis_room_free: hooks stay quiet */

    /* The publisher's commands sent or queued and not answered yet. */
    size_t pending_bytes;
    size_t pending;
    int64_t progress_at;     /* the last reply, or the first command after none */

    char *cmd;               /* one PUBLISH command, RESP: head, then the message */
    size_t cmdcap;
    size_t headlen;          /* "*3\r\n$7\r\nPUBLISH\r\n$N\r\nCHANNEL\r\n" */

    uint64_t dropped_lines;  /* not published: the backlog was full */
    uint64_t dropped_junk;   /* messages on the channel that are not ours */
    int64_t lines_said_at, junk_said_at;
};

bool redis_room_available(void)
{
    return true;
}

const char *redis_room_name(const struct redis_room *rr)
{
    return rr->name;
}

bool redis_room_shared(const struct redis_room *rr)
{
    return atomic_load_explicit(&rr->shared, memory_order_relaxed);
}

/* ---------------------------------------------------------------- the adapter */

/* Make the epoll registration match what hiredis wants, with a system
 * call only when that changes (hiredis asks to read after every read and
 * every write). A failure leaves the link to its deadline (connecting) or
 * to the stall check. */
static void link_update(struct link *l)
{
    struct epoll_event ev = { .events = l->events,
                              .data.u64 = (uint64_t)(uintptr_t)l | ROOM_REDIS_TAG };

    if (l->fd < 0 || l->events == l->registered)
        return;
    if (l->events == 0) {
        if (epoll_ctl(l->rr->ep, EPOLL_CTL_DEL, l->fd, NULL) == 0)
            l->registered = 0;
        return;
    }
    if (epoll_ctl(l->rr->ep, l->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev) == 0)
        l->registered = l->events;
}

static void add_read(void *arg)
{
    struct link *l = arg;

    l->events |= EPOLLIN;
    link_update(l);
}

static void del_read(void *arg)
{
    struct link *l = arg;

    l->events &= ~(uint32_t)EPOLLIN;
    link_update(l);
}

/* A connected link's new commands are written once per broker round
 * (redis_room_tick): the lines of a round go out in one write, and epoll
 * hears of it only when the socket cannot take them all. */
static void add_write(void *arg)
{
    struct link *l = arg;

    if (!l->flushing && l->ac && (l->ac->c.flags & REDIS_CONNECTED) && !(l->events & EPOLLOUT)) {
        l->flush = true;
        return;
    }
    l->events |= EPOLLOUT;
    link_update(l);
}

static void del_write(void *arg)
{
    struct link *l = arg;

    l->events &= ~(uint32_t)EPOLLOUT;
    link_update(l);
}

static void set_shared(struct redis_room *rr);

/* hiredis is about to free the context (a failure, Redis gone, or ours):
 * the socket is still open, so it leaves epoll here; the link is down and
 * is made again after its backoff. */
static void cleanup(void *arg)
{
    struct link *l = arg;
    struct redis_room *rr = l->rr;
    int64_t now = monotonic_ns();

    l->events = 0;
    link_update(l);
    l->flush = false;
    if (!l->why && l->ac)
        l->why = l->ac->errstr && l->ac->errstr[0] ? l->ac->errstr
                 : l->up                             ? "Redis closed the connection"
                                                     : "no answer";
    if (!rr->closing && !rr->said_lost) {
        /* Said once, until the room is shared again. */
        cli_log(LOG_WARNING, "room_redis",
                "chat: %s: %s %s: %s; serving this process's members only, reconnecting",
                rr->name, rr->ever_shared ? "lost Redis:" : "cannot reach Redis:",
                l->role == PUBLISHER ? "publisher" : "subscriber", l->why);
        rr->said_lost = true;
    }
    l->ac = NULL;
    l->fd = -1;
    l->registered = 0;
    l->up = false;
    l->why = NULL;
    l->deadline = 0;
    l->retry_at = now + l->backoff;
    l->backoff = l->backoff * 2 > (int64_t)ROOM_REDIS_RETRY_MAX_MS * 1000000
                     ? (int64_t)ROOM_REDIS_RETRY_MAX_MS * 1000000
                     : l->backoff * 2;
    if (!rr->closing)
        set_shared(rr);
}

/* The link works: its backoff starts over. */
static void link_up(struct link *l)
{
    l->up = true;
    l->deadline = 0;
    l->backoff = (int64_t)ROOM_REDIS_RETRY_FIRST_MS * 1000000;
    set_shared(l->rr);
}

/* Whether the room is shared follows the links; say when that changes. */
static void set_shared(struct redis_room *rr)
{
    bool now = rr->link[PUBLISHER].up && rr->link[SUBSCRIBER].up;

    if (now == redis_room_shared(rr))
        return;
    atomic_store_explicit(&rr->shared, now, memory_order_relaxed);
    if (!now)
        return;
    cli_log(LOG_NOTICE, "room_redis", "chat: room %s through %s",
            rr->ever_shared ? "shared again" : "shared", rr->name);
    rr->said_lost = false;
    rr->ever_shared = true;
}

/* ---------------------------------------------------------------- publishing */

/* PUBLISH's answer (an integer: how many subscribers got it), or NULL as
 * hiredis frees the context with the command unanswered. */
static void on_published(redisAsyncContext *ac, void *reply, void *arg)
{
    struct link *l = ac->data;
    struct redis_room *rr = l->rr;
    size_t bytes = (size_t)(uintptr_t)arg;
    const redisReply *r = reply;

    rr->pending_bytes -= bytes < rr->pending_bytes ? bytes : rr->pending_bytes;
    if (rr->pending > 0)
        rr->pending--;
    rr->progress_at = monotonic_ns();
    if (r && r->type == REDIS_REPLY_ERROR && !l->why) {
        /* -NOAUTH, -NOPERM, ...: this connection cannot publish. */
        l->why = "Redis refused PUBLISH";
        cli_log(LOG_WARNING, "room_redis", "chat: %s: Redis refused PUBLISH: %.*s", rr->name,
                (int)(r->len < 200 ? r->len : 200), r->str ? r->str : "");
        redisAsyncDisconnect(ac);
    }
}

/* Tell what was dropped: the first at once, then at most once a minute. */
static void say_dropped(struct redis_room *rr, uint64_t *count, int64_t *said_at, const char *what)
{
    int64_t now = monotonic_ns();

    ++*count;
    if (*said_at != 0 && now - *said_at < DROP_REPORT_NS)
        return;
    cli_log(LOG_WARNING, "room_redis", "chat: %s: %s (%llu so far)", rr->name, what,
            (unsigned long long)*count);
    *said_at = now;
}

enum redis_publish redis_room_publish(struct redis_room *rr, const char *peer, size_t plen,
                                      const char *text, size_t len)
{
    struct link *l = &rr->link[PUBLISHER];

    if (!redis_room_shared(rr) || !l->ac)
        return ROOM_LOCAL;
    if (plen == 0 || plen > ROOM_MAX_PEER || len > rr->max_text)
        return ROOM_DROPPED; /* never: the broker keeps both within these bounds */
    size_t msg = ROOM_MESSAGE_MAGIC_LEN + plen + 1 + len; /* within max_message */
    char *p = rr->cmd + rr->headlen;
    p += sprintf(p, "$%zu\r\n", msg);
    p += room_message_make(p, peer, plen, text, len);
    *p++ = '\r';
    *p++ = '\n';
    size_t n = (size_t)(p - rr->cmd);
    if (rr->pending_bytes > ROOM_REDIS_PUB_BACKLOG ||
        n > ROOM_REDIS_PUB_BACKLOG - rr->pending_bytes) {
        say_dropped(rr, &rr->dropped_lines, &rr->lines_said_at,
                    "Redis takes no more lines now: a line was dropped");
        return ROOM_DROPPED;
    }
    /* The command's size rides in hiredis's privdata, back in on_published. */
    void *size = (void *)(uintptr_t)n; /* NOLINT(performance-no-int-to-ptr): a size, never dereferenced */
    if (redisAsyncFormattedCommand(l->ac, on_published, size, rr->cmd, n) != REDIS_OK)
        return ROOM_LOCAL; /* closing: a line the members here still get */
    if (rr->pending == 0)
        rr->progress_at = monotonic_ns();
    rr->pending++;
    rr->pending_bytes += n;
    return ROOM_PUBLISHED;
}

/* ---------------------------------------------------------------- receiving */

/* A message from the channel, if it is one of ours: to every member here. */
static void take_message(struct redis_room *rr, const char *s, size_t n)
{
    struct room_message m;

    if (room_message_parse(s, n, rr->max_text, &m) == 0)
        room_deliver(rr->room, m.peer, m.plen, m.text, m.len);
    else
        say_dropped(rr, &rr->dropped_junk, &rr->junk_said_at,
                    "a message on the channel is not a chat line of sockserv's: dropped");
}

/* Every reply of the subscriber: SUBSCRIBE's confirmation, then the
 * channel's messages; NULL as hiredis frees the context. */
static void on_channel(redisAsyncContext *ac, void *reply, void *arg)
{
    struct link *l = arg;
    const redisReply *r = reply;

    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    const redisReply *kind = r->element[0], *data = r->element[2];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) {
        link_up(l);
        return;
    }
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
        if (data->type == REDIS_REPLY_STRING)
            take_message(l->rr, data->str, data->len);
        else
            say_dropped(l->rr, &l->rr->dropped_junk, &l->rr->junk_said_at,
                        "a message on the channel is not a chat line of sockserv's: dropped");
    }
}

/* ---------------------------------------------------------------- connections */

/* An error reply to the connection's first commands (-NOAUTH,
 * -WRONGPASS, -NOPERM, ...): this Redis will not take the link; said, and
 * made again after the backoff. */
static void refused(struct link *l, redisAsyncContext *ac, const char *command, const redisReply *r)
{
    snprintf(l->whybuf, sizeof l->whybuf, "Redis refused %s: %.*s", command,
             (int)(r->len < 80 ? r->len : 80), r->str ? r->str : "");
    l->why = l->whybuf;
    redisAsyncFree(ac); /* in a callback: hiredis frees it once we return */
}

/* AUTH's answer, when the environment gave credentials: an error ends the
 * link (the PING or SUBSCRIBE after it would be refused as well). */
static void on_auth(redisAsyncContext *ac, void *reply, void *arg)
{
    const redisReply *r = reply;

    if (r && r->type == REDIS_REPLY_ERROR)
        refused(arg, ac, "AUTH", r);
}

/* PING's answer: Redis serves (a connection alone says nothing of a
 * stopped Redis: the kernel accepts for it), and takes commands from us.
 * The publisher is then up; the subscriber waits for SUBSCRIBE's
 * confirmation (hiredis 0.14 drops an error answer to SUBSCRIBE: PING's
 * says why a Redis refuses us). */
static void on_pong(redisAsyncContext *ac, void *reply, void *arg)
{
    struct link *l = arg;
    const redisReply *r = reply;

    if (!r)
        return;
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) {
        if (l->role == PUBLISHER)
            link_up(l);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        refused(l, ac, "PING", r);
        return;
    }
    l->why = "not a Redis server? (PING got another answer)";
    redisAsyncFree(ac); /* in a callback: hiredis frees it once we return */
}

/* AUTH first when there are credentials; hiredis sends them as bulk
 * strings (%b), whatever bytes they hold. */
static int send_auth(struct link *l, redisAsyncContext *ac)
{
    const struct room_url *u = &l->rr->url;

    if (!u->password[0])
        return REDIS_OK;
    if (u->user[0])
        return redisAsyncCommand(ac, on_auth, l, "AUTH %b %b", u->user, strlen(u->user),
                                 u->password, strlen(u->password));
    return redisAsyncCommand(ac, on_auth, l, "AUTH %b", u->password, strlen(u->password));
}

/* Make the link's connection (the broker thread, in a tick). */
static void link_connect(struct link *l, int64_t now)
{
    struct redis_room *rr = l->rr;
    redisAsyncContext *ac = redisAsyncConnect(rr->url.addr, rr->url.port);

    l->retry_at = 0;
    if (!ac || ac->err) {
        snprintf(l->whybuf, sizeof l->whybuf, "%s", ac ? ac->errstr : "out of memory");
        l->why = l->whybuf;
        if (ac)
            redisAsyncFree(ac); /* no hooks yet: cleanup is not called */
        cleanup(l);         /* a failure like any other: backoff */
        return;
    }
    fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC); /* hiredis 0.14 makes it without */
    l->ac = ac;
    l->fd = ac->c.fd;
    l->events = 0;
    l->registered = 0;
    l->flush = false;
    l->deadline = now + (int64_t)ROOM_REDIS_STALL_MS * 1000000;
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    /* AUTH, PING, and on the subscriber SUBSCRIBE, all at once: the
     * publisher is up at PING's answer, the subscriber at SUBSCRIBE's. */
    int rc = send_auth(l, ac);
    if (rc == REDIS_OK)
        rc = redisAsyncCommand(ac, on_pong, l, "PING");
    if (rc == REDIS_OK && l->role == SUBSCRIBER)
        rc = redisAsyncCommand(ac, on_channel, l, "SUBSCRIBE %b", rr->url.channel, strlen(rr->url.channel));
    if (rc != REDIS_OK) {
        l->why = "out of memory";
        redisAsyncFree(ac);
    }
}

/* Close a link ourselves (not from a hiredis callback), saying why. */
static void link_close(struct link *l, const char *why)
{
    if (!l->ac)
        return;
    l->why = why;
    redisAsyncFree(l->ac); /* runs the pending callbacks, then cleanup */
}

void redis_room_ready(struct redis_room *rr, uint64_t tag, uint32_t events)
{
    struct link *l = (struct link *)(uintptr_t)(tag & ~ROOM_REDIS_TAG); /* NOLINT(performance-no-int-to-ptr): a tagged pointer in epoll data */

    (void)rr;
    if (!l->ac)
        return; /* closed earlier in this round */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(l->ac);
    if (l->ac && (events & EPOLLOUT))
        redisAsyncHandleWrite(l->ac);
    /* A message too long to be ours grows hiredis's buffer: stop it. */
    if (l->ac) {
        const redisReader *r = l->ac->c.reader;
        if (r && r->len - r->pos > l->rr->max_pending)
            link_close(l, "a message on the channel is far longer than a chat line");
    }
}

int redis_room_tick(struct redis_room *rr)
{
    int64_t now = monotonic_ns(), next = -1;

    for (int i = 0; i < 2; i++) {
        struct link *l = &rr->link[i];
        if (l->ac && l->flush) {
            l->flush = false;
            l->flushing = true;
            redisAsyncHandleWrite(l->ac); /* may end the link: cleanup */
            l->flushing = false;
        }
        if (!l->ac && l->retry_at <= now)
            link_connect(l, now);
        if (l->ac && l->deadline != 0 && l->deadline <= now)
            link_close(l, !(l->ac->c.flags & REDIS_CONNECTED) ? "no connection in time"
                          : l->role == SUBSCRIBER              ? "SUBSCRIBE not confirmed in time"
                                                               : "no answer to PING in time");
        if (l->ac && i == PUBLISHER && rr->pending > 0 &&
            now - rr->progress_at >= (int64_t)ROOM_REDIS_STALL_MS * 1000000)
            link_close(l, "Redis answers no PUBLISH (stalled?)");
        int64_t at = !l->ac           ? l->retry_at
                     : l->deadline    ? l->deadline
                     : i == PUBLISHER && rr->pending > 0
                         ? rr->progress_at + (int64_t)ROOM_REDIS_STALL_MS * 1000000
                         : -1;
        if (at >= 0 && (next < 0 || at < next))
            next = at;
    }
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* ---------------------------------------------------------------- life cycle */

struct redis_room *redis_room_new(const struct room_url *url, struct room *room, int ep,
                                  size_t max_text)
{
    struct redis_room *rr = calloc(1, sizeof *rr);
    size_t clen = strlen(url->channel);

    if (!rr)
        return NULL;
    rr->room = room;
    rr->ep = ep;
    rr->url = *url;
    rr->max_text = max_text;
    const char *open = strchr(url->host, ':') ? "[" : "", *close = *open ? "]" : "";
    snprintf(rr->name, sizeof rr->name, "redis://%s%s%s:%d/%s", open, url->host, close, url->port,
             url->channel);
    /* The message, its RESP head and the command's: all bounded. */
    if (__builtin_add_overflow(ROOM_MESSAGE_MAGIC_LEN + ROOM_MAX_PEER + 1, max_text,
                               &rr->max_message) ||
        __builtin_add_overflow(rr->max_message, (size_t)64 + clen + 64, &rr->cmdcap) ||
        __builtin_mul_overflow(rr->max_message, (size_t)2, &rr->max_pending)) {
        free(rr);
        errno = EMSGSIZE;
        return NULL;
    }
    if (rr->max_pending < MAX_PENDING_LEAST)
        rr->max_pending = MAX_PENDING_LEAST;
    rr->cmd = malloc(rr->cmdcap);
    if (!rr->cmd) {
        free(rr);
        errno = ENOMEM;
        return NULL;
    }
    rr->headlen = (size_t)sprintf(rr->cmd, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n", clen,
                                  url->channel);
    for (int i = 0; i < 2; i++)
        rr->link[i] = (struct link){ .rr = rr, .role = (enum link_role)i, .fd = -1,
                                     .backoff = (int64_t)ROOM_REDIS_RETRY_FIRST_MS * 1000000 };
    atomic_init(&rr->shared, false);
    return rr;
}

void redis_room_free(struct redis_room *rr)
{
    if (!rr)
        return;
    rr->closing = true;
    for (int i = 0; i < 2; i++)
        link_close(&rr->link[i], "stopping");
    free(rr->cmd);
    free(rr);
}

void redis_room_forget(struct redis_room *rr)
{
    if (!rr)
        return;
    for (int i = 0; i < 2; i++)
        if (rr->link[i].fd >= 0)
            close(rr->link[i].fd);
}
