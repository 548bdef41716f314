/* signals.c: stop a server when chosen signals arrive, with a drain: the signal boilerplate every program used to write. */
#include "core/internal.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

/* Signal dispositions belong to the process, so this table does too: one
 * server per signal, the process that asked, and the action to put back.
 * The handler reads only `srv` (atomically), `pid` and `drain`. */
static struct {
    _Atomic(ss_server *) srv;
    pid_t pid;
    double drain;
    struct sigaction old;
} slots[NSIG];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int handlers_running;

static void on_signal(int sig)
{
    int saved = errno;
    atomic_fetch_add(&handlers_running, 1);
    ss_server *srv = atomic_load(&slots[sig].srv);
    /* A request's forked child inherits the handler: the server process,
     * through its drain, decides when that request is cut short. */
    if (srv && getpid() == slots[sig].pid)
        ss_server_stop(srv, slots[sig].drain);
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved;
}

int ss_stop_on_signals(ss_server *srv, double drain, const int *signals)
{
    static const int dflt[] = {SIGINT, SIGTERM, 0};
    const int *list = signals ? signals : dflt;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (const int *s = list; *s; s++) {
        if (*s <= 0 || *s >= NSIG || *s == SIGKILL || *s == SIGSTOP)
            return -EINVAL;
        sigaddset(&sa.sa_mask, *s); /* one stop at a time */
    }
    pthread_mutex_lock(&slots_lock);
    int rc = 0;
    for (const int *s = list; *s && rc == 0; s++) {
        ss_server *cur = atomic_load(&slots[*s].srv);
        if (cur && cur != srv)
            rc = -EBUSY;
    }
    for (const int *s = list; *s && rc == 0; s++) {
        bool fresh = atomic_load(&slots[*s].srv) == NULL;
        slots[*s].pid = getpid();
        slots[*s].drain = drain;
        atomic_store(&slots[*s].srv, srv);
        if (sigaction(*s, &sa, fresh ? &slots[*s].old : NULL) < 0) {
            rc = -errno;
            atomic_store(&slots[*s].srv, NULL);
        }
    }
    pthread_mutex_unlock(&slots_lock);
    if (rc < 0)
        ss__signals_forget(srv);
    return rc;
}

void ss__signals_forget(const ss_server *srv)
{
    bool had = false;
    pthread_mutex_lock(&slots_lock);
    for (int s = 1; s < NSIG; s++) {
        if (atomic_load(&slots[s].srv) != srv)
            continue;
        sigaction(s, &slots[s].old, NULL);
        atomic_store(&slots[s].srv, NULL);
        had = true;
    }
    pthread_mutex_unlock(&slots_lock);
    /* A handler that read srv before it was cleared may still be in
     * ss_server_stop: the server must outlive it. */
    while (had && atomic_load(&handlers_running) > 0)
        sched_yield();
}
