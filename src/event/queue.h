/* queue.h: a bounded queue of new requests that several event loops take from (the pool's feed; internal). */
#ifndef SS_QUEUE_H
#define SS_QUEUE_H

#include "core/internal.h"

/* The ring is guarded by `lock`; `efd` (an eventfd) is readable exactly
 * while the ring holds a request, so loops wait for it in their epoll
 * (level-triggered, EPOLLEXCLUSIVE: one idle loop is woken per signal). */
typedef struct ss__queue {
    pthread_mutex_t lock;
    pthread_cond_t room;       /* signalled when a request is taken */
    ss_request **ring;
    int cap, head, len;
    int efd;
} ss__queue;

/* 0, or -errno (the queue is then safe to destroy). */
int ss__queue_init(ss__queue *q, int cap);
/* Append req. While the queue is full, wait for room, unless *stop is (or
 * becomes) set: then the queue grows, so a stop is never held up (a stop
 * from a signal handler, which cannot signal a condition, is noticed
 * within 50 ms). 0, or -ENOMEM (req is left to the caller). */
int ss__queue_push(ss__queue *q, ss_request *req, const atomic_bool *stop);
/* Take the oldest request, or NULL when there is none. When more remain,
 * wakes another idle loop to take the next. */
ss_request *ss__queue_take(ss__queue *q);
void ss__queue_destroy(ss__queue *q);

#endif
