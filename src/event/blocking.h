/* blocking.h: helper threads that run truly blocking calls for the event loops (internal). */
#ifndef SS_BLOCKING_H
#define SS_BLOCKING_H

#include "event/loop.h"

typedef struct ss__job ss__job;

typedef struct ss__blocking {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ss__job *head, *tail;
    pthread_t *tids;           /* max of them, started on demand */
    int max, nthreads, idle;
    bool quit;
} ss__blocking;

/* At most `max` helper threads. 0, or -ENOMEM. */
int ss__blocking_init(ss__blocking *b, int max);
/* From a task: run fn(arg) on a helper thread, suspending the task (its
 * loop serves others meanwhile). Returns fn's result, or -errno if no
 * helper thread could be had. */
int ss__blocking_run(ss__blocking *b, ss__task *t, int (*fn)(void *), void *arg);
/* Let the helpers finish their jobs and join them. */
void ss__blocking_destroy(ss__blocking *b);

#endif
