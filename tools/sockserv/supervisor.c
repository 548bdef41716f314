/* supervisor.c: --processes: the supervisor that makes the listeners, forks the workers that serve them, restarts one that dies, replaces them all at SIGHUP and stops them at SIGTERM. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "clock.h"
#include "counters.h"
#include "listeners.h"
#include "logging.h"
#include "metrics.h"
#include "scrape.h"
#include "supervisor.h"
#include "user.h"
#include "worker.h"

/* A restart's delay: none the first time, then RESTART_FIRST, doubled at
 * each death up to RESTART_MAX, back to none once a worker ran
 * RESTART_STABLE seconds. */
#define RESTART_FIRST 0.1
#define RESTART_MAX 30.0
#define RESTART_STABLE 10.0
/* How long SIGUSR1 (or a scrape of --metrics) waits for the workers'
 * counters; a scrape waits SCRAPE_WAIT in all (scrape.h). */
#define REPORT_WAIT 1.0
/* Past the drain, a worker still running at a stop gets SIGKILL. */
#define RESTART_KILL_GRACE 5.0
/* Workers alive at once: the serving ones, a reload's new ones, and those
 * of earlier reloads still draining. */
#define MAX_ALIVE ((size_t)4 * MAX_PROCESSES)

enum worker_state {
    W_STARTING,              /* forked, not serving yet */
    W_SERVING,               /* said CHANNEL_READY */
    W_STOPPING               /* sent SIGTERM: its end is expected */
};

struct worker {
    pid_t pid;               /* 0: a free entry */
    int chan;                /* the supervisor's end of its channel, or -1 */
    int slot;                /* its place, 0 to processes - 1 */
    unsigned gen;            /* the generation it belongs to */
    enum worker_state state;
    double started;          /* monotonic_secs() at the fork */
    bool asked;              /* a report asked and not yet answered */
    bool reported;           /* `report` holds its last counters (of any round) */
    bool final;              /* its final counters were added to sup->done */
    bool quiet;              /* said CHANNEL_STOPPING: it accepts no more */
    ss_stats report;
};

/* A place among the serving generation's workers: its restarts. */
struct slot {
    unsigned deaths;         /* quick deaths in a row */
    bool pending;            /* a restart waits for restart_at */
    double restart_at;
};

struct sup {
    const struct cli_opts *o;
    struct listeners *ls;    /* held for the workers, never served here */
    ss_tls_tickets *tickets; /* NULL without a tls:// listener */
    int sigfd;
    struct worker w[MAX_ALIVE];
    struct slot slots[MAX_PROCESSES];
    unsigned gen;            /* the generation that serves (or starts) */
    unsigned new_gen;        /* a reload's, while under way; 0: none */
    unsigned last_gen;
    bool reload_again;       /* a SIGHUP came during a reload, or before ready */
    bool ready;              /* the ready lines are out */
    bool stopping;
    bool refusing;           /* stopping, the listeners shut down */
    int status;              /* the exit status */
    double kill_at;          /* stopping: SIGKILL what is left then */
    double report_by;        /* a round of reports: its end by then; 0: none */
    bool print_report;       /* the round's sum goes to stderr (SIGUSR1) */
    bool publish_report;     /* the round's sum goes to the scrapes waiting */
    struct scrape *scrape;   /* --metrics: the scrapes' requests; else NULL */
    struct metrics *metrics; /* --metrics' server; else NULL */
    ss_stats done;           /* the workers that ended: see retire() */
};

/* "exited with status 1", "was killed by signal 9 (Killed)". */
static void describe_end(int wstatus, char *buf, size_t size)
{
    if (WIFEXITED(wstatus))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, size, "was killed by signal %d (%s)%s", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)), WCOREDUMP(wstatus) ? ", core dumped" : "");
    else
        snprintf(buf, size, "ended (wait status %#x)", (unsigned)wstatus);
}

static size_t alive(const struct sup *s)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        n += s->w[i].pid != 0;
    return n;
}

/* The counters known now: the retired workers', the live ones' last. */
static void sum_now(const struct sup *s, ss_stats *sum)
{
    *sum = s->done;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0 && s->w[i].reported && !s->w[i].final)
            counters_add(sum, &s->w[i].report);
}

