/* redis_room.h: the chat room shared through a Redis pub/sub channel: two hiredis connections on the broker's epoll. */
#ifndef SOCKSERV_REDIS_ROOM_H
#define SOCKSERV_REDIS_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "room_url.h"

/*
 * Every call below is made by the room's broker thread (redis_room_new and
 * redis_room_free by the thread that starts and stops the room, while the
 * broker does not run), except redis_room_shared(), which any thread may
 * call, and redis_room_forget(), for a forked child.
 *
 * The broker publishes its members' lines on the channel with one
 * connection and, subscribed with another, delivers what the channel
 * carries to its members (room_deliver(), in broker.c), its own lines
 * included: every member of every process sees one order, Redis's. While
 * either connection is down, the room is local: lines go straight to the
 * members of this process, and the connections are made again with
 * backoff (ROOM_REDIS_RETRY_FIRST_MS doubling to ROOM_REDIS_RETRY_MAX_MS).
 *
 * A message on the channel is
 *     "sockserv/1 " PEER " " TEXT
 * PEER the sender's name (1 to ROOM_MAX_PEER bytes from '!' to '~':
 * ss_request_peer_str() never gives a blank or a control byte) and TEXT the
 * member's raw text (at most the room's max_text bytes), cleaned by
 * chat_line_clean() where it is delivered as for a local line. Anything
 * else another client publishes there is dropped and counted.
 */
struct redis_room;
struct room;

#define ROOM_REDIS_RETRY_FIRST_MS 100
#define ROOM_REDIS_RETRY_MAX_MS 5000
/* A connection not made, or a SUBSCRIBE not confirmed, within this time is
 * given up (and made again); so is the publisher when Redis has answered
 * none of the PUBLISH commands waiting for this long. */
#define ROOM_REDIS_STALL_MS 3000
/* The most bytes of PUBLISH commands sent and not yet answered, or not
 * yet sent: past it a line is dropped (Redis is slow or stalled). */
#define ROOM_REDIS_PUB_BACKLOG ((size_t)4 << 20)

/* What redis_room_publish() did with a line. */
enum redis_publish {
    ROOM_PUBLISHED,         /* on its way: it comes back through the channel */
    ROOM_LOCAL,             /* not shared now: deliver it here */
    ROOM_DROPPED            /* shared, but the publisher's backlog is full */
};

/* Whether this program was built with hiredis. */
bool redis_room_available(void);
/* The room's link to Redis, `url` resolved (room_url_resolve), for lines
 * of at most max_text bytes; `ep` is the broker's epoll set. Nothing is
 * connected yet: the broker's first redis_room_tick() does. NULL with
 * errno set (ENOMEM; ENOTSUP when built without hiredis). */
struct redis_room *redis_room_new(const struct room_url *url, struct room *room, int ep,
                                  size_t max_text);
/* Close both connections (no message logged) and free. NULL is a no-op. */
void redis_room_free(struct redis_room *rr);
/* Whether the room is shared right now (both connections up). */
bool redis_room_shared(const struct redis_room *rr);
/* "redis://HOST:PORT/CHANNEL", for messages and the console. */
const char *redis_room_name(const struct redis_room *rr);
/* Publish a member's line: `peer` (plen bytes) said `text` (len bytes, at
 * most max_text). */
enum redis_publish redis_room_publish(struct redis_room *rr, const char *peer, size_t plen,
                                      const char *text, size_t len);
/* The broker's epoll said `events` for the connection registered with
 * `tag` (redis_room_tagged() is true of it). */
void redis_room_ready(struct redis_room *rr, uint64_t tag, uint32_t events);
/* Whether an epoll tag is one of this module's (bit ROOM_REDIS_TAG). */
#define ROOM_REDIS_TAG ((uint64_t)2)
static inline bool redis_room_tagged(uint64_t tag)
{
    return (tag & ROOM_REDIS_TAG) != 0;
}
/* Run what is due (connect, give up a stalled connection): the epoll_wait
 * timeout in ms until the next deadline, or -1 for none. */
int redis_room_tick(struct redis_room *rr);
/* In a forked child: close the connections' descriptors, without a word to
 * Redis or to hiredis (the child never touches them again). */
void redis_room_forget(struct redis_room *rr);

#endif
