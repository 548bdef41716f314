/* serve.h: one process serving its listeners: each on its own thread (the first on the calling one), signals, the console, the ready and stop lines (or, in a worker, the messages to the supervisor). */
#ifndef SOCKSERV_SERVE_H
#define SOCKSERV_SERVE_H

#include "cli.h"
#include "listeners.h"

struct metrics;

/* The chat room (o->cmd == CMD_CHAT), set on every listener: *room, or
 * NULL for echo. Returns -1, or the exit status with the problem
 * reported. */
int serve_open_room(struct listeners *ls, const struct cli_opts *o, struct room **room);
/* Serve every listener until SIGINT/SIGTERM (or the console's quit) stops
 * them, then close them and the room. Alone (`chan` < 0): the ready lines
 * on stdout first, the stop line with the sums at the end; in a worker
 * (`chan`, its end of the channel to the supervisor): CHANNEL_READY and
 * CHANNEL_FINAL there instead. `metrics` (--metrics, bound; NULL: none)
 * serves from before the ready lines, and is closed once the listeners
 * stopped serving, before they close. Returns the exit status. */
int serve_listeners(struct listeners *ls, const struct cli_opts *o, struct room *room, int chan,
                    struct metrics *metrics);
/* --metrics in one process (a metrics_collect_fn, arg: the listeners):
 * their counters now, summed. */
int serve_collect(void *arg, ss_stats *sum);

#endif
