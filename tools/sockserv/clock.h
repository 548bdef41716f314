/* clock.h: the program's one clock for time limits: monotonic seconds. */
#ifndef SOCKSERV_CLOCK_H
#define SOCKSERV_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for deadlines, never for the time of day. */
static inline double monotonic_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
