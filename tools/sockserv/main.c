/* main.c: the sockserv program: the command line, then one process serving every listener, or (--processes) a supervisor and its workers. */
#include <stdlib.h>

#include "chat_line.h"
#include "cli.h"
#include "listeners.h"
#include "logging.h"
#include "metrics.h"
#include "room.h"
#include "serve.h"
#include "signals.h"
#include "supervisor.h"
#include "user.h"

/* The longest chat line, formatted with the longest peer name and its text
 * grown by the cleaning, fits the backlog of one member. */
_Static_assert(CHAT_MAX_LINE_LIMIT * CHAT_CLEAN_GROWTH + ROOM_MAX_PEER + 2 <= CHAT_BACKLOG,
               "a chat line of --max-line's limit would not fit a member's backlog");

/* One process: bind every listener (or take systemd's sockets) and
 * --metrics, switch to --user, start the chat room, serve. Returns the
 * exit status. */
static int serve_alone(const struct cli_opts *o)
{
    struct listeners *ls = calloc(1, sizeof *ls);
    struct metrics *metrics = NULL;
    struct room *room = NULL;
    int status;

    if (!ls) {
        cli_error("out of memory");
        return EXIT_NOLISTEN;
    }
    status = listeners_open(ls, o, true);
    if (status < 0)
        status = metrics_open(&metrics, o, serve_collect, ls);
    if (status < 0 && o->user.spec)
        status = user_switch(&o->user);
    if (status < 0)
        status = serve_open_room(ls, o, &room);
    if (status < 0) {
        status = serve_listeners(ls, o, room, -1, metrics);
    } else {
        metrics_close(metrics);
        listeners_close(ls, NULL);
    }
    free(ls);
    return status;
}

int main(int argc, char **argv)
{
    struct cli_opts opts;

    signals_init();
    int status = cli_parse(argc, argv, &opts);
    if (status < 0) {
        log_setup(opts.log_format, opts.log_level);
        status = opts.processes > 0 ? supervisor_run(&opts) : serve_alone(&opts);
    }
    cli_free(&opts);
    return status;
}