/* Before a fork: the metrics server paused (watch() starts it again), so
 * that the supervisor forks with no other thread; the scrapes waiting get
 * the counters known now. A fork while another thread runs leaves the
 * child the locks that thread held: glibc's malloc and stdio prepare for
 * that, GCC's sanitizers do not (a worker hung in ASan's allocator, and
 * TSan refuses threads in such a child). */
static void pause_metrics(struct sup *s)
{
    ss_stats sum;

    if (!s->metrics)
        return;
    sum_now(s, &sum);
    scrape_publish(s->scrape, &sum);
    scrape_hold(s->scrape, true);
    metrics_pause(s->metrics);
    scrape_hold(s->scrape, false);
}

/* Fork a worker for `slot` of generation `gen`. 0, or -errno (reported). */
static int spawn(struct sup *s, int slot, unsigned gen)
{
    struct worker *w = NULL;
    int fds[2], rc;

    for (size_t i = 0; i < MAX_ALIVE && !w; i++)
        if (s->w[i].pid == 0)
            w = &s->w[i];
    if (!w) {
        cli_error("cannot start a worker: %zu are still running (old ones draining)", MAX_ALIVE);
        return -EAGAIN;
    }
    if ((rc = channel_pair(fds)) < 0) {
        cli_error("cannot start a worker: %s", strerror(-rc));
        return rc;
    }
    pid_t self = getpid();
    pause_metrics(s);
    fflush(NULL); /* or the child would write the supervisor's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        cli_error("cannot start a worker: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        close(fds[0]);
        close(s->sigfd);
        if (s->scrape) /* the metrics listener: closed at the fork (metrics.c) */
            close(scrape_fd(s->scrape));
        for (size_t i = 0; i < MAX_ALIVE; i++)
            if (s->w[i].pid != 0 && s->w[i].chan >= 0)
                close(s->w[i].chan);
        worker_run(s->o, s->ls, s->tickets, fds[1], self);
    }
    close(fds[1]);
    *w = (struct worker){ .pid = pid, .chan = fds[0], .slot = slot, .gen = gen,
                          .state = W_STARTING, .started = monotonic_secs() };
    return 0;
}

static void signal_gen(struct sup *s, unsigned gen, int sig)
{
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0 && s->w[i].gen == gen) {
            s->w[i].state = W_STOPPING;
            kill(s->w[i].pid, sig);
        }
}

/* SIGINT, SIGTERM, or a failed start: every worker told to stop. */
static void begin_stop(struct sup *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->kill_at = monotonic_secs() + s->o->drain + RESTART_KILL_GRACE;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0) {
            s->w[i].state = W_STOPPING;
            kill(s->w[i].pid, SIGTERM);
        }
    for (int i = 0; i < MAX_PROCESSES; i++)
        s->slots[i].pending = false;
}

/* A reload's new worker could not start: the previous ones serve on (a
 * SIGHUP that came meanwhile is taken up by pending_reload). */
static void reload_failed(struct sup *s, const char *why)
{
    cli_error("SIGHUP: reload failed: %s; the previous workers serve on", why);
    signal_gen(s, s->new_gen, SIGTERM);
    s->new_gen = 0;
}

static void start_reload(struct sup *s)
{
    if (s->stopping)
        return;
    if (!s->ready || s->new_gen) { /* once the workers under way serve */
        s->reload_again = true;
        return;
    }
    s->reload_again = false;
    s->new_gen = ++s->last_gen;
    for (int i = 0; i < s->o->processes; i++)
        if (spawn(s, i, s->new_gen) < 0) {
            reload_failed(s, "a new worker could not be started");
            return;
        }
}

/* Whether every worker of gen serves, all o->processes of them. */
static bool gen_serves(const struct sup *s, unsigned gen)
{
    int n = 0;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0 && s->w[i].gen == gen) {
            if (s->w[i].state != W_SERVING)
                return false;
            n++;
        }
    return n == s->o->processes;
}

/* Every new worker serves: the previous ones stop accepting and drain,
 * while the new ones take what waits on the shared listeners. */
static void complete_reload(struct sup *s)
{
    signal_gen(s, s->gen, SIGTERM);
    s->gen = s->new_gen;
    s->new_gen = 0;
    memset(s->slots, 0, sizeof s->slots);
    cli_log(LOG_NOTICE, "reload",
            "SIGHUP: reloaded: %d new worker%s serve%s; the previous ones finish their requests "
            "(up to --drain %g s) and exit", s->o->processes, s->o->processes > 1 ? "s" : "",
            s->o->processes > 1 ? "" : "s", s->o->drain);
}

