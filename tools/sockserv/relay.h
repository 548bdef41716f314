/* relay.h: a chat member over TLS: the room's lines come through a socket pair and its own request writes them to the client, since the broker cannot write TLS. */
#ifndef SOCKSERV_RELAY_H
#define SOCKSERV_RELAY_H

#include "sockserv.h"

/*
 * Over tcp:// and unix: the broker writes each member's lines straight to
 * its connection. A TLS connection's bytes can only come from its own
 * request (the TLS state lives there: in its thread, coroutine or forked
 * child), so a TLS member gives the broker one end of a socket pair
 * instead; the broker writes there, with the same backlog bound, and the
 * member's request copies what arrives to the client while it waits for
 * the client's input: both are watched through one epoll descriptor, on
 * which the request waits with ss_wait_fd().
 */
struct relay;

/* The pair and the wait set for req's client. *broker_end receives the
 * end to hand to the room (the caller closes its copy once handed over).
 * Returns 0 or -errno. */
int relay_open(ss_request *req, struct relay **out, int *broker_end);
/* Close the handler's ends. NULL is a no-op. */
void relay_close(struct relay *r);
/* Whether the room has closed its end of the pair: it dropped the member
 * (or is done with it after LEAVE). */
bool relay_closed(const struct relay *r);
/* Copy the room's lines to the client until the client's input may be
 * read (1), the room closed the pair or the client is gone (0: the end of
 * the member, as a closed connection is over tcp://), the
 * monotonic time `by` (clock.h) passed (-ETIMEDOUT; 0: no limit) or a
 * call failed (-errno: a write's, or -ECANCELED at a drain deadline). */
int relay_wait(struct relay *r, ss_request *req, double by);
/* After LEAVE: copy what the room still has for the client until it
 * closes the pair (0), until `by` (-ETIMEDOUT), or -errno. */
int relay_drain(struct relay *r, ss_request *req, double by);
/* Read the client's input: one TLS record at most, so that nothing it
 * holds stays unread behind the next wait (see relay.c). Returns as
 * ss_read1(). */
ssize_t relay_read(struct relay *r, ss_request *req, const char **data);

#endif
