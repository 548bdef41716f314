/* fork_gate.c: work that takes locks a forked child must not inherit held (OpenSSL's, an allocator's) and every fork of the process exclude each other: one lock, held by the work, taken by each fork first (pthread_atfork). */
#include "core/internal.h"

#include <pthread.h>

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    pthread_mutex_lock(&gate);
}

/* In both processes: in the child, the forking thread (its only one) holds it. */
static void after_fork(void)
{
    pthread_mutex_unlock(&gate);
}

static void install(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

void ss_fork_gate_enter(void)
{
    pthread_once(&installed, install);
    pthread_mutex_lock(&gate);
}

void ss_fork_gate_leave(void)
{
    pthread_mutex_unlock(&gate);
}
