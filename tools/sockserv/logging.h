/* logging.h: the program's messages on stderr as --log-format says (text lines or JSON objects, with syslog priorities when stderr is systemd's journal), filtered by --quiet/--verbose, and the library's log callback that joins them. */
#ifndef SOCKSERV_LOGGING_H
#define SOCKSERV_LOGGING_H

#include <stdbool.h>

#include "cli.h"

/* The program's levels: the library's, with the program's own notices
 * (reloads, the stop line, the console) between warning and info: printed
 * by default, not with --quiet. */
enum log_level { LOG_ERROR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/* From now on (once the command line is understood): messages in `format`,
 * the least severe printed being `least` (--quiet: SS_LOG_ERROR; default:
 * SS_LOG_WARNING, notices included; --verbose: SS_LOG_INFO). Before, every
 * message is a text line. */
void log_setup(enum log_format format, ss_log_level least);
/* Whether a message of this level is printed. */
bool log_wanted(enum log_level level);
/* One message, already escaped (printable ASCII only), as one write on
 * stderr: "sockserv: MSG" and `hint` (text, or NULL) after it; or a JSON
 * object with time, level, event, pid, msg, then `fields` (NULL, or JSON
 * members without braces: "\"a\":1,\"b\":2"); the hint is left out there. */
void log_emit(enum log_level level, const char *event, const char *msg, const char *fields,
              const char *hint);
/* log_emit of a printf format whose text is escaped already (peer names
 * from ss_request_peer_str, our own words): nothing is escaped again. */
void log_printf(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* messages.c: a message of the program (printf format; escaped like
 * cli_error's), with its level and event name. cli_error is
 * cli_log(LOG_ERROR, "error", ...). */
void cli_log(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON object of `fields` (members without braces) on stderr whatever
 * the level: text, "{FIELDS}"; JSON, after time, level (notice), event and
 * pid. */
void log_object(const char *event, const char *fields);
/* The library's messages (ss_config.log): text, the library's own line
 * (ss_log_stderr); JSON, an object with the listener, the client and, for
 * conn_close, duration_ms, bytes_in and bytes_out. */
void log_library(ss_server *srv, ss_log_level level, ss_request *req, const char *event,
                 const char *msg);

#endif
