/* logging.c: the program's messages on stderr as --log-format says (text lines or JSON objects, with syslog priorities when stderr is systemd's journal), filtered by --quiet/--verbose, and the library's log callback that joins them. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logging.h"

static enum log_format format = LOG_TEXT;
static enum log_level least = LOG_NOTICE;

static const char *const level_names[] = { "error", "warning", "notice", "info", "debug" };

void log_setup(enum log_format f, ss_log_level lib_least)
{
    format = f;
    least = lib_least == SS_LOG_ERROR     ? LOG_ERROR
            : lib_least == SS_LOG_WARNING ? LOG_NOTICE
            : lib_least == SS_LOG_INFO    ? LOG_INFO
                                          : LOG_DEBUG;
}

bool log_wanted(enum log_level level)
{
    return level <= least;
}

/* s as a JSON string: quotes, backslashes and any byte that is not
 * printable ASCII escaped (what reaches here is escaped already; this keeps
 * the object well-formed whatever comes). */
static void put_json_string(FILE *f, const char *s)
{
    putc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7F)
            fprintf(f, "\\u%04x", *p);
        else
            putc(*p, f);
    }
    putc('"', f);
}

/* The time now, UTC, to the millisecond: 2026-11-30T06:50:01.123Z. */
static void put_time(FILE *f)
{
    struct timespec ts;
    struct tm tm;
    char text[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "\"%s.%03ldZ\"", text, ts.tv_nsec / 1000000);
}

/* The text with "<N>", the level's syslog priority, before each of its
 * lines (journald takes it as the entry's priority, and strips it): a new
 * string, or NULL. */
static char *with_priorities(const char *text, size_t len, enum log_level level, size_t *out_len)
{
    char *out = NULL;
    FILE *m = open_memstream(&out, out_len);

    if (!m)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (i == 0 || text[i - 1] == '\n')
            fprintf(m, "<%d>", 3 + (int)level); /* error 3, warning 4, notice 5, info 6, debug 7 */
        putc(text[i], m);
    }
    if (fclose(m) != 0)
        return NULL;
    return out;
}

/* Write the memory stream's text at once (each line with its priority
 * when stderr is the journal), then free it. */
static void write_line(FILE *m, char **line, size_t *len, enum log_level level)
{
    if (fclose(m) == 0) {
        if (ss_log_to_journal()) {
            char *marked = with_priorities(*line, *len, level, len);
            free(*line);
            *line = marked;
            if (!marked)
                return;
        }
        ssize_t w;
        size_t off = 0;
        while (off < *len && ((w = write(STDERR_FILENO, *line + off, *len - off)) > 0 ||
                              (w < 0 && errno == EINTR)))
            off += w > 0 ? (size_t)w : 0;
    }
    free(*line);
}

/* "{"time":...,"level":...,"event":...,"pid":N" into f: the start of every
 * JSON line. */
static void put_json_head(FILE *f, enum log_level level, const char *event)
{
    fputs("{\"time\":", f);
    put_time(f);
    fprintf(f, ",\"level\":\"%s\",\"event\":", level_names[level]);
    put_json_string(f, event);
    fprintf(f, ",\"pid\":%ld", (long)getpid());
}

void log_emit(enum log_level level, const char *event, const char *msg, const char *fields,
              const char *hint)
{
    char *line = NULL;
    size_t len = 0;

    if (!log_wanted(level))
        return;
    FILE *m = open_memstream(&line, &len);
    if (!m)
        return;
    if (format == LOG_JSON && !hint) {
        put_json_head(m, level, event);
        fputs(",\"msg\":", m);
        put_json_string(m, msg);
        if (fields && *fields)
            fprintf(m, ",%s", fields);
        fputs("}\n", m);
    } else
        fprintf(m, "sockserv: %s\n%s", msg, hint ? hint : "");
    write_line(m, &line, &len, level);
}

void log_printf(enum log_level level, const char *event, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!log_wanted(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_emit(level, event, msg, NULL, NULL);
}

void log_object(const char *event, const char *fields)
{
    char *line = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);

    if (!m)
        return;
    if (format == LOG_JSON) {
        put_json_head(m, LOG_NOTICE, event);
        fprintf(m, "%s%s}\n", *fields ? "," : "", fields);
    } else
        fprintf(m, "{%s}\n", fields);
    write_line(m, &line, &len, LOG_NOTICE);
}

void log_library(ss_server *srv, ss_log_level level, ss_request *req, const char *event,
                 const char *msg)
{
    enum log_level ours = level == SS_LOG_ERROR     ? LOG_ERROR
                          : level == SS_LOG_WARNING ? LOG_WARNING
                          : level == SS_LOG_INFO    ? LOG_INFO
                                                    : LOG_DEBUG;
    char *line = NULL;
    size_t len = 0;

    if (!log_wanted(ours))
        return;
    if (format == LOG_TEXT) {
        ss_log_stderr(srv, level, req, event, msg);
        return;
    }
    FILE *m = open_memstream(&line, &len);
    if (!m)
        return;
    put_json_head(m, ours, event);
    fputs(",\"msg\":", m);
    put_json_string(m, msg);
    if (srv) {
        fputs(",\"listener\":", m);
        put_json_string(m, ss_server_url(srv));
    }
    if (req) {
        uint64_t in, out;
        double seconds;
        fputs(",\"client\":", m);
        put_json_string(m, ss_request_peer_str(req));
        if (strcmp(event, "conn_close") == 0 && ss_request_counts(req, &in, &out, &seconds))
            fprintf(m, ",\"duration_ms\":%.3f,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64,
                    seconds * 1e3, in, out);
    }
    fputs("}\n", m);
    write_line(m, &line, &len, ours);
}
