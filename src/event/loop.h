/* loop.h: an event loop (epoll, timers, requests run as coroutines), the engine of the event and pool strategies (internal). */
#ifndef SS_LOOP_H
#define SS_LOOP_H

#include "core/internal.h"
#include "coro/coro.h"
#include "event/heap.h"
#include "event/queue.h"

typedef struct ss__loop ss__loop;

/* One request running as a coroutine on a loop. */
typedef struct ss__task {
    ss__coro *co;
    ss_request *req;
    ss__loop *loop;
    ss__heap_node timer;
    uint32_t wait_events;      /* epoll events that end the current wait */
    bool waiting;              /* suspended in a wait, not yet made ready */
    bool registered;           /* req->fd is in the loop's epoll (edge-triggered) */
    bool blocking;             /* inside ss_run_blocking(): not cancellable */
    bool trimmed;              /* its stack was trimmed since it last ran */
    unsigned ran_in;           /* the loop's sweep period when it last ran */
    int result;                /* what the wait returns */
    struct ss__task *next;     /* in the ready queue, the finished list or the spares */
    struct ss__task *prev_live, *next_live; /* in the loop's live list */
} ss__task;

/* A loop gets new requests from the listener (the event strategy: it
 * accepts them itself), from its inbox (ss__loop_post: requests accepted
 * elsewhere), and from a queue shared with other loops (the pool's feed).
 * A task stays on the loop that started it. */
struct ss__loop {
    ss_server *srv;
    void *owner;               /* the set of loops it belongs to */
    void (*on_exit)(ss__loop *loop); /* last thing the loop thread does */
    size_t stack_size;         /* of each task's coroutine */
    int epfd;
    int efd;                   /* eventfd: inbox, finished blocking calls, commands */
    pthread_t tid;
    atomic_bool quit;          /* leave once no task is left */

    /* Tasks. */
    ss__heap timers;
    ss__task *ready, *ready_tail;
    ss__task *spare;           /* finished tasks kept with their stacks */
    int nspare;
    ss__task *live;            /* every task alive on this loop */
    atomic_uint nlive;
    unsigned sweep_period;     /* idle stacks: trimmed once per period */
    int64_t sweep_at;          /* ns: the next period begins */

    /* From other threads, under lock. */
    pthread_mutex_t lock;
    ss_request **inbox;        /* requests handed over (ss__loop_post) */
    int inbox_len, inbox_cap;
    ss__task *finished;        /* tasks whose blocking call returned */

    /* Accepting (the event strategy): the listener in this loop's epoll. */
    struct {
        atomic_bool want;      /* serve_forever runs: accept */
        atomic_bool at_limit;  /* listener dropped at max_connections */
        atomic_uint want_gen;  /* bumped by whoever changes want and */
        atomic_uint ack_gen;   /* echoed by the loop once it applied it */
        bool on;               /* the listener is in epoll */
        bool shut;             /* shut down by a stop for good: never again */
        int64_t resume_at;     /* after EMFILE and friends (ns) */
    } accept;

    /* The pool: new requests from a queue shared by the loops. */
    struct {
        ss__queue *queue;      /* NULL: not fed */
        bool signalled;        /* its eventfd was readable in this turn */
    } feed;
};

/* Set srv, owner, on_exit, feed.queue and stack_size first. */
int ss__loop_init(ss__loop *loop);
int ss__loop_start(ss__loop *loop);
/* Ask the loop (from any thread) to apply accept.want/quit or read its inbox. */
void ss__loop_wake(ss__loop *loop);
/* From any thread, after a connection slot was freed (and a seq_cst fence):
 * a loop that stopped accepting at max_connections takes the listener back. */
void ss__loop_accept_resume(ss__loop *loop);
/* Hand a request to the loop from another thread. */
int ss__loop_post(ss__loop *loop, ss_request *req);
/* Start a task for req on the loop running this thread. */
void ss__loop_spawn(ss__loop *loop, ss_request *req);
/* The loop and task this thread runs, or NULL. */
ss__loop *ss__loop_current(void);
ss__task *ss__task_current(void);
/* Suspend the current task until its request's connection is ready (the
 * connection stays registered, edge-triggered, for all its waits), the
 * deadline, or a drain. */
int ss__task_wait_conn(ss__task *t, short events, int64_t deadline);
/* The same for any descriptor (waited on through a private duplicate,
 * one-shot; fd < 0: the deadline alone). */
int ss__task_wait_fd(ss__task *t, int fd, short events, int64_t deadline);
/* The task stays suspended until ss__loop_finished(); then returns. */
void ss__task_suspend(ss__task *t);
/* From any thread: the task's blocking call has returned. */
void ss__loop_finished(ss__loop *loop, ss__task *t);
/* Before the request's connection is closed: take it out of epoll. */
void ss__task_forget_fd(ss_request *req);
/* Free what the loop holds; the thread must have ended. */
void ss__loop_destroy(ss__loop *loop);

#endif
