/* signals.c: the program's signals in a serving process: a helper thread takes SIGINT/SIGTERM (stop every listener), SIGUSR1 (the counters) and SIGHUP (the TLS files reloaded by each serving thread); the rest that would end or stop it are ignored. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "cli.h"
#include "counters.h"
#include "listeners.h"
#include "logging.h"
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

/* The helper thread: the only one that takes the four signals (every
 * thread keeps them blocked; the helper waits for them with sigwaitinfo),
 * so neither a stop, a report nor a reload ever runs in a signal handler,
 * and a request process forked by a serving thread inherits them blocked
 * (and SIGINT, SIGTERM ignored: its parent's drain decides its end);
 * `quit` (then a SIGUSR1 to the thread) makes it return. */
static struct {
    const struct listeners *ls;
    double drain;
    int chan;                /* a worker's end of its channel, or -1 */
    bool multi;              /* several listeners: reload lines name theirs */
    atomic_bool quit;
    pthread_t thread;
    bool running;
} helper;

static void held(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
}

static void no_action(int sig)
{
    (void)sig;
}

void signals_init(void)
{
    struct sigaction sa;
    sigset_t set;

    held(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NIGNORED; i++)
        sigaction(ignored[i], &sa, NULL);
    /* Should a thread ever take one of the four (they are held in every
     * thread but while the helper waits), nothing happens: the default
     * would end the process. A handler, not SIG_IGN: an ignored signal
     * may be dropped when sent, a held one with a handler always waits. */
    sa.sa_handler = no_action;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/*
 * SIGHUP asks for a reload, which each listener's serving thread does
 * (signals_service) between two requests it takes. Not in the helper:
 * building a TLS context takes OpenSSL's internal locks and makes
 * per-thread state, and the forking mode forks from the serving thread, so
 * a fork during a reload elsewhere would give the child those locks held
 * for good (its handshake would wait forever: OpenSSL 3 does not prepare
 * for fork), and a child would inherit state of a thread it does not have.
 * Each listener counts the reloads it did (app->reloads) against those
 * asked.
 */
static atomic_uint reloads_asked;

/* The TLS files again, for new connections; one line either way. */
static void reload(ss_server *srv)
{
    const ss_config *cfg = ss_server_config(srv);
    char where[300] = "";

    if (helper.multi)
        snprintf(where, sizeof where, " (%s)", ss_server_url(srv));
    if (ss_server_tls_reload(srv) < 0) {
        const char *why = ss_last_error();
        char lead[400];
        snprintf(lead, sizeof lead, "SIGHUP: reload failed%s, new connections still get the "
                 "previous certificate: ", where);
        cli_library_error(lead, why ? why : "unknown reason");
        return;
    }
    cli_log(LOG_NOTICE, "tls_reload",
            "SIGHUP: reloaded --tls-cert '%s', --tls-key '%s'%s%s%s: new connections use them%s",
            cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca ? ", --tls-client-ca '" : "",
            cfg->tls_client_ca ? cfg->tls_client_ca : "", cfg->tls_client_ca ? "'" : "", where);
}

void signals_service(ss_server *srv)
{
    struct app *app = ss_server_userdata(srv);
    unsigned asked = atomic_load(&reloads_asked);

    if (app->reloads == asked)
        return;
    app->reloads = asked;
    if (cli_tls_url(ss_server_url(srv)))
        reload(srv);
}

/* SIGUSR1: the counters summed over the listeners, printed or (a worker)
 * sent to the supervisor. */
static void report(void)
{
    ss_stats sum;

    listeners_stats(helper.ls, &sum);
    if (helper.chan < 0)
        counters_print_json(&sum);
    else
        channel_send(helper.chan, CHANNEL_REPORT, &sum);
}

static void *helper_main(void *arg)
{
    sigset_t set;
    bool worker = helper.chan >= 0;

    (void)arg;
    held(&set);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (atomic_load(&helper.quit))
            return NULL;
        if (sig == SIGTERM || (sig == SIGINT && !worker)) {
            listeners_stop(helper.ls, helper.drain);
            if (worker) /* its servers refuse no more: the supervisor's may (supervisor.c) */
                channel_send(helper.chan, CHANNEL_STOPPING, NULL);
        } else if (sig == SIGUSR1) {
            ss_fork_gate_enter(); /* a report allocates and writes: no fork meanwhile */
            report();
            ss_fork_gate_leave();
        } else if (sig == SIGHUP && !worker && !listeners_have_tls(helper.ls)) {
            ss_fork_gate_enter();
            cli_log(LOG_WARNING, "reload",
                    "SIGHUP: nothing to reload (only a tls:// server has files to read again)");
            ss_fork_gate_leave();
        } else if (sig == SIGHUP && !worker)
            atomic_fetch_add(&reloads_asked, 1);
    }
}

int signals_start(const struct listeners *ls, double drain, int chan)
{
    helper.ls = ls;
    helper.drain = drain;
    helper.chan = chan;
    helper.multi = ls->n > 1;
    atomic_store(&helper.quit, false);
    int rc = helper_thread_start(&helper.thread, helper_main, NULL);
    if (rc < 0)
        return rc;
    helper.running = true;
    return 0;
}

void signals_stop(void)
{
    if (!helper.running)
        return;
    atomic_store(&helper.quit, true);
    pthread_kill(helper.thread, SIGUSR1);
    pthread_join(helper.thread, NULL);
    helper.running = false;
}
