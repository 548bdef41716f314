/* thread.c: helper threads that never take SIGINT or SIGTERM (they go to the main thread), or no signal at all. */
#include <signal.h>

#include "thread.h"

/* pthread_create() with the signals of `block` blocked in the new thread. */
static int start_blocking(const sigset_t *block, pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t old;

    pthread_sigmask(SIG_BLOCK, block, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

int helper_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    return start_blocking(&block, thread, fn, arg);
}

int quiet_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block;

    sigfillset(&block);
    return start_blocking(&block, thread, fn, arg);
}