static void on_ready(struct sup *s, struct worker *w)
{
    if (w->state != W_STARTING)
        return;
    w->state = W_SERVING;
    if (!s->ready && w->gen == s->gen && gen_serves(s, s->gen)) {
        listeners_print_ready(s->ls);
        s->ready = true;
    } else if (s->new_gen && w->gen == s->new_gen && gen_serves(s, s->new_gen)) {
        complete_reload(s);
    }
}

/*
 * The counters of every worker the supervisor ever had, for SIGUSR1, for
 * the scrapes of --metrics and for the stop line. They must never go
 * backwards (Prometheus takes a counter that drops for a restart of the
 * process and counts it all again), whatever happens to the workers:
 * - a worker that ends is "retired": its final counters (CHANNEL_FINAL)
 *   are added to s->done, or, when it died without sending them (SIGKILL,
 *   a crash), the last ones it reported; what it did since is lost, but
 *   nothing already published is taken back;
 * - a live worker counts with its last report, of this round or, if it
 *   did not answer in time, an earlier one;
 * - the gauges (active, threads, children) are the live workers' alone:
 *   retire() zeroes those of a worker that ended.
 */
static void retire(struct sup *s, const ss_stats *last)
{
    ss_stats st = *last;

    st.active = st.threads = st.children = 0;
    counters_add(&s->done, &st);
}

/* A round's sum, once every worker asked answered (or the wait is over):
 * printed (SIGUSR1), published to the scrapes waiting, or both. */
static void maybe_report(struct sup *s, bool timed_out)
{
    ss_stats sum;

    if (s->report_by == 0)
        return;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0 && s->w[i].asked && !timed_out)
            return;
    sum_now(s, &sum);
    if (s->print_report)
        counters_print_json(&sum);
    if (s->publish_report)
        scrape_publish(s->scrape, &sum);
    s->report_by = 0;
    s->print_report = s->publish_report = false;
}

/* A round: every worker that serves asked for its counters (SIGUSR1);
 * `print` for SIGUSR1's line, else for the scrapes. One under way
 * serves both. */
static void ask_report(struct sup *s, bool print)
{
    if (print)
        s->print_report = true;
    else
        s->publish_report = true;
    if (s->report_by != 0)
        return; /* one is under way */
    s->report_by = monotonic_secs() + REPORT_WAIT;
    for (size_t i = 0; i < MAX_ALIVE; i++) {
        struct worker *w = &s->w[i];
        w->asked = false;
        if (w->pid != 0 && w->state != W_STARTING && kill(w->pid, SIGUSR1) == 0)
            w->asked = true;
    }
    maybe_report(s, false);
}

/* The messages waiting on a worker's channel; its end closes the channel. */
static void read_channel(struct sup *s, struct worker *w)
{
    struct channel_msg msg;
    int rc;

    while (w->chan >= 0 && (rc = channel_recv(w->chan, &msg)) != -EAGAIN) {
        if (rc <= 0) {
            close(w->chan);
            w->chan = -1;
        } else if (msg.type == CHANNEL_READY) {
            on_ready(s, w);
        } else if (msg.type == CHANNEL_REPORT) {
            w->report = msg.stats;
            w->reported = true;
            w->asked = false;
        } else if (msg.type == CHANNEL_FINAL && !w->final) {
            retire(s, &msg.stats);
            w->final = true;
        } else if (msg.type == CHANNEL_STOPPING) {
            w->quiet = true;
        }
    }
}

/* A serving generation's worker died: restart it, at once or later. */
static void restart(struct sup *s, const struct worker *w, const char *how, double ran)
{
    struct slot *sl = &s->slots[w->slot];

    if (ran >= RESTART_STABLE)
        sl->deaths = 0;
    double delay = sl->deaths == 0 ? 0 : RESTART_FIRST;
    for (unsigned i = 1; i < sl->deaths && delay < RESTART_MAX; i++)
        delay *= 2;
    if (delay > RESTART_MAX)
        delay = RESTART_MAX;
    if (sl->deaths < UINT_MAX)
        sl->deaths++;
    if (delay == 0) {
        cli_log(LOG_WARNING, "worker_exit", "worker %d %s after %.1f s; restarting it", (int)w->pid,
                how, ran);
        if (spawn(s, w->slot, s->gen) == 0)
            return;
        delay = RESTART_FIRST;
    } else {
        cli_log(LOG_WARNING, "worker_exit", "worker %d %s after %.1f s; restarting it in %g s",
                (int)w->pid, how, ran, delay);
    }
    sl->pending = true;
    sl->restart_at = monotonic_secs() + delay;
}

