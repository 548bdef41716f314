/* worker.h: a worker process of --processes: it serves copies of the supervisor's listeners and tells the supervisor through its channel. */
#ifndef SOCKSERV_WORKER_H
#define SOCKSERV_WORKER_H

#include <sys/types.h>

#include "cli.h"
#include "listeners.h"

/* In the child, right after the fork: serve a copy (dup) of each of the
 * supervisor's listeners `sup` in o's mode, with the shared TLS ticket
 * keys `tickets` (NULL: no tls:// listener), tell the supervisor
 * `supervisor` through `chan` (its end of the channel) when every one
 * serves, its counters at SIGUSR1 and its final counters; stop at
 * SIGTERM (or when the supervisor dies), leaving SIGINT and SIGHUP to the
 * supervisor. Never returns: exits with the program's exit status. */
void worker_run(const struct cli_opts *o, const struct listeners *sup, ss_tls_tickets *tickets,
                int chan, pid_t supervisor) __attribute__((noreturn));

#endif
