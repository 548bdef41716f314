/* worker.c: a worker process of --processes: it serves copies of the supervisor's listeners and tells the supervisor through its channel. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "serve.h"
#include "signals.h"
#include "worker.h"

/* The supervisor's signal set-up, undone: SIGCHLD (its signalfd's) back
 * to its default and let in (the forking mode reaps its children);
 * SIGINT, SIGTERM, SIGUSR1 and SIGHUP for the worker's helper thread. */
static void worker_signals(void)
{
    sigset_t set;

    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signals_init();
}

void worker_run(const struct cli_opts *o, const struct listeners *sup, ss_tls_tickets *tickets,
                int chan, pid_t supervisor)
{
    struct listeners *ls = calloc(1, sizeof *ls);
    struct room *room = NULL;
    int status;

    /* The supervisor gone (even by SIGKILL), the worker drains and ends. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != supervisor)
        exit(EXIT_NOLISTEN);
    worker_signals();
    if (!ls) {
        cli_error("worker: out of memory");
        exit(EXIT_NOLISTEN);
    }
    status = listeners_adopt(ls, sup, o, tickets);
    if (status < 0 && (status = serve_open_room(ls, o, &room)) >= 0)
        listeners_close(ls, NULL);
    if (status < 0)
        status = serve_listeners(ls, o, room, chan, NULL);
    free(ls);
    close(chan);
    exit(status);
}
