/* queue.c: the bounded queue of new requests shared by the pool's loops, with an eventfd that is readable while it holds any. */
#include "event/queue.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* How often a producer waiting for room looks at the stop flag (a stop
 * from a signal handler cannot signal the condition). */
#define STOP_CHECK_SECS 0.05

int ss__queue_init(ss__queue *q, int cap)
{
    q->efd = -1;
    q->cap = cap;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* timed waits in ss__now() time */
    pthread_cond_init(&q->room, &attr);
    pthread_condattr_destroy(&attr);
    q->ring = calloc((size_t)cap, sizeof *q->ring);
    if (!q->ring)
        return -ENOMEM;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return q->efd < 0 ? -errno : 0;
}

/* Wake one loop waiting for the queue (another signal while it is readable
 * already still wakes one more). */
static void signal_loops(ss__queue *q)
{
    ss__eventfd_wake(q->efd);
}

/* Stopping with a full queue: the request in hand still gets its place
 * (the serving loop ends right after, so this happens at most once or so). */
static int grow(ss__queue *q)
{
    int cap = q->cap * 2;
    ss_request **ring = malloc((size_t)cap * sizeof *ring);
    if (!ring)
        return -ENOMEM;
    for (int i = 0; i < q->len; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->head = 0;
    q->cap = cap;
    return 0;
}

int ss__queue_push(ss__queue *q, ss_request *req, const atomic_bool *stop)
{
    pthread_mutex_lock(&q->lock);
    while (q->len == q->cap && !atomic_load(stop)) {
        struct timespec at = ss__timespec(ss__deadline(STOP_CHECK_SECS));
        pthread_cond_timedwait(&q->room, &q->lock, &at);
    }
    if (q->len == q->cap && grow(q) < 0) {
        pthread_mutex_unlock(&q->lock);
        return -ENOMEM;
    }
    q->ring[(q->head + q->len) % q->cap] = req;
    if (q->len++ == 0)
        signal_loops(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

ss_request *ss__queue_take(ss__queue *q)
{
    ss_request *req = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->len > 0) {
        req = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_cond_signal(&q->room);
        if (q->len > 0) {
            signal_loops(q); /* pass it on: another idle loop takes the next */
        } else {
            uint64_t count;
            if (read(q->efd, &count, sizeof count) < 0) {
                /* EAGAIN cannot happen (len was > 0): nothing to undo. */
            }
        }
    }
    pthread_mutex_unlock(&q->lock);
    return req;
}

void ss__queue_destroy(ss__queue *q)
{
    free(q->ring);
    if (q->efd >= 0)
        close(q->efd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->room);
}
