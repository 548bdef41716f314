/* room.h: the chat room: a broker thread that relays lines to every member. */
#ifndef SOCKSERV_ROOM_H
#define SOCKSERV_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "room_url.h"
#include "sockserv.h"

/*
 * The broker runs in a thread of the serving process and owns one end of a
 * Unix datagram socketpair. Handlers, in any thread or in a forked child,
 * talk to it only through the other end with room_join(), room_say() and
 * room_leave(); one sender's messages are handled in the order it sent them,
 * and the order the broker reads them is the order every member sees.
 * Only the broker writes to members' connections, never blocking: a member
 * whose pending output exceeds the backlog bound is disconnected.
 */
struct room;

/* The longest peer string kept: ss_request_peer_str() gives at most 511
 * bytes (non-printable bytes escaped), so none is ever cut. */
#define ROOM_MAX_PEER 512
/* How long the output still queued for a member that left may take. */
#define ROOM_LEAVE_SECS 3
/* How long a handler waits for room in the broker's queue before giving up
 * on a message (the broker never blocks, so only a flood makes it wait). */
#define ROOM_SEND_SECS 10.0

/* Create the room and start its broker thread. `max_text` is the longest
 * line room_say() takes; `backlog` the most bytes queued for one member;
 * `shared` (--room, resolved: room_url_resolve; NULL: none) the Redis
 * channel the room is shared through with other processes (redis_room.h),
 * which the broker connects to once it runs (the room is local until then,
 * and whenever Redis cannot be reached).
 * Returns NULL with errno set: EMSGSIZE when a line of max_text bytes does
 * not fit the backlog once formatted (its text may grow 3 times, see
 * chat_line_clean) or does not fit one datagram of the socket buffer the
 * system grants (net.core.wmem_max). */
struct room *room_start(size_t max_text, size_t backlog, const struct room_url *shared);
/* Stop the broker, wait for it, close every member's copy of its connection
 * and free the room. NULL is a no-op. Call only once no handler runs. */
void room_stop(struct room *room);

/* A member id unique across threads and forked children. */
uint64_t room_new_id(struct room *room);

/*
 * The three calls below are made by a request's hooks, under any strategy.
 * They never block the calling thread: a message that does not fit in the
 * broker's queue now is retried after ss_wait_fd(req, ...), which under the
 * event strategy yields to the loop (a blocking send would stall every
 * client of the loop) and elsewhere polls. They fail with -ETIMEDOUT after
 * ROOM_SEND_SECS, or -ECANCELED past a drain deadline.
 */
/* Enter the room: the broker takes a copy of `conn` (the client's
 * connection), which it writes the member's lines to, or, when `out` is
 * not -1, shuts down to end the member while it writes the lines to a copy
 * of `out` instead (a TLS member's relay: relay.h); `peer` to name the
 * member; and a copy of `ack`, one end of a Unix socket pair
 * (SOCK_SEQPACKET) whose other end the handler keeps: the broker writes 8
 * bytes to it once it is done with the member after room_leave(), the
 * count of bytes it wrote to `conn` (a uint64_t; 0 with `out`) (the
 * connection must stay open until then), and drops the member when the
 * handler's end closes without a LEAVE (its process died: kill -9 of a
 * forked child). Returns 0 or -errno. */
int room_join(struct room *room, ss_request *req, uint64_t id, int conn, int out, int ack,
              const char *peer);
/* Send a line (without its end of line) to every member, the sender
 * included, as "PEER TEXT\n", TEXT cleaned by chat_line_clean(). Returns 0
 * or -errno (-EMSGSIZE past max_text). */
int room_say(struct room *room, ss_request *req, uint64_t id, const char *text, size_t len);
/* Leave the room: no more lines go to the member; what is queued for it is
 * sent (for at most ROOM_LEAVE_SECS), then its `ack` is written to.
 * Returns 0 or -errno. */
int room_leave(struct room *room, ss_request *req, uint64_t id);

/* The connected members' peer strings, one a line, then a count line and,
 * with --room, whether the room is shared right now, in a malloc'd string
 * the caller frees; NULL with errno set when out of memory. */
char *room_list(struct room *room);

#endif
