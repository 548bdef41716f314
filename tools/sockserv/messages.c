/* messages.c: the program's one-line messages on stderr: escaped, written at once, usage errors with their hint, the library's field names shown as options. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logging.h"
#include "option_table.h"

/* Write msg to f with every byte that is not printable ASCII, and every
 * backslash, as \xNN. */
static void put_escaped(FILE *f, const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p >= 0x7F || *p == '\\')
            fprintf(f, "\\x%02x", *p);
        else
            putc(*p, f);
    }
}

/* The message escaped, to log_emit: written at once, so that lines of
 * other threads and processes never cut into it. */
static void report(enum log_level level, const char *event, const char *hint, const char *fmt,
                   va_list ap)
{
    char *msg = NULL, *text = NULL;
    size_t len = 0;

    if (!log_wanted(level))
        return;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        put_escaped(m, msg ? msg : fmt); /* out of memory: the bare format */
        if (fclose(m) == 0)
            log_emit(level, event, text, NULL, hint);
    }
    free(text);
    free(msg);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(LOG_ERROR, "error", NULL, fmt, ap);
    va_end(ap);
}

void cli_log(enum log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(level, event, NULL, fmt, ap);
    va_end(ap);
}

void cli_library_error(const char *lead, const char *msg)
{
    size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
    char name[64];

    if (len > 0 && len < sizeof name && msg[len] == ':') {
        memcpy(name, msg, len);
        name[len] = '\0';
        for (char *p = strchr(name, '_'); p; p = strchr(p, '_'))
            *p = '-';
        for (size_t i = 0; i < NOPTIONS; i++)
            if (strcmp(cli_options[i].name, name) == 0) {
                cli_error("%s--%s%s", lead, name, msg + len);
                return;
            }
    }
    cli_error("%s%s", lead, msg);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(LOG_ERROR, "usage", "Try 'sockserv --help'.\n", fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

bool cli_tls_url(const char *url)
{
    return strncasecmp(url, "tls://", 6) == 0;
}

bool cli_datagram_url(const char *url)
{
    return strncasecmp(url, "udp://", 6) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}

bool cli_unix_url(const char *url)
{
    return strncasecmp(url, "unix:", 5) == 0 || strncasecmp(url, "unix-dgram:", 11) == 0;
}
