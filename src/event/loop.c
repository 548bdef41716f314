/* loop.c: an event loop on its own thread: epoll, a timer heap, and requests run as coroutines. */
#include "event/loop.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define MAX_SPARE 256          /* finished tasks kept per loop, stacks included */
#define SWEEP_NS 1000000000    /* idle stacks are trimmed after 1 to 2 s of waiting */

/* epoll data tags for the loop's own descriptors; tasks use their address. */
static char tag_listener, tag_wake, tag_cancel, tag_feed;

static _Thread_local ss__loop *current_loop;
static _Thread_local ss__task *current_task;

ss__loop *ss__loop_current(void)
{
    return current_loop;
}

ss__task *ss__task_current(void)
{
    return current_task;
}

static int epoll_add(ss__loop *loop, int fd, uint32_t events, void *tag)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int ss__loop_init(ss__loop *loop)
{
    ss_server *srv = loop->srv;
    pthread_mutex_init(&loop->lock, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -errno;
    loop->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->efd < 0)
        return -errno;
    int rc = epoll_add(loop, loop->efd, EPOLLIN, &tag_wake);
    if (rc == 0) /* edge-triggered: the timer stays readable once it fired */
        rc = epoll_add(loop, srv->cancel_fd, EPOLLIN | EPOLLET, &tag_cancel);
    if (rc == 0 && loop->feed.queue) /* level-triggered; one idle loop woken per signal */
        rc = epoll_add(loop, loop->feed.queue->efd, EPOLLIN | EPOLLEXCLUSIVE, &tag_feed);
    return rc;
}

void ss__loop_wake(ss__loop *loop)
{
    ss__eventfd_wake(loop->efd);
}

int ss__loop_post(ss__loop *loop, ss_request *req)
{
    pthread_mutex_lock(&loop->lock);
    if (loop->inbox_len == loop->inbox_cap) {
        int cap = loop->inbox_cap ? 2 * loop->inbox_cap : 16;
        ss_request **p = realloc(loop->inbox, (size_t)cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&loop->lock);
            return -ENOMEM;
        }
        loop->inbox = p;
        loop->inbox_cap = cap;
    }
    loop->inbox[loop->inbox_len++] = req;
    pthread_mutex_unlock(&loop->lock);
    ss__loop_wake(loop);
    return 0;
}

/* ---- Tasks ---------------------------------------------------------------- */

static void make_ready(ss__task *t, int result)
{
    ss__loop *loop = t->loop;
    t->waiting = false;
    t->result = result;
    t->next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->next = t;
    else
        loop->ready = t;
    loop->ready_tail = t;
}

static void task_main(void *arg)
{
    ss__task *t = arg;
    ss__finish_request(t->req);
    ss__request_done(t->req);
    t->req = NULL;
}

void ss__loop_spawn(ss__loop *loop, ss_request *req)
{
    ss__task *t = loop->spare;
    if (t) {
        loop->spare = t->next;
        loop->nspare--;
        ss__coro_reset(t->co, task_main, t);
    } else {
        t = calloc(1, sizeof *t);
        if (!t || !(t->co = ss__coro_new(loop->stack_size, task_main, t))) {
            free(t);
            ss__request_abort(req, -ENOMEM);
            return;
        }
    }
    t->req = req;
    t->loop = loop;
    t->timer.index = -1;
    t->registered = t->blocking = t->waiting = false;
    t->prev_live = NULL;
    t->next_live = loop->live;
    if (loop->live)
        loop->live->prev_live = t;
    loop->live = t;
    atomic_fetch_add(&loop->nlive, 1);
    make_ready(t, 0);
}

/* The task's coroutine returned: keep it for reuse, or free it. */
static void task_end(ss__loop *loop, ss__task *t)
{
    if (t->prev_live)
        t->prev_live->next_live = t->next_live;
    else
        loop->live = t->next_live;
    if (t->next_live)
        t->next_live->prev_live = t->prev_live;
    atomic_fetch_sub(&loop->nlive, 1);
    if (loop->nspare < MAX_SPARE) {
        t->next = loop->spare;
        loop->spare = t;
        loop->nspare++;
    } else {
        ss__coro_free(t->co);
        free(t);
    }
}

