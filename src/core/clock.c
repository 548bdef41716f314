/* clock.c: monotonic time and deadlines in nanoseconds, for timeouts and drains. */
#include "core/internal.h"

#include <limits.h>
#include <time.h>

int64_t ss__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The moment `seconds` from now, or 0 (no deadline) when seconds <= 0. */
int64_t ss__deadline(double seconds)
{
    if (!(seconds > 0))
        return 0;
    if (seconds > 1e9)
        seconds = 1e9;
    return ss__now() + (int64_t)(seconds * 1e9);
}

/* Milliseconds left until deadline for poll(): -1 for none, rounded up. */
int ss__ms_until(int64_t deadline)
{
    if (deadline == 0)
        return -1;
    int64_t left = deadline - ss__now();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}
