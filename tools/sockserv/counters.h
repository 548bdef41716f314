/* counters.h: the servers' counters summed (over listeners, over worker processes) and printed: the stop line, the JSON line of SIGUSR1. */
#ifndef SOCKSERV_COUNTERS_H
#define SOCKSERV_COUNTERS_H

#include <stddef.h>
#include <stdio.h>

#include "sockserv.h"

/* Add st's counters to *sum (saturating at the type's top). */
void counters_add(ss_stats *sum, const ss_stats *st);
/* Room enough for counters_fields(). */
#define COUNTERS_FIELDS_MAX 768
/* The counters as JSON members, without braces: "\"accepted\":1,...": the
 * keys of SIGUSR1's line (with bytes_in, bytes_out, duration_sum_us and
 * the duration_p50_us/duration_p99_us estimates when ss_stats_detailed()). */
void counters_fields(char *buf, size_t size, const ss_stats *st);
/* The line printed at exit on stderr: "sockserv: stopped: accepted A, ...". */
void counters_print_stopped(const ss_stats *st);
/* The counters for a person, one "name  value" line each (the chat
 * console's `stats`). */
void counters_print_table(FILE *f, const ss_stats *st);
/* One JSON line on stderr (SIGUSR1), written at once, whatever --quiet
 * says: the counters; with --log-format json, after time, level, event
 * ("stats") and pid. */
void counters_print_json(const ss_stats *st);

#endif
