/* loops.h: a set of event loops, each on its own thread: the machinery the event and pool strategies share (internal). */
#ifndef SS_LOOPS_H
#define SS_LOOPS_H

#include "event/blocking.h"
#include "event/loop.h"
#include "event/queue.h"

/* The strategy state (srv->st_state) of the event and pool strategies. */
typedef struct ss__loops {
    ss__loop *loop;            /* n of them, `started` running */
    int n, started;
    atomic_uint next;          /* round robin for requests posted to the loops */
    ss__queue *feed;           /* pool: the bounded queue the loops take from */
    ss__blocking blocking;     /* event: helper threads for ss_run_blocking */
    atomic_uint refs;          /* owner + one per running loop: the last frees */
} ss__loops;

/* Start n loops for srv and make them srv->st_state. Their tasks get
 * coroutine stacks of `stack` bytes. feed_cap > 0: the loops also take new
 * requests from a shared queue of that capacity (ls->feed). 0 or -errno
 * (what was started is then left for ss__loops_close). */
int ss__loops_init(ss_server *srv, int n, size_t stack, int feed_cap);

/* Strategy operations, shared as they are. */
/* Loops leave once their tasks (and the feed) are done; a drain deadline
 * cuts those short. block: wait for them. */
void ss__loops_close(ss_server *srv, bool block);
void ss__loops_stats(const ss_server *srv, ss_stats *out);
/* Park the calling task on its loop (outside a task: poll). */
int ss__loops_wait_conn(ss_request *req, short events, int64_t deadline);
int ss__loops_wait_fd(ss_request *req, int fd, short events, int64_t deadline);
/* Accepting on (serve_begin) and off (serve_end: the loops stop soon;
 * release_listener: returns once no loop has the listener in its epoll). */
void ss__loops_serve_begin(ss_server *srv);
void ss__loops_serve_end(ss_server *srv);
void ss__loops_release_listener(ss_server *srv);
/* A slot freed below max_connections: loops stopped at the limit accept again. */
void ss__loops_accept_resume(ss_server *srv);

#endif
