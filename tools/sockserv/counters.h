/* counters.h: the servers' counters summed (over listeners, over worker processes) and printed: the stop line, the JSON line of SIGUSR1. */
#ifndef SOCKSERV_COUNTERS_H
#define SOCKSERV_COUNTERS_H

#include "sockserv.h"

/* Add st's counters to *sum (saturating at the type's top). */
void counters_add(ss_stats *sum, const ss_stats *st);
/* The line printed at exit on stderr: "sockserv: stopped: accepted A, ...". */
void counters_print_stopped(const ss_stats *st);
/* One JSON line on stderr (SIGUSR1), written at once. */
void counters_print_json(const ss_stats *st);

#endif
