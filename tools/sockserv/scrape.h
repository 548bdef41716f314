/* scrape.h: --metrics with --processes: a scrape, on the metrics server's thread, asks the supervisor's loop for fresh counters and waits (bounded) for the round that answers it. */
#ifndef SOCKSERV_SCRAPE_H
#define SOCKSERV_SCRAPE_H

#include <stdbool.h>

#include "sockserv.h"

/* How long a scrape waits for the supervisor's answer (the workers get
 * about half of it: REPORT_WAIT in supervisor.c). */
#define SCRAPE_WAIT 2.0

struct scrape;

/* NULL with errno (an eventfd, a mutex, a condition variable). */
struct scrape *scrape_new(void);
/* Readable when a scrape waits: the supervisor's loop polls it. */
int scrape_fd(const struct scrape *s);
/* The loop, its fd readable: whether a scrape asked since the last call
 * (the wake taken). The loop then gets the workers' counters and, once
 * they are in (or their wait ended), calls scrape_publish. */
bool scrape_take(struct scrape *s);
/* The sum a round made: every scrape waiting (those that asked before
 * the round ended) returns it. */
void scrape_publish(struct scrape *s, const ss_stats *sum);
/* Held (`on`): the scrapes waiting, and those to come until it is lifted,
 * fail at once (the metrics server pausing, or closing). */
void scrape_hold(struct scrape *s, bool on);
/* A metrics_collect_fn (arg: the scrape): ask the loop, wait for the next
 * round's end, at most SCRAPE_WAIT seconds. 0 with *sum, -ETIMEDOUT, or
 * -ECANCELED while held. */
int scrape_collect(void *arg, ss_stats *sum);
/* NULL is a no-op. */
void scrape_free(struct scrape *s);

#endif
