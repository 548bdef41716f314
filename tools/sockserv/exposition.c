/* exposition.c: the counters as Prometheus's text exposition format 0.0.4: each metric's help, type and samples, the histogram's cumulative buckets. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition.h"

/*
 * The metric names are a public interface (docs/DEPLOYMENT.md lists
 * them): never rename one. Counters are the ss_stats fields summed over
 * the listeners (and, with --processes, over the workers, those that
 * ended included: supervisor.c), so they only grow while the program
 * runs; the gauges are what is in flight now. The bytes and the duration
 * histogram are left out when the library does not count them
 * (SS_STATS=OFF), rather than published as zeros that look real.
 */
struct counter_def {
    const char *name;
    const char *help;
    size_t offset;           /* of a uint64_t in ss_stats */
    bool detailed;           /* only when ss_stats_detailed() */
};

#define STAT(field) offsetof(ss_stats, field)

static const struct counter_def counter_defs[] = {
    { "sockserv_requests_accepted_total",
      "Requests taken from the listeners: connections accepted, datagrams received.",
      STAT(accepted), false },
    { "sockserv_requests_refused_total",
      "Requests refused before their handler ran (--allow, a missing or untrusted PROXY header).",
      STAT(refused), false },
    { "sockserv_requests_completed_total",
      "Requests whose handler ran to its end without being cut short by a drain.",
      STAT(completed), false },
    { "sockserv_requests_cancelled_total", "Requests cut short at a drain's deadline.",
      STAT(cancelled), false },
    { "sockserv_request_errors_total",
      "Requests that failed (a client's error, a timeout, a failed TLS handshake, ...).",
      STAT(errors), false },
    { "sockserv_accept_errors_total", "Failed accept or receive calls on the listeners.",
      STAT(accept_errors), false },
    { "sockserv_dropped_replies_total",
      "Datagram replies dropped because the socket could not take them at once.",
      STAT(dropped), false },
    { "sockserv_tls_handshake_failures_total", "TLS handshakes that failed or timed out.",
      STAT(tls_failed), false },
    { "sockserv_received_bytes_total",
      "Bytes received from clients on their sockets (TLS records and PROXY headers included), "
      "counted when a request ends.",
      STAT(bytes_in), true },
    { "sockserv_sent_bytes_total",
      "Bytes sent to clients on their sockets (TLS records included), counted when a request "
      "ends.",
      STAT(bytes_out), true },
};

struct gauge_def {
    const char *name;
    const char *help;
    size_t offset;           /* of an unsigned in ss_stats */
};

static const struct gauge_def gauge_defs[] = {
    { "sockserv_requests_active", "Requests in flight.", STAT(active) },
    { "sockserv_threads",
      "Request threads (threading), worker threads (pool) or event loops (event).",
      STAT(threads) },
    { "sockserv_child_processes", "Request processes not yet reaped (forking).", STAT(children) },
};

#define HISTOGRAM "sockserv_request_duration_seconds"

/* A bounded text buffer: an append that does not fit marks it full. */
struct text {
    char *p;
    size_t len, cap;
    bool full;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;

    if (t->full)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->full = true;
        return;
    }
    t->len += (size_t)n;
}

/* A label value as the format wants it: backslash, quote and newline
 * escaped. */
static void put_label_value(struct text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(t, "\\%c", *v);
        else if (*v == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *v);
    }
}

/* The shortest decimal that reads back as v ("4e-06", "0.001024"), or
 * "+Inf". */
static void format_bound(double v, char *buf, size_t size)
{
    if (isinf(v)) {
        snprintf(buf, size, "+Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static uint64_t field64(const ss_stats *st, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)st + offset, sizeof v);
    return v;
}

static unsigned field_unsigned(const ss_stats *st, size_t offset)
{
    unsigned v;
    memcpy(&v, (const char *)st + offset, sizeof v);
    return v;
}

static void put_histogram(struct text *t, const ss_stats *st)
{
    uint64_t count = 0;
    char le[32];

    put(t, "# HELP " HISTOGRAM " Requests by duration, from accept (or a datagram's receipt) to "
        "close, counted when a request ends.\n# TYPE " HISTOGRAM " histogram\n");
    for (unsigned i = 0; i < SS_DURATION_BUCKETS; i++) {
        if (__builtin_add_overflow(count, st->duration[i], &count))
            count = UINT64_MAX;
        format_bound(ss_duration_bucket_bound(i), le, sizeof le);
        put(t, HISTOGRAM "_bucket{le=\"%s\"} %llu\n", le, (unsigned long long)count);
    }
    put(t, HISTOGRAM "_sum %llu.%06llu\n", (unsigned long long)(st->duration_sum_us / 1000000),
        (unsigned long long)(st->duration_sum_us % 1000000));
    put(t, HISTOGRAM "_count %llu\n", (unsigned long long)count);
}

/* The exposition of st into t. */
static void render(struct text *t, const ss_stats *st, const char *mode)
{
    bool detailed = ss_stats_detailed();

    put(t, "# HELP sockserv_info The sockserv program: its version and --mode.\n"
        "# TYPE sockserv_info gauge\nsockserv_info{version=\"");
    put_label_value(t, ss_version());
    put(t, "\",mode=\"");
    put_label_value(t, mode);
    put(t, "\"} 1\n");
    for (size_t i = 0; i < sizeof counter_defs / sizeof counter_defs[0]; i++) {
        const struct counter_def *d = &counter_defs[i];
        if (d->detailed && !detailed)
            continue;
        put(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", d->name, d->help, d->name, d->name,
            (unsigned long long)field64(st, d->offset));
    }
    for (size_t i = 0; i < sizeof gauge_defs / sizeof gauge_defs[0]; i++) {
        const struct gauge_def *d = &gauge_defs[i];
        put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %u\n", d->name, d->help, d->name, d->name,
            field_unsigned(st, d->offset));
    }
    if (detailed)
        put_histogram(t, st);
}


ssize_t exposition_format(char *buf, size_t size, const ss_stats *st, const char *mode)
{
    struct text t = { .cap = size, .full = size == 0 };

    t.p = buf; /* not in the initializer: clang-tidy 14 would miss the writes through it */
    render(&t, st, mode);
    return t.full ? -EOVERFLOW : (ssize_t)t.len;
}
