/* counters.c: the servers' counters summed (over listeners, over worker processes) and printed: the stop line, the JSON line of SIGUSR1. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "counters.h"
#include "logging.h"

static void add64(uint64_t *sum, uint64_t v)
{
    if (__builtin_add_overflow(*sum, v, sum))
        *sum = UINT64_MAX;
}

static void add_gauge(unsigned *sum, unsigned v)
{
    if (__builtin_add_overflow(*sum, v, sum))
        *sum = UINT_MAX;
}

void counters_add(ss_stats *sum, const ss_stats *st)
{
    add64(&sum->accepted, st->accepted);
    add64(&sum->refused, st->refused);
    add64(&sum->completed, st->completed);
    add64(&sum->errors, st->errors);
    add64(&sum->accept_errors, st->accept_errors);
    add64(&sum->cancelled, st->cancelled);
    add64(&sum->dropped, st->dropped);
    add64(&sum->tls_failed, st->tls_failed);
    add64(&sum->bytes_in, st->bytes_in);
    add64(&sum->bytes_out, st->bytes_out);
    add64(&sum->duration_sum_us, st->duration_sum_us);
    for (size_t i = 0; i < SS_DURATION_BUCKETS; i++)
        add64(&sum->duration[i], st->duration[i]);
    add_gauge(&sum->active, st->active);
    add_gauge(&sum->threads, st->threads);
    add_gauge(&sum->children, st->children);
}

/* The q-quantile of the requests' durations, in microseconds, as the upper
 * bound of the bucket it falls in (0 with none): at most twice the true
 * figure. In the last bucket (no upper bound), that bucket's lower bound
 * doubled. */
static uint64_t quantile_us(const ss_stats *st, double q)
{
    uint64_t n = 0, seen = 0;

    for (size_t i = 0; i < SS_DURATION_BUCKETS; i++)
        n += st->duration[i];
    if (n == 0)
        return 0;
    for (size_t i = 0; i < SS_DURATION_BUCKETS - 1; i++) {
        seen += st->duration[i];
        if ((double)seen >= q * (double)n)
            return (uint64_t)1 << i;
    }
    return (uint64_t)1 << (SS_DURATION_BUCKETS - 1);
}

void counters_fields(char *buf, size_t size, const ss_stats *st)
{
    int n = snprintf(buf, size,
                     "\"accepted\":%llu,\"refused\":%llu,\"completed\":%llu,\"errors\":%llu,"
                     "\"accept_errors\":%llu,\"cancelled\":%llu,\"dropped\":%llu,\"tls_failed\":%llu,"
                     "\"active\":%u,\"threads\":%u,\"children\":%u",
                     (unsigned long long)st->accepted, (unsigned long long)st->refused,
                     (unsigned long long)st->completed, (unsigned long long)st->errors,
                     (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled,
                     (unsigned long long)st->dropped, (unsigned long long)st->tls_failed,
                     st->active, st->threads, st->children);
    if (n < 0 || (size_t)n >= size || !ss_stats_detailed())
        return;
    snprintf(buf + n, size - (size_t)n,
             ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_sum_us\":%llu,"
             "\"duration_p50_us\":%llu,\"duration_p99_us\":%llu",
             (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
             (unsigned long long)st->duration_sum_us, (unsigned long long)quantile_us(st, 0.5),
             (unsigned long long)quantile_us(st, 0.99));
}

void counters_print_stopped(const ss_stats *st)
{
    char msg[512], fields[COUNTERS_FIELDS_MAX];

    snprintf(msg, sizeof msg,
             "stopped: accepted %llu, refused %llu, completed %llu, errors %llu, "
             "accept errors %llu, cancelled %llu, dropped %llu, tls failed %llu",
             (unsigned long long)st->accepted, (unsigned long long)st->refused,
             (unsigned long long)st->completed, (unsigned long long)st->errors,
             (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled,
             (unsigned long long)st->dropped, (unsigned long long)st->tls_failed);
    counters_fields(fields, sizeof fields, st);
    log_emit(LOG_NOTICE, "stopped", msg, fields, NULL);
}

void counters_print_table(FILE *f, const ss_stats *st)
{
    const struct {
        const char *name;
        unsigned long long value;
    } rows[] = {
        { "accepted", st->accepted },        { "refused", st->refused },
        { "completed", st->completed },      { "errors", st->errors },
        { "accept errors", st->accept_errors }, { "cancelled", st->cancelled },
        { "dropped", st->dropped },          { "tls failed", st->tls_failed },
        { "active", st->active },            { "threads", st->threads },
        { "children", st->children },        { "bytes in", st->bytes_in },
        { "bytes out", st->bytes_out },
    };
    size_t n = sizeof rows / sizeof rows[0] - (ss_stats_detailed() ? 0 : 2);

    for (size_t i = 0; i < n; i++)
        fprintf(f, "%-14s %llu\n", rows[i].name, rows[i].value);
    if (ss_stats_detailed())
        fprintf(f, "%-14s p50 <= %llu us, p99 <= %llu us (requests ended; within a factor of 2)\n",
                "durations", (unsigned long long)quantile_us(st, 0.5),
                (unsigned long long)quantile_us(st, 0.99));
}

void counters_print_json(const ss_stats *st)
{
    char fields[COUNTERS_FIELDS_MAX];

    counters_fields(fields, sizeof fields, st);
    log_object("stats", fields);
}
