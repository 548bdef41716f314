/* exposition.h: the counters (an ss_stats and the served --mode) as Prometheus's text exposition format 0.0.4. */
#ifndef SOCKSERV_EXPOSITION_H
#define SOCKSERV_EXPOSITION_H

#include <stddef.h>
#include <sys/types.h>

#include "sockserv.h"

/* The exposition's Content-Type. */
#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Room enough for the exposition: the metrics with their help, samples
 * and the histogram's lines come to about 5 KiB. */
#define EXPOSITION_MAX ((size_t)16 << 10)

/*
 * The exposition of st into buf (size bytes, EXPOSITION_MAX will do), not
 * 0-terminated: sockserv_info with the library's version and `mode` (the
 * strategy's name), the counters, the gauges and, when ss_stats_detailed(),
 * the bytes and the duration histogram. The metric names are a public
 * interface (docs/DEPLOYMENT.md lists them). Returns its length, or
 * -EOVERFLOW when it does not fit.
 */
ssize_t exposition_format(char *buf, size_t size, const ss_stats *st, const char *mode);

#endif
