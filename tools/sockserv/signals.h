/* signals.h: the program's signals in a serving process: SIGINT/SIGTERM stop every listener, SIGUSR1 reports the counters, SIGHUP reloads the TLS files, the rest that would end or stop it are ignored. */
#ifndef SOCKSERV_SIGNALS_H
#define SOCKSERV_SIGNALS_H

#include "sockserv.h"

struct listeners;

/* First thing in main (and in a worker process): ignore the signals that
 * would kill or stop the program for nothing (--help lists them), and
 * hold SIGINT, SIGTERM, SIGUSR1 and SIGHUP in every thread from now on:
 * until signals_start() they wait; after signals_stop() they do nothing. */
void signals_init(void);
/* From now on a helper thread, the only one that takes them, acts on the
 * four: SIGINT and SIGTERM stop every listener with `drain`; SIGUSR1
 * prints the counters summed over the listeners as one JSON line on
 * stderr; SIGHUP has signals_service() reload the TLS files of each
 * tls:// listener, or says that there is nothing to reload. In a worker
 * process (`chan` >= 0, its end of the channel to the supervisor),
 * SIGUSR1 sends the counters there instead, SIGTERM says there that the
 * listeners accept no more (CHANNEL_STOPPING), and SIGINT and SIGHUP are
 * the supervisor's: ignored here. ls must stay open until signals_stop().
 * Returns 0, or -errno. */
int signals_start(const struct listeners *ls, double drain, int chan);
/* In a listener's serving thread (its service_actions, which
 * ss_serve_forever calls at least every poll_interval): if a SIGHUP came
 * since the last call, reload srv's TLS files (ss_server_tls_reload) and
 * say in one line on stderr how that went. */
void signals_service(ss_server *srv);
/* Before the listeners close: the helper thread is gone, and the four
 * signals stay pending, without effect. */
void signals_stop(void);

#endif
