/* forking.c: the forking strategy (ForkingMixIn): a process per request, max_children, children reaped. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child {
    pid_t pid;
    int slot;               /* its flag in held[] */
} child;

typedef struct forking_state {
    child *kids;
    int n, cap;             /* used by the serving thread only */
    /* Shared with the children, one flag per place in kids: set by whichever
     * process gives the child's connection slot back (the child when its
     * request ends, the parent when it reaps a child that died first). */
    _Atomic unsigned char *held;
    int *free_slots, nfree;
    atomic_uint live;       /* n, for ss_server_stats() from any thread */
    bool no_pidfd;          /* the kernel (or valgrind) lacks pidfd_open */
    /* In a forked child only: the request it runs, and its flag in held. */
    bool in_child;
    _Atomic(ss_request *) child_req; /* read by a signal handler */
    _Atomic unsigned char *child_slot;
} forking_state;

static forking_state *state_of(const ss_server *srv)
{
    return srv->st_state;
}

static int forking_init(ss_server *srv)
{
    forking_state *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    fs->cap = srv->cfg.max_children > 0 ? srv->cfg.max_children : SS__DEFAULT_MAX_CHILDREN;
    srv->st_state = fs;
    /* Each request in flight is a child: at max_children the server stops
     * accepting, so the next client waits in the listen backlog rather
     * than in an accepted socket nobody serves. */
    if (srv->limit == 0 || srv->limit > (unsigned)fs->cap)
        srv->limit = (unsigned)fs->cap;
    fs->kids = calloc((size_t)fs->cap, sizeof *fs->kids);
    fs->free_slots = calloc((size_t)fs->cap, sizeof *fs->free_slots);
    fs->held = mmap(NULL, (size_t)fs->cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (fs->held == MAP_FAILED)
        fs->held = NULL;
    if (!fs->kids || !fs->free_slots || !fs->held)
        return -ENOMEM;
    for (int i = 0; i < fs->cap; i++)
        fs->free_slots[fs->nfree++] = fs->cap - 1 - i;
    return 0;
}

/* Reap every child that has exited, without blocking. Only our own children
 * are waited for: a process the application forked itself is left alone. */
static void forking_reap(ss_server *srv)
{
    forking_state *fs = state_of(srv);
    for (int i = 0; i < fs->n;) {
        int status = 0;
        pid_t r = waitpid(fs->kids[i].pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        child gone = fs->kids[i];
        fs->kids[i] = fs->kids[--fs->n];
        atomic_store(&fs->live, (unsigned)fs->n);
        /* A child killed mid-request (kill -9, a crash) reported nothing
         * and still holds its connection slot. */
        if (r > 0 && WIFSIGNALED(status))
            atomic_fetch_add_explicit(&srv->sh->errors, 1, memory_order_relaxed);
        if (atomic_exchange(&fs->held[gone.slot], 1) == 0)
            ss__slot_release(srv);
        fs->free_slots[fs->nfree++] = gone.slot;
    }
}

/* Wait until a child exits, the drain timer fires, or timeout_ms passes;
 * then reap. Waiting is rare (a full table, or the close), so each child's
 * pidfd is made here and closed again: children are forked holding none of
 * their siblings' descriptors (closing 40 of them cost each child more
 * than its request), and the fast path makes no pidfd at all. A child not
 * reaped yet is a zombie at worst, so its pid still names it. */
static void wait_children(ss_server *srv, int timeout_ms)
{
    forking_state *fs = state_of(srv);
    /* At most WAIT_PIDFDS children watched through a pidfd (the stack
     * stays small whatever max_children is); the rest, by polling. */
    enum { WAIT_PIDFDS = 256 };
    struct pollfd p[WAIT_PIDFDS + 1];
    int np = 0;
    bool polled_all = true;
    for (int i = 0; i < fs->n; i++) {
        if (np == WAIT_PIDFDS) {
            polled_all = false;
            break;
        }
        int pidfd = fs->no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, fs->kids[i].pid, 0);
        if (pidfd < 0 && errno == ENOSYS)
            fs->no_pidfd = true;
        if (pidfd < 0)
            polled_all = false;
        else
            p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    }
    int nkids = np;
    int64_t dl = atomic_load(&srv->sh->drain_deadline);
    if (dl == 0 || ss__now() < dl) /* the timer stays readable once fired */
        p[np++] = (struct pollfd){.fd = srv->cancel_fd, .events = POLLIN};
    if (!polled_all && (timeout_ms < 0 || timeout_ms > 10))
        timeout_ms = 10; /* no pidfd: fall back to polling waitpid */
    poll(p, (nfds_t)np, timeout_ms);
    for (int i = 0; i < nkids; i++)
        close(p[i].fd);
    forking_reap(srv);
}

/* In the child: run the request, then leave without returning. */
static void run_child(ss_server *srv, ss_request *req, int slot)
{
    forking_state *fs = state_of(srv);
    fs->in_child = true;
    atomic_store(&fs->child_req, req);
    fs->child_slot = &fs->held[slot];
    /* The parent decides when requests are cut short (the drain): a Ctrl-C
     * sent to the whole process group must not end them early. */
    signal(SIGINT, SIG_IGN);
    fs->n = 0;
    if (req->fd != srv->fd) { /* the child needs its connection, not the listener */
        close(srv->fd);
        srv->fd = -1;
    }
    srv->unlink_on_close = false;
    ss__finish_request(req);
    bool failed = req->failed;
    /* A stop from here on finds no request to shut down (it is about to be
     * freed); its waits are polls, which the signal interrupts anyway. */
    atomic_store(&fs->child_req, NULL);
    ss__request_done(req);
    fflush(NULL);
    _exit(failed ? 1 : 0);
}

static void forking_process_request(ss_server *srv, ss_request *req)
{
    forking_state *fs = state_of(srv);
    /* The serve loop reaps after every batch; only a full table waits here. */
    while (fs->n >= fs->cap)
        wait_children(srv, -1);
    fflush(NULL); /* or the child would write the parent's buffered output again */
    int slot = fs->free_slots[--fs->nfree];
    atomic_store(&fs->held[slot], 0);
    /* Counted before it runs: whoever the child answers can already see it
     * in ss_server_stats. */
    atomic_store(&fs->live, (unsigned)fs->n + 1);
    pid_t pid = fork();
    if (pid < 0) {
        atomic_store(&fs->live, (unsigned)fs->n);
        fs->free_slots[fs->nfree++] = slot;
        ss__request_abort(req, -errno);
        return;
    }
    if (pid == 0)
        run_child(srv, req, slot);
    fs->kids[fs->n++] = (child){.pid = pid, .slot = slot};
    /* The child owns the request now (and its place in the counters): the
     * parent lets go of its copy of the connection without a word. */
    ss__request_free(req);
}

/* ss_server_stop in a forked child cuts that child's request short: its
 * blocked call returns (the connection is shut down) and every later one
 * fails. The parent's drain is for the parent to decide. */
static bool forking_stop_here(ss_server *srv)
{
    forking_state *fs = state_of(srv);
    if (!fs->in_child)
        return false;
    srv->cancel_here = 1;
    ss_request *req = atomic_load(&fs->child_req);
    if (req)
        req->conn.type->shutdown(&req->conn);
    return true;
}

/* A child gives its slot back only if the parent has not (the first to
 * flip the shared flag does it). */
static bool forking_slot_is_mine(ss_server *srv)
{
    forking_state *fs = state_of(srv);
    return !fs->in_child || (fs->child_slot && !atomic_exchange(fs->child_slot, 1));
}

static void forking_close(ss_server *srv, bool block)
{
    forking_state *fs = state_of(srv);
    if (!fs)
        return;
    while (block && fs->n > 0) {
        int64_t dl = atomic_load(&srv->sh->drain_deadline);
        int64_t kill_at = dl ? dl + SS__KILL_GRACE_NS : 0;
        if (kill_at && ss__now() >= kill_at) { /* past the drain and its grace */
            for (int i = 0; i < fs->n; i++)
                kill(fs->kids[i].pid, SIGKILL);
            /* cppcheck-suppress knownConditionTrueFalse ; wait_children lowers fs->n through srv */
            while (fs->n > 0)
                wait_children(srv, 10);
            break;
        }
        wait_children(srv, ss__ms_until(kill_at));
    }
    free(fs->kids);
    free(fs->free_slots);
    if (fs->held)
        munmap(fs->held, (size_t)fs->cap);
    free(fs);
    srv->st_state = NULL;
}

static void forking_stats(const ss_server *srv, ss_stats *out)
{
    forking_state *fs = state_of(srv);
    out->children = fs ? atomic_load(&fs->live) : 0;
}

const ss__strategy ss__forking = {
    .name = "forking",
    .stream_conn = &ss__conn_stream,
    .loops_accept = false,
    .init = forking_init,
    .process_request = forking_process_request,
    .reap = forking_reap,
    .close = forking_close,
    .stats = forking_stats,
    .wait_conn = ss__poll_wait_conn,
    .wait_fd = ss__poll_wait,
    .serve_begin = ss__st_nop,
    .serve_end = ss__st_nop,
    .release_listener = ss__st_nop,
    .accept_resume = ss__st_nop,
    .before_close = ss__st_nop_req,
    .run_blocking = ss__st_run_in_place,
    .stop_here = forking_stop_here,
    .slot_is_mine = forking_slot_is_mine,
};
