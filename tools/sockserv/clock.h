/* clock.h: the program's one clock for time limits: monotonic seconds (or nanoseconds). */
#ifndef SOCKSERV_CLOCK_H
#define SOCKSERV_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for deadlines, never for the time of day. */
static inline double monotonic_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The same clock in nanoseconds. */
static inline int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
