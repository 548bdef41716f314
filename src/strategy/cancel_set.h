/* cancel_set.h: the open blocking connections of a server, shut down at the drain deadline (see cancel_set.c; threading's). */
#ifndef SS_CANCEL_SET_H
#define SS_CANCEL_SET_H

#include "core/internal.h"

typedef struct ss__cancel_set ss__cancel_set;

/* A connection's place in a set, kept in its connection state. */
typedef struct ss__cancel_link {
    ss_request *req;
    ss__cancel_set *set;       /* NULL while in none */
    struct ss__cancel_link *prev, *next;
} ss__cancel_link;

/* Start the set and its thread (it holds a reference to srv). */
int ss__cancel_set_start(ss_server *srv, ss__cancel_set **out);
/* A connection opened: into the set (shut down at once if the deadline
 * has passed already). */
void ss__cancel_set_add(ss__cancel_set *cs, ss__cancel_link *link, ss_request *req);
/* Before the connection closes (its fd number may then be reused); a
 * no-op for a link in no set. */
void ss__cancel_set_remove(ss__cancel_link *link);
/* The server closes: no more adds. Returns at once; the set (and its
 * thread) lives on while connections remain, to cancel them at the drain
 * deadline, and goes away with the last one. */
void ss__cancel_set_close(ss__cancel_set *cs);

/* threading.c: the cancel set of a server of the threading strategy. */
ss__cancel_set *ss__threading_cancel_set(const ss_server *srv);

#endif /* SS_CANCEL_SET_H */
