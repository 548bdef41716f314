/* thread.h: starting helper threads that leave SIGINT and SIGTERM to the main thread, or every signal to the others. */
#ifndef SOCKSERV_THREAD_H
#define SOCKSERV_THREAD_H

#include <pthread.h>

/* pthread_create() with SIGINT and SIGTERM blocked in the new thread.
 * Returns 0 or -errno. */
int helper_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* pthread_create() with every signal blocked in the new thread (and so in
 * the threads it makes): a thread that must not take a signal meant for
 * the process (the supervisor reads its own from a signalfd). Returns 0
 * or -errno. */
int quiet_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
