/* fork_gate.c: one lock that a helper thread holds while it works and that every fork of the program takes first (pthread_atfork). */
#include <pthread.h>

#include "fork_gate.h"

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

void fork_gate_enter(void)
{
    pthread_once(&installed, install);
    pthread_mutex_lock(&gate);
}

void fork_gate_leave(void)
{
    pthread_mutex_unlock(&gate);
}