static uint32_t epoll_events_of(short events)
{
    return ((events & POLLIN) ? EPOLLIN | EPOLLRDHUP : 0) | ((events & POLLOUT) ? EPOLLOUT : 0);
}

/* Park the task until make_ready: an event it waits for, its deadline (a
 * timer heap entry), or the drain. */
static int park(ss__task *t, uint32_t events, int64_t deadline)
{
    ss__loop *loop = t->loop;
    t->wait_events = events;
    t->waiting = true;
    if (deadline) {
        t->timer.deadline = deadline;
        if (ss__heap_push(&loop->timers, &t->timer) < 0) {
            t->waiting = false;
            return -ENOMEM;
        }
    }
    ss__coro_yield();
    ss__heap_remove(&loop->timers, &t->timer);
    return t->result;
}

int ss__task_wait_conn(ss__task *t, short events, int64_t deadline)
{
    ss__loop *loop = t->loop;
    if (ss__cancelled(loop->srv))
        return -ECANCELED;
    if (!t->registered) {
        int rc = epoll_add(loop, t->req->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, t);
        if (rc < 0)
            return rc;
        t->registered = true;
    }
    return park(t, epoll_events_of(events), deadline);
}

int ss__task_wait_fd(ss__task *t, int fd, short events, int64_t deadline)
{
    ss__loop *loop = t->loop;
    if (ss__cancelled(loop->srv))
        return -ECANCELED;
    if (fd < 0)
        return park(t, 0, deadline);
    /* Maybe shared with others (a datagram socket): a private duplicate. */
    int tmp = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (tmp < 0)
        return -errno;
    int rc = epoll_add(loop, tmp, epoll_events_of(events) | EPOLLONESHOT, t);
    if (rc == 0) {
        rc = park(t, epoll_events_of(events), deadline);
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, tmp, NULL);
    }
    close(tmp);
    return rc;
}

void ss__task_suspend(ss__task *t)
{
    t->blocking = true;
    t->waiting = true;
    t->wait_events = 0;
    ss__coro_yield();
    t->blocking = false;
}

void ss__loop_finished(ss__loop *loop, ss__task *t)
{
    pthread_mutex_lock(&loop->lock);
    t->next = loop->finished;
    loop->finished = t;
    pthread_mutex_unlock(&loop->lock);
    ss__loop_wake(loop);
}

void ss__task_forget_fd(ss_request *req)
{
    ss__task *t = current_task;
    if (t && t->req == req && t->registered) {
        epoll_ctl(t->loop->epfd, EPOLL_CTL_DEL, req->fd, NULL);
        t->registered = false;
    }
}

/* ---- Accepting (the event strategy) --------------------------------------- */

static void set_accepting(ss__loop *loop, bool on)
{
    ss_server *srv = loop->srv;
    if (on == loop->accept.on)
        return;
    if (on) {
        /* Every loop waits on the one socket; EPOLLEXCLUSIVE wakes one. Not
         * on a socket made elsewhere, which other processes may serve too:
         * the one woken may be a worker that is stopping (a reload), which
         * then accepts nothing, and no other would be woken for that client
         * until the next one came. */
        uint32_t events = srv->adopted ? EPOLLIN : EPOLLIN | EPOLLEXCLUSIVE;
        if (srv->fd < 0 || epoll_add(loop, srv->fd, events, &tag_listener) < 0)
            return;
    } else {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, srv->fd, NULL);
    }
    loop->accept.on = on;
}

/* max_connections requests are in flight: leave the listener alone (it is
 * level-triggered) until ss__loop_accept_resume. A slot freed between our
 * check and the flag would find no flag set: so look again after setting
 * it (the seq_cst fences pair with the one before ss__loop_accept_resume). */
static void stop_at_limit(ss__loop *loop)
{
    atomic_store(&loop->accept.at_limit, true);
    atomic_thread_fence(memory_order_seq_cst);
    if (ss__at_capacity(loop->srv))
        set_accepting(loop, false);
    else
        atomic_store(&loop->accept.at_limit, false);
}

void ss__loop_accept_resume(ss__loop *loop)
{
    if (atomic_exchange(&loop->accept.at_limit, false))
        ss__loop_wake(loop);
}

