/* thread.h: starting helper threads that leave SIGINT and SIGTERM to the main thread. */
#ifndef SOCKSERV_THREAD_H
#define SOCKSERV_THREAD_H

#include <pthread.h>

/* pthread_create() with SIGINT and SIGTERM blocked in the new thread.
 * Returns 0 or -errno. */
int helper_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
