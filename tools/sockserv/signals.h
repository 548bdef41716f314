/* signals.h: the program's signals: SIGINT/SIGTERM stop, SIGUSR1 reports the counters, SIGHUP reloads the TLS files, the rest that would end or stop it are ignored. */
#ifndef SOCKSERV_SIGNALS_H
#define SOCKSERV_SIGNALS_H

#include "sockserv.h"

/* First thing in main: ignore the signals that would kill or stop the
 * program for nothing (--help lists them), and hold SIGINT, SIGTERM,
 * SIGUSR1 and SIGHUP until signals_start(). Threads started meanwhile keep
 * them held.
 * SIGINT and SIGTERM are ignored outside signals_start() ..
 * ss_server_close(): a second one during the drain changes nothing. */
void signals_init(void);
/* From now on SIGINT and SIGTERM stop srv with `drain` (until
 * ss_server_close()), SIGUSR1 makes a helper thread print srv's counters
 * as one JSON line on stderr, and SIGHUP makes it ask signals_service()
 * for a reload. SIGINT and SIGTERM come in; SIGUSR1 and SIGHUP stay held
 * in every other thread (and in forked request processes, where they do
 * nothing). Returns 0, or -errno (the signals stay held). */
int signals_start(ss_server *srv, double drain);
/* In the serving thread (srv's service_actions, which ss_serve_forever
 * calls at least every poll_interval): if a SIGHUP came since the last
 * call, reload srv's TLS files (ss_server_tls_reload) and say in one line
 * on stderr how that went, or that a server that is not tls:// has
 * nothing to reload. */
void signals_service(ss_server *srv);
/* Before ss_server_close(): the helper thread is gone, and a SIGUSR1 or
 * SIGHUP after this stays pending, without effect. */
void signals_stop(void);

#endif
