/* signals.c: the program's signals: SIGINT/SIGTERM stop (ss_stop_on_signals), SIGUSR1 reports the counters (a helper thread waits for it), the rest that would end or stop it are ignored. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "signals.h"
#include "thread.h"

/* Signals whose default action would end or stop the server although
 * nobody asked for that: a closed terminal (SIGHUP, later "reload"), timers
 * and profilers aimed at the wrong process, SIGIO of a stray O_ASYNC, a
 * power event, a write past RLIMIT_FSIZE (the write fails with EFBIG
 * instead), a terminal in the background (a read fails with EIO instead,
 * a write goes through), a closed peer (SIGPIPE: sends fail with EPIPE). */
static const int ignored[] = {
    SIGHUP, SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGXFSZ, SIGTTIN, SIGTTOU,
#ifdef SIGPWR
    SIGPWR,
#endif
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
};
#define NIGNORED (sizeof ignored / sizeof ignored[0])

/* The reporter thread: the only one that takes SIGUSR1 (every thread keeps
 * it blocked; the reporter waits for it with sigwaitinfo), so a report
 * never runs in a signal handler; `quit` (then a SIGUSR1 to the thread)
 * makes it return. */
static atomic_bool quit;
static pthread_t reporter;
static bool reporting;

static void held(sigset_t *set, bool stops)
{
    sigemptyset(set);
    if (stops) {
        sigaddset(set, SIGINT);
        sigaddset(set, SIGTERM);
    }
    sigaddset(set, SIGUSR1);
}

/* SIGUSR1's action, should a thread or a forked request process ever take
 * it in a handler instead of the reporter: nothing (the default would end
 * the process). */
static void no_report(int sig)
{
    (void)sig;
}

void signals_init(void)
{
    struct sigaction sa;
    sigset_t set;

    held(&set, true);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NIGNORED; i++)
        sigaction(ignored[i], &sa, NULL);
    /* What ss_server_close() puts back: a stop signal during the drain
     * (or after) changes nothing. Held, not lost, until signals_start(). */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = no_report;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
}

/* One JSON line with the counters, written at once. */
static void report(ss_server *srv)
{
    ss_stats st;
    char line[512];

    ss_server_stats(srv, &st);
    snprintf(line, sizeof line,
             "{\"accepted\":%llu,\"refused\":%llu,\"completed\":%llu,\"errors\":%llu,"
             "\"accept_errors\":%llu,\"cancelled\":%llu,\"dropped\":%llu,\"active\":%u,"
             "\"threads\":%u,\"children\":%u}\n",
             (unsigned long long)st.accepted, (unsigned long long)st.refused,
             (unsigned long long)st.completed, (unsigned long long)st.errors,
             (unsigned long long)st.accept_errors, (unsigned long long)st.cancelled,
             (unsigned long long)st.dropped, st.active, st.threads, st.children);
    fputs(line, stderr);
}

static void *reporter_main(void *arg)
{
    ss_server *srv = arg;
    sigset_t set;

    held(&set, false);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (atomic_load(&quit))
            return NULL;
        if (sig == SIGUSR1)
            report(srv);
    }
}

int signals_start(ss_server *srv, double drain)
{
    sigset_t set;
    int rc = ss_stop_on_signals(srv, drain, NULL); /* SIGINT, SIGTERM; undone by ss_server_close() */

    if (rc < 0)
        return rc;
    atomic_store(&quit, false);
    rc = helper_thread_start(&reporter, reporter_main, srv);
    if (rc < 0)
        return rc;
    reporting = true;
    /* SIGUSR1 stays held here, and so in the threads started from here. */
    held(&set, true);
    sigdelset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

void signals_stop(void)
{
    if (!reporting)
        return;
    atomic_store(&quit, true);
    pthread_kill(reporter, SIGUSR1);
    pthread_join(reporter, NULL);
    reporting = false;
}
