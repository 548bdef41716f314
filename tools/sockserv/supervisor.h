/* supervisor.h: --processes: the supervisor that makes the listeners, forks the workers that serve them, restarts one that dies, replaces them all at SIGHUP and stops them at SIGTERM. */
#ifndef SOCKSERV_SUPERVISOR_H
#define SOCKSERV_SUPERVISOR_H

#include "cli.h"

/*
 * Bind the listeners (or take the sockets systemd passed) and --metrics,
 * switch to --user, make the TLS ticket keys every worker shares, fork
 * o->processes workers (worker.h), print the ready lines once every one
 * serves, then
 * watch them until SIGINT or SIGTERM:
 * - a worker that dies is restarted, at once the first time, then after
 *   a delay that doubles from RESTART_FIRST up to RESTART_MAX seconds
 *   while it keeps dying within RESTART_STABLE seconds of its start; one
 *   line on stderr a restart, with the pid and how the worker ended;
 * - SIGHUP: o->processes new workers (which read the TLS files afresh);
 *   once every one serves, SIGTERM to the previous ones, which stop
 *   accepting and drain while the new ones take the connections waiting
 *   on the shared listeners (no connection is refused: the listeners stay
 *   open in the supervisor). If a new one cannot start, the new ones are
 *   stopped and the previous ones serve on; one line says either way;
 * - SIGUSR1: each worker's counters, asked through SIGUSR1 and summed with
 *   those of the workers that ended, printed as one JSON line; with
 *   --metrics, every scrape gets such a sum the same way (the supervisor
 *   serves it: metrics.h, scrape.h). The sums never go backwards: a
 *   worker that ended counts with its final counters, or, killed, its
 *   last reported ones;
 * - SIGINT, SIGTERM: SIGTERM to every worker (each drains with --drain;
 *   one still running RESTART_KILL_GRACE seconds past it gets SIGKILL);
 *   once none accepts any more, the listeners shut down (new clients are
 *   refused, as by a single process); once all have ended, the listeners closed (a Unix socket file the
 *   supervisor made removed) and the stop line with the sums.
 * The supervisor never runs a handler. Returns the exit status: 0, or 1
 * when a listener or the first workers could not start.
 */
int supervisor_run(const struct cli_opts *o);

#endif