static void on_listener(ss__loop *loop)
{
    ss_server *srv = loop->srv;
    /* serve_forever may have returned meanwhile: then accept nothing more. */
    for (int i = 0; i < SS__ACCEPT_BATCH && atomic_load(&loop->accept.want); i++) {
        int rc = ss__handle_one(srv);
        if (rc == -EBUSY)
            stop_at_limit(loop);
        if (rc < 0)
            break;
    }
    int64_t paused = atomic_load(&srv->accept_paused_until);
    if (paused > ss__now()) {
        set_accepting(loop, false);
        loop->accept.resume_at = paused;
    }
}

/* ---- The phases of a turn ------------------------------------------------- */

/* Apply what other threads asked (accept.want, quit) and what time ended
 * (an EMFILE back-off): whether the listener is in epoll. */
static void update_accepting(ss__loop *loop)
{
    unsigned gen = atomic_load(&loop->accept.want_gen); /* before want */
    bool want = atomic_load(&loop->accept.want) && !atomic_load(&loop->quit);
    if (loop->accept.resume_at && ss__now() >= loop->accept.resume_at)
        loop->accept.resume_at = 0;
    set_accepting(loop, want && !loop->accept.shut && loop->accept.resume_at == 0 &&
                            !atomic_load(&loop->accept.at_limit));
    atomic_store(&loop->accept.ack_gen, gen);
}

/* Asked to quit and nothing left to run: the loop may end. Requests still
 * queued for it are served first (taken without waiting: another loop may
 * take the last one while this one sleeps). */
static bool done(ss__loop *loop)
{
    if (!atomic_load(&loop->quit) || loop->live)
        return false;
    pthread_mutex_lock(&loop->lock);
    bool empty = loop->inbox_len == 0;
    pthread_mutex_unlock(&loop->lock);
    if (!empty)
        return false;
    ss_request *req = loop->feed.queue ? ss__queue_take(loop->feed.queue) : NULL;
    if (!req)
        return true;
    ss__loop_spawn(loop, req);
    return false;
}

/* Wake every waiting task with -ECANCELED: the drain deadline passed. */
static void on_cancel(ss__loop *loop)
{
    for (ss__task *t = loop->live; t; t = t->next_live)
        if (t->waiting && !t->blocking)
            make_ready(t, -ECANCELED);
}

/* The inbox and the finished blocking calls. */
static void on_wake(ss__loop *loop)
{
    ss__eventfd_drain(loop->efd);
    pthread_mutex_lock(&loop->lock);
    int n = loop->inbox_len;
    ss_request *batch[n > 0 ? n : 1];
    for (int i = 0; i < n; i++)
        batch[i] = loop->inbox[i];
    loop->inbox_len = 0;
    ss__task *fin = loop->finished;
    loop->finished = NULL;
    pthread_mutex_unlock(&loop->lock);
    for (int i = 0; i < n; i++)
        ss__loop_spawn(loop, batch[i]);
    while (fin) {
        ss__task *t = fin;
        fin = t->next;
        make_ready(t, 0);
    }
}

/* Events on a task's descriptor: its connection learns of them (input may
 * be waiting again), and the task runs if it waits for one. */
static void on_task_events(ss__task *t, uint32_t got)
{
    if (t->req)
        t->req->conn.type->ready(&t->req->conn, got);
    if (t->waiting && !t->blocking && (got & (t->wait_events | EPOLLERR | EPOLLHUP)))
        make_ready(t, 0);
}

static int next_timeout(ss__loop *loop)
{
    if (loop->ready)
        return 0;
    int64_t at = 0;
    ss__heap_node *top = ss__heap_top(&loop->timers);
    if (top)
        at = top->deadline;
    if (loop->accept.resume_at && (at == 0 || loop->accept.resume_at < at))
        at = loop->accept.resume_at;
    if (loop->live && (at == 0 || loop->sweep_at < at)) /* idle stacks to trim */
        at = loop->sweep_at;
    return at ? ss__ms_until(at) : -1;
}