/* A worker ended (reaped): what that means depends on what it was doing. */
static void worker_ended(struct sup *s, struct worker *w, int wstatus)
{
    char how[128];
    double ran = monotonic_secs() - w->started;

    read_channel(s, w); /* its last messages, its final counters among them */
    if (w->chan >= 0)
        close(w->chan);
    if (!w->final && w->reported) /* killed: what it last said it did */
        retire(s, &w->report);
    struct worker was = *w;
    *w = (struct worker){ .chan = -1 };
    describe_end(wstatus, how, sizeof how);
    if (s->stopping || was.state == W_STOPPING)
        return;
    if (s->new_gen && was.gen == s->new_gen) {
        char why[200];
        snprintf(why, sizeof why, "new worker %d %s before serving", (int)was.pid, how);
        reload_failed(s, why);
    } else if (!s->ready) {
        cli_error("worker %d %s before serving: cannot start", (int)was.pid, how);
        s->status = EXIT_NOLISTEN;
        begin_stop(s);
    } else {
        restart(s, &was, how, ran);
    }
}

static void reap(struct sup *s)
{
    int wstatus;
    pid_t pid;

    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
        for (size_t i = 0; i < MAX_ALIVE; i++)
            if (s->w[i].pid == pid) {
                worker_ended(s, &s->w[i], wstatus);
                break;
            }
}

/* The signals waiting on the signalfd. */
static void take_signals(struct sup *s)
{
    struct signalfd_siginfo si;

    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGINT:
        case SIGTERM:
            begin_stop(s);
            break;
        case SIGHUP:
            start_reload(s);
            break;
        case SIGUSR1:
            ask_report(s, true);
            break;
        case SIGCHLD:
            reap(s);
            break;
        default:
            break;
        }
    }
}

/* Restarts that are due; the time of the next one into *next (if sooner). */
static void due_restarts(struct sup *s, double now, double *next)
{
    for (int i = 0; i < s->o->processes; i++) {
        struct slot *sl = &s->slots[i];
        if (!sl->pending)
            continue;
        if (sl->restart_at <= now) {
            sl->pending = false;
            if (spawn(s, i, s->gen) < 0) {
                sl->pending = true;
                sl->restart_at = now + RESTART_MAX;
            }
        }
        if (sl->pending && sl->restart_at < *next)
            *next = sl->restart_at;
    }
}

/* The timers: restarts, the report's wait, the stop's last resort. The
 * poll timeout until the next one, in ms (-1: none). */
