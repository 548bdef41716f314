/* cancel_set.h: the open blocking connections of a server, shut down at the drain deadline (see cancel_set.c). */
#ifndef SS_CANCEL_SET_H
#define SS_CANCEL_SET_H

#include "core/internal.h"

typedef struct ss__cancel_set ss__cancel_set;

/* Start the set and its thread (it holds a reference to srv). */
int ss__cancel_set_start(ss_server *srv, ss__cancel_set **out);
/* A stream request's connection opened / is about to close. */
void ss__cancel_set_add(ss__cancel_set *cs, ss_request *req);
void ss__cancel_set_remove(ss__cancel_set *cs, ss_request *req);
/* The server closes: no more adds. Returns at once; the set (and its
 * thread) lives on while connections remain, to cancel them at the drain
 * deadline, and goes away with the last one. */
void ss__cancel_set_close(ss__cancel_set *cs);

#endif /* SS_CANCEL_SET_H */
