/* log.c: the library's messages (level, event, escaped text) to cfg.log, the default line on stderr (with syslog priorities when it is systemd's journal), and the duration buckets. */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SS__LOG_MAX 1024               /* a message, escaped, at most */

const char *ss_log_level_name(ss_log_level level)
{
    switch (level) {
    case SS_LOG_ERROR: return "error";
    case SS_LOG_WARNING: return "warning";
    case SS_LOG_INFO: return "info";
    case SS_LOG_DEBUG: return "debug";
    default: return NULL;
    }
}

int ss_log_syslog_priority(ss_log_level level)
{
    switch (level) {
    case SS_LOG_ERROR: return 3;
    case SS_LOG_WARNING: return 4;
    case SS_LOG_DEBUG: return 7;
    default: return 6;
    }
}

static bool journal;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

/* JOURNAL_STREAM is "DEVICE:INODE", both decimal. */
static void journal_check(void)
{
    const char *s = getenv("JOURNAL_STREAM");
    char *end;
    struct stat st;

    if (!s || *s < '0' || *s > '9')
        return;
    errno = 0;
    unsigned long long dev = strtoull(s, &end, 10);
    if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
        return;
    unsigned long long ino = strtoull(end + 1, &end, 10);
    if (errno || *end || fstat(STDERR_FILENO, &st) < 0)
        return;
    journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool ss_log_to_journal(void)
{
    int saved = errno;
    pthread_once(&journal_once, journal_check);
    errno = saved;
    return journal;
}

/* One line, one write: lines of several threads or processes never mix. */
void ss_log_stderr(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *msg)
{
    (void)srv, (void)req, (void)event;
    const char *name = level == SS_LOG_ERROR ? NULL : ss_log_level_name(level);
    char line[SS__LOG_MAX + 128], pri[8] = "";
    if (ss_log_to_journal())
        snprintf(pri, sizeof pri, "<%d>", ss_log_syslog_priority(level));
    int n = snprintf(line, sizeof line, "%s%s: %s%s%s\n", pri, program_invocation_short_name,
                     name ? name : "", name ? ": " : "", msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) { /* cut: still one line */
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w;
    do
        w = write(STDERR_FILENO, line, (size_t)n);
    while (w < 0 && errno == EINTR);
}

void ss__log(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *fmt, ...)
{
    if (!ss__logs(srv, level))
        return;
    int saved = errno;
    char raw[SS__LOG_MAX], text[SS__LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errno = saved;
        return;
    }
    size_t len = (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
    ss__escape(raw, len, text, sizeof text, SS__ESC_TEXT);
    void (*out)(ss_server *, ss_log_level, ss_request *, const char *, const char *) =
        srv->cfg.log ? srv->cfg.log : ss_log_stderr;
    out(srv, level, req, event, text);
    errno = saved;
}

unsigned ss__duration_bucket(int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    unsigned b = us == 0 ? 0 : 64u - (unsigned)__builtin_clzll(us);
    return b < SS_DURATION_BUCKETS ? b : SS_DURATION_BUCKETS - 1;
}

double ss_duration_bucket_bound(unsigned i)
{
    if (i >= SS_DURATION_BUCKETS)
        return NAN;
    if (i == SS_DURATION_BUCKETS - 1)
        return INFINITY;
    return (double)(UINT64_C(1) << i) * 1e-6;
}

bool ss_stats_detailed(void)
{
    return SS_STATS != 0;
}