static int run_timers(struct sup *s)
{
    double now = monotonic_secs(), next = INFINITY;

    due_restarts(s, now, &next);
    if (s->report_by != 0 && now >= s->report_by)
        maybe_report(s, true);
    if (s->report_by != 0 && s->report_by < next)
        next = s->report_by;
    if (s->stopping && now >= s->kill_at) {
        for (size_t i = 0; i < MAX_ALIVE; i++)
            if (s->w[i].pid != 0)
                kill(s->w[i].pid, SIGKILL);
        s->kill_at = INFINITY;
    }
    if (s->stopping && s->kill_at < next)
        next = s->kill_at;
    if (next == INFINITY)
        return -1;
    double ms = (next - now) * 1000 + 1; /* rounded up: never woken a little early */
    return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/*
 * Stopping, once no worker accepts any more (each said CHANNEL_STOPPING,
 * or ended): the listeners shut down, so that a new client is refused at
 * once, as by a single process, instead of waiting in the backlog that no
 * one takes from, to be reset when the last worker ends. Not sooner: a
 * worker still accepting would see its accept() fail and count an error.
 */
static void maybe_refuse(struct sup *s)
{
    if (!s->stopping || s->refusing)
        return;
    for (size_t i = 0; i < MAX_ALIVE; i++)
        if (s->w[i].pid != 0 && !s->w[i].quiet)
            return;
    listeners_stop(s->ls, 0);
    s->refusing = true;
}

/* A SIGHUP that came before the ready lines or during a reload: its
 * reload, once the workers under way serve (or failed). Called from the
 * loop, not from where a reload ends: no reload starts from within
 * another's end. */
static void pending_reload(struct sup *s)
{
    if (s->reload_again && s->ready && !s->new_gen && !s->stopping)
        start_reload(s);
}

/* Watch the workers until every one ended after a stop. */
static void watch(struct sup *s)
{
    struct pollfd p[2 + MAX_ALIVE];
    struct worker *of[2 + MAX_ALIVE];

    while (!(s->stopping && alive(s) == 0)) {
        pending_reload(s);
        int timeout = run_timers(s);
        /* The metrics server serves from once the first workers are
         * forked, and again after each fork paused it (pause_metrics);
         * scrapes meanwhile wait in the listener's backlog. */
        if (!s->stopping && metrics_start(s->metrics) < 0) {
            s->status = EXIT_NOLISTEN;
            begin_stop(s);
        }
        nfds_t n = 2;
        p[0] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = s->scrape ? scrape_fd(s->scrape) : -1, .events = POLLIN };
        for (size_t i = 0; i < MAX_ALIVE; i++)
            if (s->w[i].pid != 0 && s->w[i].chan >= 0) {
                of[n] = &s->w[i];
                p[n++] = (struct pollfd){ .fd = s->w[i].chan, .events = POLLIN };
            }
        if (poll(p, n, timeout) < 0 && errno != EINTR) {
            cli_error("supervisor: poll: %s", strerror(errno));
            begin_stop(s);
            sleep(1);
            continue;
        }
        /* The channels first: a worker's last messages come before its end
         * is taken from the signals (its SIGCHLD). */
        for (nfds_t i = 2; i < n; i++)
            if (p[i].revents && of[i]->pid != 0)
                read_channel(s, of[i]);
        if (p[0].revents)
            take_signals(s);
        if (p[1].revents && scrape_take(s->scrape))
            ask_report(s, false);
        maybe_report(s, false);
        maybe_refuse(s);
    }
}

/* The signals the supervisor takes, through a signalfd (no handler runs):
 * the four of the program, and SIGCHLD. -1 or the exit status. */
static int open_signals(struct sup *s)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sigfd < 0) {
        cli_error("cannot start: signalfd: %s", strerror(errno));
        return EXIT_NOLISTEN;
    }
    return -1;
}

/* --metrics: its scrapes' way to the loop, its listener (bound before
 * --user). -1 or the exit status. */
static int open_metrics(struct sup *s)
{
    if (!s->o->metrics)
        return -1;
    s->scrape = scrape_new();
    if (!s->scrape) {
        cli_error("cannot listen on --metrics %s: %s", s->o->metrics, strerror(errno));
        return EXIT_NOLISTEN;
    }
    return metrics_open(&s->metrics, s->o, scrape_collect, s->scrape);
}

/* The listeners, --metrics, the user, the ticket keys, the signals: -1
 * or the exit status. */
static int prepare(struct sup *s)
{
    int rc = listeners_open(s->ls, s->o, false);

    if (rc >= 0 || (rc = open_metrics(s)) >= 0)
        return rc;
    if (s->o->user.spec && (rc = user_switch(&s->o->user)) >= 0)
        return rc;
    if (listeners_have_tls(s->ls) && !(s->tickets = ss_tls_tickets_new(0))) {
        cli_error("cannot make the TLS session ticket keys: %s", strerror(errno));
        return EXIT_NOLISTEN;
    }
    return open_signals(s);
}

int supervisor_run(const struct cli_opts *o)
{
    struct sup *s = calloc(1, sizeof *s);
    int rc;

    if (!s || !(s->ls = calloc(1, sizeof *s->ls))) {
        cli_error("out of memory");
        free(s);
        return EXIT_NOLISTEN;
    }
    s->o = o;
    s->sigfd = -1;
    s->gen = s->last_gen = 1;
    rc = prepare(s);
    for (int i = 0; rc < 0 && i < o->processes; i++)
        if (spawn(s, i, s->gen) < 0) {
            s->status = EXIT_NOLISTEN;
            begin_stop(s);
            break;
        }
    if (rc < 0) {
        watch(s);
        rc = s->status;
    }
    if (s->scrape)
        scrape_hold(s->scrape, true);
    metrics_close(s->metrics);
    scrape_free(s->scrape);
    listeners_close(s->ls, NULL);
    ss_tls_tickets_free(s->tickets);
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (rc == EXIT_STOPPED)
        counters_print_stopped(&s->done);
    free(s->ls);
    free(s);
    return rc;
}