/* Wait for events (or the next timer) and dispatch them. */
static void poll_io(ss__loop *loop)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, next_timeout(loop));
    for (int i = 0; i < n; i++) {
        void *tag = evs[i].data.ptr;
        if (tag == &tag_listener) {
            /* ss_server_stop shut it down: accept would only fail. */
            if (evs[i].events & EPOLLHUP)
                loop->accept.shut = true;
            else if (loop->accept.on)
                on_listener(loop);
        } else if (tag == &tag_wake) {
            on_wake(loop);
        } else if (tag == &tag_cancel) {
            on_cancel(loop);
        } else if (tag == &tag_feed) {
            loop->feed.signalled = true;
        } else {
            on_task_events(tag, evs[i].events);
        }
    }
}

/* Once a period, the tasks that have waited since before the last one
 * give back the stack pages below their frames: an idle connection holds
 * the stack it uses while it waits, not the most it used while busy (a TLS
 * record, a deep handler call). With park_idle_stacks, the page its frames
 * are in too (they wait on the heap), but not in a blocking call: the
 * helper thread running it may write into them. A task is trimmed once per
 * idle spell, so a busy one never pays for it. */
static void trim_idle_stacks(ss__loop *loop, int64_t now)
{
    if (now < loop->sweep_at)
        return;
    bool parks = loop->srv->cfg.park_idle_stacks;
    loop->sweep_period++;
    loop->sweep_at = now + SWEEP_NS;
    for (ss__task *t = loop->live; t; t = t->next_live)
        if (t->waiting && !t->trimmed && loop->sweep_period - t->ran_in >= 2) {
            bool parked = parks && !t->blocking && ss__coro_park(t->co);
            if (!parked)
                ss__coro_trim(t->co);
            t->trimmed = true;
        }
}

static void expire_timers(ss__loop *loop)
{
    ss__heap_node *top;
    int64_t now = ss__now();
    while ((top = ss__heap_top(&loop->timers)) && top->deadline <= now) {
        ss__task *t = (ss__task *)((char *)top - offsetof(ss__task, timer));
        ss__heap_remove(&loop->timers, top);
        if (t->waiting)
            make_ready(t, -ETIMEDOUT);
    }
    trim_idle_stacks(loop, now);
}

static void run_ready(ss__loop *loop)
{
    while (loop->ready) {
        ss__task *t = loop->ready;
        loop->ready = t->next;
        if (!loop->ready)
            loop->ready_tail = NULL;
        current_task = t;
        t->ran_in = loop->sweep_period;
        t->trimmed = false;
        ss__coro_resume(t->co);
        current_task = NULL;
        if (ss__coro_done(t->co))
            task_end(loop, t);
    }
}

/* A new request from the pool's queue only once nothing else is ready (so
 * a loop held by a long handler takes none), one per turn (so idle loops
 * share them); it runs in the next turn. */
static void take_fed(ss__loop *loop)
{
    if (!loop->feed.signalled)
        return;
    loop->feed.signalled = false;
    ss_request *req = ss__queue_take(loop->feed.queue);
    if (req)
        ss__loop_spawn(loop, req);
}

/* A turn: update accepting, end if asked and idle, wait and dispatch
 * events, expire timers, run what is ready, take new work (as libuv's
 * uv_run: timers, poll, run). */
static void *loop_thread(void *arg)
{
    ss__loop *loop = arg;
    current_loop = loop;
    for (;;) {
        update_accepting(loop);
        if (done(loop))
            break;
        poll_io(loop);
        expire_timers(loop);
        run_ready(loop);
        take_fed(loop);
    }
    set_accepting(loop, false);
    current_loop = NULL;
    loop->on_exit(loop);
    return NULL;
}

int ss__loop_start(ss__loop *loop)
{
    int rc = pthread_create(&loop->tid, NULL, loop_thread, loop);
    return rc ? -rc : 0;
}

void ss__loop_destroy(ss__loop *loop)
{
    while (loop->spare) {
        ss__task *t = loop->spare;
        loop->spare = t->next;
        ss__coro_free(t->co);
        free(t);
    }
    ss__heap_free(&loop->timers);
    free(loop->inbox);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->efd >= 0)
        close(loop->efd);
    pthread_mutex_destroy(&loop->lock);
}
