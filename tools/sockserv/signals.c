/* signals.c: the program's signals: SIGINT/SIGTERM stop (ss_stop_on_signals), SIGUSR1 reports the counters and SIGHUP has the TLS files reloaded (a helper thread waits for both), the rest that would end or stop it are ignored. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "signals.h"
#include "thread.h"

/* Signals whose default action would end or stop the server although
 * nobody asked for that: timers and profilers aimed at the wrong process,
 * SIGIO of a stray O_ASYNC, a power event, a write past RLIMIT_FSIZE (the
 * write fails with EFBIG instead), a terminal in the background (a read
 * fails with EIO instead, a write goes through), a closed peer (SIGPIPE:
 * sends fail with EPIPE). SIGHUP (a closed terminal, or an operator's
 * "reload") is taken by the helper thread, as SIGUSR1 is. */
static const int ignored[] = {
    SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGXFSZ, SIGTTIN, SIGTTOU,
#ifdef SIGPWR
    SIGPWR,
#endif
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
};
#define NIGNORED (sizeof ignored / sizeof ignored[0])

/* The helper thread: the only one that takes SIGUSR1 and SIGHUP (every
 * thread keeps them blocked; the helper waits for them with sigwaitinfo),
 * so neither a report nor a reload ever runs in a signal handler; `quit`
 * (then a SIGUSR1 to the thread) makes it return. */
static atomic_bool quit;
static pthread_t helper;
static bool helping;

static void held(sigset_t *set, bool stops)
{
    sigemptyset(set);
    if (stops) {
        sigaddset(set, SIGINT);
        sigaddset(set, SIGTERM);
    }
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
}

/* The action of SIGUSR1 and SIGHUP, should a thread or a forked request
 * process ever take one in a handler instead of the helper: nothing (the
 * default would end the process). */
static void no_action(int sig)
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
    sa.sa_handler = no_action;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* One JSON line with the counters, written at once. */
static void report(ss_server *srv)
{
    ss_stats st;
    char line[512];

    ss_server_stats(srv, &st);
    snprintf(line, sizeof line,
             "{\"accepted\":%llu,\"refused\":%llu,\"completed\":%llu,\"errors\":%llu,"
             "\"accept_errors\":%llu,\"cancelled\":%llu,\"dropped\":%llu,\"tls_failed\":%llu,"
             "\"active\":%u,\"threads\":%u,\"children\":%u}\n",
             (unsigned long long)st.accepted, (unsigned long long)st.refused,
             (unsigned long long)st.completed, (unsigned long long)st.errors,
             (unsigned long long)st.accept_errors, (unsigned long long)st.cancelled,
             (unsigned long long)st.dropped, (unsigned long long)st.tls_failed, st.active,
             st.threads, st.children);
    fputs(line, stderr);
}

/*
 * SIGHUP asks for a reload, which the serving thread does (signals_service)
 * between two requests it takes. Not in the helper: building a TLS context
 * takes OpenSSL's internal locks and makes per-thread state, and the
 * forking mode forks from the serving thread, so a fork during a reload
 * elsewhere would give the child those locks held for good (its handshake
 * would wait forever: OpenSSL 3 does not prepare for fork), and a child
 * would inherit state of a thread it does not have.
 */
static atomic_bool reload_asked;

/* The TLS files again, for new connections; one line either way. */
static void reload(ss_server *srv)
{
    const ss_config *cfg = ss_server_config(srv);

    if (!cli_tls_url(ss_server_url(srv))) {
        cli_error("SIGHUP: nothing to reload (only a tls:// server has files to read again)");
        return;
    }
    if (ss_server_tls_reload(srv) < 0) {
        const char *why = ss_last_error();
        cli_library_error("SIGHUP: reload failed, new connections still get the previous "
                          "certificate: ", why ? why : "unknown reason");
        return;
    }
    cli_error("SIGHUP: reloaded --tls-cert '%s', --tls-key '%s'%s%s%s: new connections use them",
              cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca ? ", --tls-client-ca '" : "",
              cfg->tls_client_ca ? cfg->tls_client_ca : "", cfg->tls_client_ca ? "'" : "");
}

void signals_service(ss_server *srv)
{
    if (atomic_exchange(&reload_asked, false))
        reload(srv);
}

static void *helper_main(void *arg)
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
        else if (sig == SIGHUP)
            atomic_store(&reload_asked, true);
    }
}

int signals_start(ss_server *srv, double drain)
{
    sigset_t set;
    int rc = ss_stop_on_signals(srv, drain, NULL); /* SIGINT, SIGTERM; undone by ss_server_close() */

    if (rc < 0)
        return rc;
    atomic_store(&quit, false);
    rc = helper_thread_start(&helper, helper_main, srv);
    if (rc < 0)
        return rc;
    helping = true;
    /* SIGUSR1 and SIGHUP stay held here, and so in the threads started from here. */
    held(&set, true);
    sigdelset(&set, SIGUSR1);
    sigdelset(&set, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

void signals_stop(void)
{
    if (!helping)
        return;
    atomic_store(&quit, true);
    pthread_kill(helper, SIGUSR1);
    pthread_join(helper, NULL);
    helping = false;
}
