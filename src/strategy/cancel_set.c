/* cancel_set.c: the open blocking connections of a server, shut down by a helper thread at the drain deadline. */
#include "strategy/cancel_set.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A request in a blocking read or write cannot poll for the drain timer:
 * shutting its connection down makes that call return, and the I/O layer
 * then reports -ECANCELED (ss__cancelled is true by then). */
struct ss__cancel_set {
    ss_server *srv;
    pthread_t thread;
    int quit_fd;            /* eventfd: closing, or the set became empty */
    pthread_mutex_t lock;   /* guards everything below */
    ss_request *live;       /* open connections (cs_prev/cs_next) */
    bool swept;             /* the deadline passed: shut down on arrival */
    bool closing;           /* the server closed: end once live is empty */
    bool detached;          /* nobody joins the thread: it frees the set */
};

static void sweep(ss__cancel_set *cs)
{
    pthread_mutex_lock(&cs->lock);
    cs->swept = true;
    for (ss_request *r = cs->live; r; r = r->cs_next)
        shutdown(r->fd, SHUT_RDWR);
    pthread_mutex_unlock(&cs->lock);
}

static void *cancel_thread(void *arg)
{
    ss__cancel_set *cs = arg;
    ss_server *srv = cs->srv;
    bool detached;
    for (;;) {
        pthread_mutex_lock(&cs->lock);
        bool done = cs->closing && !cs->live, swept = cs->swept;
        detached = cs->detached;
        pthread_mutex_unlock(&cs->lock);
        if (done)
            break;
        struct pollfd p[2] = {{.fd = cs->quit_fd, .events = POLLIN}, {.fd = srv->cancel_fd, .events = POLLIN}};
        if (poll(p, swept ? 1 : 2, -1) < 0)
            continue; /* EINTR */
        uint64_t n;
        if (p[0].revents && read(cs->quit_fd, &n, sizeof n) < 0) {
            /* EAGAIN: another wake read it first */
        }
        if (!swept && p[1].revents) /* the timer stays readable for others */
            sweep(cs);
    }
    if (detached) {
        close(cs->quit_fd);
        pthread_mutex_destroy(&cs->lock);
        free(cs);
    }
    ss__server_release(srv);
    return NULL;
}

int ss__cancel_set_start(ss_server *srv, ss__cancel_set **out)
{
    ss__cancel_set *cs = calloc(1, sizeof *cs);
    if (!cs)
        return -ENOMEM;
    cs->srv = srv;
    cs->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cs->quit_fd < 0) {
        int err = -errno;
        free(cs);
        return err;
    }
    pthread_mutex_init(&cs->lock, NULL);
    atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
    int rc = pthread_create(&cs->thread, NULL, cancel_thread, cs);
    if (rc != 0) {
        atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_relaxed);
        close(cs->quit_fd);
        pthread_mutex_destroy(&cs->lock);
        free(cs);
        return -rc;
    }
    *out = cs;
    return 0;
}

void ss__cancel_set_add(ss__cancel_set *cs, ss_request *req)
{
    pthread_mutex_lock(&cs->lock);
    req->cs_prev = NULL;
    req->cs_next = cs->live;
    if (cs->live)
        cs->live->cs_prev = req;
    cs->live = req;
    req->cs_member = true;
    if (cs->swept) /* accepted before the stop, handed over after the deadline */
        shutdown(req->fd, SHUT_RDWR);
    pthread_mutex_unlock(&cs->lock);
}

static void wake(ss__cancel_set *cs)
{
    uint64_t one = 1;
    if (write(cs->quit_fd, &one, sizeof one) < 0) {
        /* EAGAIN: a wake is pending anyway */
    }
}

void ss__cancel_set_remove(ss__cancel_set *cs, ss_request *req)
{
    pthread_mutex_lock(&cs->lock);
    if (req->cs_member) {
        if (req->cs_prev)
            req->cs_prev->cs_next = req->cs_next;
        else
            cs->live = req->cs_next;
        if (req->cs_next)
            req->cs_next->cs_prev = req->cs_prev;
        req->cs_member = false;
        if (cs->closing && !cs->live)
            wake(cs);
    }
    pthread_mutex_unlock(&cs->lock);
}

void ss__cancel_set_close(ss__cancel_set *cs)
{
    pthread_mutex_lock(&cs->lock);
    cs->closing = true;
    bool empty = !cs->live;
    cs->detached = !empty;
    pthread_t thread = cs->thread; /* once detached, cs may be gone */
    wake(cs);
    pthread_mutex_unlock(&cs->lock);
    if (!empty) {
        pthread_detach(thread); /* it frees the set once the last connection closes */
        return;
    }
    pthread_join(thread, NULL);
    close(cs->quit_fd);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}
