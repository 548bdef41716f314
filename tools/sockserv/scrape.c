/* scrape.c: --metrics with --processes: a scrape, on the metrics server's thread, asks the supervisor's loop for fresh counters and waits (bounded) for the round that answers it. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "scrape.h"

/*
 * The scrapes and the loop share one mutex. A scrape notes the round it
 * needs (the next to end: rounds + 1), marks `asked` and, if nobody had,
 * wakes the loop through the eventfd; it waits on `published` until
 * `rounds` reaches it. Several scrapes at once share the round: the
 * loop's one answer wakes them all. A scrape that comes while a round is
 * under way shares it too: its counters are at most the round's wait
 * older than the scrape.
 */
struct scrape {
    pthread_mutex_t lock;
    pthread_cond_t published;
    int wake;                /* eventfd: a scrape asked */
    bool asked;              /* a scrape waits that the loop did not take yet */
    bool cancelled;          /* held: scrape_hold */
    uint64_t rounds;         /* the rounds published */
    ss_stats sum;            /* the last one's */
};

struct scrape *scrape_new(void)
{
    struct scrape *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;
    int err;

    if (!s)
        return NULL;
    s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake < 0) {
        err = errno;
        free(s);
        errno = err;
        return NULL;
    }
    if ((err = pthread_condattr_init(&attr)) == 0) {
        if ((err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
            err = pthread_cond_init(&s->published, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (err == 0 && (err = pthread_mutex_init(&s->lock, NULL)) != 0)
        pthread_cond_destroy(&s->published);
    if (err != 0) {
        close(s->wake);
        free(s);
        errno = err;
        return NULL;
    }
    return s;
}

int scrape_fd(const struct scrape *s)
{
    return s->wake;
}

bool scrape_take(struct scrape *s)
{
    uint64_t n;

    if (read(s->wake, &n, sizeof n) < 0) /* an eventfd: one read takes every wake */
        n = 0;
    pthread_mutex_lock(&s->lock);
    bool asked = s->asked;
    s->asked = false;
    pthread_mutex_unlock(&s->lock);
    return asked;
}

void scrape_publish(struct scrape *s, const ss_stats *sum)
{
    pthread_mutex_lock(&s->lock);
    s->sum = *sum;
    s->rounds++;
    pthread_cond_broadcast(&s->published);
    pthread_mutex_unlock(&s->lock);
}

void scrape_hold(struct scrape *s, bool on)
{
    pthread_mutex_lock(&s->lock);
    s->cancelled = on;
    pthread_cond_broadcast(&s->published);
    pthread_mutex_unlock(&s->lock);
}

int scrape_collect(void *arg, ss_stats *sum)
{
    struct scrape *s = arg;
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)SCRAPE_WAIT;
    until.tv_nsec += (long)((SCRAPE_WAIT - floor(SCRAPE_WAIT)) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    uint64_t want = s->rounds + 1;
    if (!s->asked && !s->cancelled) {
        uint64_t one = 1;
        s->asked = true;
        if (write(s->wake, &one, sizeof one) < 0 && errno != EAGAIN)
            rc = -errno;
    }
    while (rc == 0 && !s->cancelled && s->rounds < want)
        rc = -pthread_cond_timedwait(&s->published, &s->lock, &until);
    if (rc == 0 && s->cancelled)
        rc = -ECANCELED;
    if (rc == 0)
        *sum = s->sum;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void scrape_free(struct scrape *s)
{
    if (!s)
        return;
    close(s->wake);
    pthread_cond_destroy(&s->published);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
