/* counters.c: the servers' counters summed (over listeners, over worker processes) and printed: the stop line, the JSON line of SIGUSR1. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "counters.h"

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
    add_gauge(&sum->active, st->active);
    add_gauge(&sum->threads, st->threads);
    add_gauge(&sum->children, st->children);
}

void counters_print_stopped(const ss_stats *st)
{
    fprintf(stderr,
            "sockserv: stopped: accepted %llu, refused %llu, completed %llu, errors %llu, "
            "accept errors %llu, cancelled %llu, dropped %llu, tls failed %llu\n",
            (unsigned long long)st->accepted, (unsigned long long)st->refused,
            (unsigned long long)st->completed, (unsigned long long)st->errors,
            (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled,
            (unsigned long long)st->dropped, (unsigned long long)st->tls_failed);
}

void counters_print_json(const ss_stats *st)
{
    char line[512];

    snprintf(line, sizeof line,
             "{\"accepted\":%llu,\"refused\":%llu,\"completed\":%llu,\"errors\":%llu,"
             "\"accept_errors\":%llu,\"cancelled\":%llu,\"dropped\":%llu,\"tls_failed\":%llu,"
             "\"active\":%u,\"threads\":%u,\"children\":%u}\n",
             (unsigned long long)st->accepted, (unsigned long long)st->refused,
             (unsigned long long)st->completed, (unsigned long long)st->errors,
             (unsigned long long)st->accept_errors, (unsigned long long)st->cancelled,
             (unsigned long long)st->dropped, (unsigned long long)st->tls_failed, st->active,
             st->threads, st->children);
    fputs(line, stderr);
}
