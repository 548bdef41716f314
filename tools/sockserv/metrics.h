/* metrics.h: --metrics: a small HTTP listener, itself a sockserv server (threading), that answers GET /metrics with the counters in Prometheus's text format. */
#ifndef SOCKSERV_METRICS_H
#define SOCKSERV_METRICS_H

#include "cli.h"

/* The limits of the metrics listener: it never takes more than this from
 * the served protocol. Requests at once (more wait in the backlog); the
 * request line and headers; the time to send them (a client trickling
 * its request is dropped); the time a write may make no progress. */
#define METRICS_MAX_CONNECTIONS 16
#define METRICS_HEAD_MAX 8192
#define METRICS_READ_LIMIT 5.0
#define METRICS_IO_TIMEOUT 5.0

/* Where a scrape gets its counters: fill *sum, return 0, or a negative
 * errno (the scrape then gets 503). Called on the metrics server's
 * request threads, several at once maybe. */
typedef int metrics_collect_fn(void *arg, ss_stats *sum);

struct metrics;

/* With --metrics (o->metrics): bind and listen on its URL now (before
 * --user drops the privileges a low port needs), each scrape to be
 * answered with what collect(arg) returns; no thread starts yet (fork
 * what must be forked before metrics_start). *out is NULL without
 * --metrics. Returns -1, or EXIT_NOLISTEN with the problem reported
 * ("cannot listen on --metrics URL: REASON"). Every process forked from
 * now on (a worker, a request process) closes its copy of the listening
 * socket at once, so that none holds the port. */
int metrics_open(struct metrics **out, const struct cli_opts *o, metrics_collect_fn *collect,
                 void *arg);
/* Start serving on a thread of its own that takes no signal (nor do its
 * request threads), then, the first time, say where: a notice on stderr,
 * "metrics on http://HOST:PORT/metrics" (event "metrics"; the port bound,
 * IPv6 hosts in brackets). Serving already: nothing. Returns 0, or -errno
 * (reported). NULL: 0. */
int metrics_start(struct metrics *m);
/* Stop serving for a while, every thread of it joined (requests in flight
 * are cut short; clients that come meanwhile wait in the backlog), so that
 * the process can fork with no other thread: metrics_start serves again.
 * Not serving, or NULL: nothing. */
void metrics_pause(struct metrics *m);
/* Stop serving (requests in flight are cut short), wait for its threads,
 * close the listener and free m. NULL is a no-op. */
void metrics_close(struct metrics *m);

#endif
