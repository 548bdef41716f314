/* blocking.c: a few helper threads (started on demand) that run blocking calls for suspended tasks. */
#include "event/blocking.h"

#include <stdlib.h>

struct ss__job {
    int (*fn)(void *);
    void *arg;
    int result;
    ss__task *task;
    ss__job *next;
};

int ss__blocking_init(ss__blocking *b, int max)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->max = max;
    b->tids = calloc((size_t)max, sizeof *b->tids);
    return b->tids ? 0 : -ENOMEM;
}

static void *helper(void *arg)
{
    ss__blocking *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->quit) {
            b->idle++;
            pthread_cond_wait(&b->cond, &b->lock);
            b->idle--;
        }
        ss__job *job = b->head;
        if (!job)
            break;
        b->head = job->next;
        if (!b->head)
            b->tail = NULL;
        pthread_mutex_unlock(&b->lock);
        job->result = job->fn(job->arg);
        ss__loop_finished(job->task->loop, job->task);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int ss__blocking_run(ss__blocking *b, ss__task *t, int (*fn)(void *), void *arg)
{
    ss__job job = {.fn = fn, .arg = arg, .task = t}; /* lives on the suspended task's stack */
    pthread_mutex_lock(&b->lock);
    if (b->idle == 0 && b->nthreads < b->max) {
        int rc = pthread_create(&b->tids[b->nthreads], NULL, helper, b);
        if (rc == 0)
            b->nthreads++;
        else if (b->nthreads == 0) {
            pthread_mutex_unlock(&b->lock);
            return -rc;
        }
    }
    /* The queue points into this stack until a helper has run the job and
     * resumed us: cppcheck cannot see that we wait for it. */
    if (b->tail)
        b->tail->next = &job;
    else
        b->head = &job; /* cppcheck-suppress autoVariables */
    b->tail = &job;     /* cppcheck-suppress autoVariables */
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    ss__task_suspend(t);
    return job.result;
}

void ss__blocking_destroy(ss__blocking *b)
{
    pthread_mutex_lock(&b->lock);
    b->quit = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->nthreads; i++)
        pthread_join(b->tids[i], NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b->tids);
}
