/* signals.h: the program's signals: SIGINT/SIGTERM stop, SIGUSR1 reports the counters, the rest that would end or stop it are ignored. */
#ifndef SOCKSERV_SIGNALS_H
#define SOCKSERV_SIGNALS_H

#include "sockserv.h"

/* First thing in main: ignore the signals that would kill or stop the
 * program for nothing (--help lists them), and hold SIGINT, SIGTERM and
 * SIGUSR1 until signals_start(). Threads started meanwhile keep them held.
 * SIGINT and SIGTERM are ignored outside signals_start() ..
 * ss_server_close(): a second one during the drain changes nothing. */
void signals_init(void);
/* From now on SIGINT and SIGTERM stop srv with `drain` (until
 * ss_server_close()), and SIGUSR1 makes a helper thread print srv's
 * counters as one JSON line on stderr. SIGINT and SIGTERM come in; SIGUSR1
 * stays held in every other thread (and in forked request processes,
 * where it does nothing). Returns 0, or -errno (the signals stay held). */
int signals_start(ss_server *srv, double drain);
/* Before ss_server_close(): the helper thread is gone, and a SIGUSR1
 * after this stays pending, unreported. */
void signals_stop(void);

#endif
