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
    ss__cancel_link *live;  /* open connections */
    bool swept;             /* the deadline passed: shut down on arrival */
    bool closing;           /* the server closed: end once live is empty */
    bool detached;          /* nobody joins the thread: it frees the set */
};

static void sweep(ss__cancel_set *cs)
{
    pthread_mutex_lock(&cs->lock);
    cs->swept = true;
    for (ss__cancel_link *l = cs->live; l; l = l->next)
        shutdown(l->req->fd, SHUT_RDWR);
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
        if (p[0].revents)
            ss__eventfd_drain(cs->quit_fd);
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

void ss__cancel_set_add(ss__cancel_set *cs, ss__cancel_link *link, ss_request *req)
{
    pthread_mutex_lock(&cs->lock);
    link->req = req;
    link->set = cs;
    link->prev = NULL;
    link->next = cs->live;
    if (cs->live)
        cs->live->prev = link;
    cs->live = link;
    if (cs->swept) /* accepted before the stop, handed over after the deadline */
        shutdown(req->fd, SHUT_RDWR);
    pthread_mutex_unlock(&cs->lock);
}

void ss__cancel_set_remove(ss__cancel_link *link)
{
    ss__cancel_set *cs = link->set;
    if (!cs)
        return;
    pthread_mutex_lock(&cs->lock);
    if (link->prev)
        link->prev->next = link->next;
    else
        cs->live = link->next;
    if (link->next)
        link->next->prev = link->prev;
    link->set = NULL;
    if (cs->closing && !cs->live)
        ss__eventfd_wake(cs->quit_fd);
    pthread_mutex_unlock(&cs->lock);
}

void ss__cancel_set_close(ss__cancel_set *cs)
{
    pthread_mutex_lock(&cs->lock);
    cs->closing = true;
    bool empty = !cs->live;
    cs->detached = !empty;
    pthread_t thread = cs->thread; /* once detached, cs may be gone */
    ss__eventfd_wake(cs->quit_fd);
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
