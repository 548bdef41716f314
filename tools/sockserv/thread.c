/* thread.c: helper threads that never take SIGINT or SIGTERM (they go to the main thread). */
#include <signal.h>

#include "thread.h"

int helper_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}
