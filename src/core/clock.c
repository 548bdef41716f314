/* clock.c: monotonic time and deadlines in nanoseconds, for timeouts and drains. */
#include "core/internal.h"

#include <limits.h>
#include <sys/time.h>
#include <time.h>

int64_t ss__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A timeout in nanoseconds: 0 (none) when seconds <= 0 or NaN, at most
 * 1e9 seconds, and at least 1 ns for any positive time: a tiny timeout
 * runs out at once, under every strategy, rather than meaning none. */
int64_t ss__ns(double seconds)
{
    if (!(seconds > 0))
        return 0;
    int64_t ns = (int64_t)((seconds > 1e9 ? 1e9 : seconds) * 1e9);
    return ns > 0 ? ns : 1;
}

/* The moment `seconds` from now, or 0 (no deadline) when seconds <= 0. */
int64_t ss__deadline(double seconds)
{
    int64_t ns = ss__ns(seconds);
    return ns ? ss__now() + ns : 0;
}

/* ns > 0 as a socket timeout (SO_RCVTIMEO, SO_SNDTIMEO): at least 1 us,
 * since a zero timeval means none. */
struct timeval ss__timeval(int64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000), .tv_usec = (suseconds_t)(ns % 1000000000 / 1000)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    return tv;
}

/* A CLOCK_MONOTONIC time in ns as a timespec (pthread_cond_timedwait on a
 * monotonic condition). */
struct timespec ss__timespec(int64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
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
