/* serve.c: one process serving its listeners: each on its own thread (the first on the calling one), signals, the console, the ready and stop lines (or, in a worker, the messages to the supervisor). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "counters.h"
#include "metrics.h"
#include "room.h"
#include "serve.h"
#include "signals.h"
#include "thread.h"

/* How often a serving thread wakes with nothing to do, to run
 * signals_service (a SIGHUP's reload). */
#define POLL_INTERVAL 0.5

int serve_open_room(struct listeners *ls, const struct cli_opts *o, struct room **room)
{
    *room = NULL;
    if (o->cmd != CMD_CHAT)
        return -1;
    struct room_url url = o->room_url;
    const char *why;
    if (o->room && room_url_resolve(&url, &why) < 0) {
        cli_error("--room: cannot find the address of '%s': %s", url.host, why);
        return EXIT_NOLISTEN;
    }
    *room = room_start(o->max_line, CHAT_BACKLOG, o->room ? &url : NULL);
    if (!*room && errno == EMSGSIZE) {
        cli_error("cannot start the chat room: a line of %zu bytes does not fit the socket "
                  "buffer the system grants (net.core.wmem_max); use a lower --max-line",
                  o->max_line);
        return EXIT_NOLISTEN;
    }
    if (!*room) {
        cli_error("cannot start the chat room: %s", strerror(errno));
        return EXIT_NOLISTEN;
    }
    listeners_set_room(ls, *room);
    return -1;
}

/* What the serving threads and the console's quit share. */
struct serving {
    struct listeners *ls;
    double drain;
    int chan;                /* a worker's channel, or -1 */
    pthread_t threads[MAX_LISTENERS];
    bool started[MAX_LISTENERS];
    int rc[MAX_LISTENERS];   /* each listener's ss_serve_forever */
};

/* A listener that cannot serve stops the others: the process serves all
 * or none. */
static void serve_one(struct serving *sv, size_t i)
{
    ss_server *srv = sv->ls->v[i].srv;

    sv->rc[i] = ss_serve_forever(srv, POLL_INTERVAL);
    if (sv->rc[i] < 0) {
        cli_error("cannot serve %s: %s", ss_server_url(srv), ss_strerror(sv->rc[i]));
        listeners_stop(sv->ls, sv->drain);
    }
}

struct thread_arg {
    struct serving *sv;
    size_t i;
};

static void *serve_thread(void *arg)
{
    const struct thread_arg *ta = arg;

    serve_one(ta->sv, ta->i);
    return NULL;
}

/* The console's quit: stop every listener; in a worker, the supervisor
 * stops every worker. */
static void quit_all(void *arg)
{
    struct serving *sv = arg;

    if (sv->chan >= 0)
        kill(getppid(), SIGTERM);
    else
        listeners_stop(sv->ls, sv->drain);
}

/* Serve every listener, the first on this thread; returns once all stopped. */
static void serve_all(struct serving *sv)
{
    struct thread_arg args[MAX_LISTENERS];

    for (size_t i = 1; i < sv->ls->n; i++) {
        args[i] = (struct thread_arg){ sv, i };
        int rc = helper_thread_start(&sv->threads[i], serve_thread, &args[i]);
        if (rc < 0) {
            sv->rc[i] = rc;
            cli_error("cannot serve %s: %s", ss_server_url(sv->ls->v[i].srv), ss_strerror(rc));
            listeners_stop(sv->ls, sv->drain);
            break;
        }
        sv->started[i] = true;
    }
    serve_one(sv, 0);
    for (size_t i = 1; i < sv->ls->n; i++)
        if (sv->started[i])
            pthread_join(sv->threads[i], NULL);
}

int serve_collect(void *arg, ss_stats *sum)
{
    listeners_stats(arg, sum);
    return 0;
}

int serve_listeners(struct listeners *ls, const struct cli_opts *o, struct room *room, int chan,
                    struct metrics *metrics)
{
    struct serving sv = { .ls = ls, .drain = o->drain, .chan = chan };
    struct console *con = NULL;
    ss_stats sum;
    int rc = signals_start(ls, o->drain, chan);

    if (rc < 0)
        cli_error("cannot start: %s", ss_strerror(rc));
    else if ((rc = metrics_start(metrics)) < 0)
        signals_stop();
    if (rc < 0) {
        metrics_close(metrics);
        listeners_close(ls, NULL);
        room_stop(room);
        return EXIT_NOLISTEN;
    }
    if (chan < 0)
        listeners_print_ready(ls);
    else
        channel_send(chan, CHANNEL_READY, NULL);
    if (room && console_wanted())
        con = console_start(room, ls, quit_all, &sv, o->drain);
    serve_all(&sv);
    console_stop(con);
    signals_stop();
    metrics_close(metrics); /* before the listeners it reads */
    listeners_close(ls, &sum);
    room_stop(room);
    if (chan < 0)
        counters_print_stopped(&sum);
    else
        channel_send(chan, CHANNEL_FINAL, &sum);
    for (size_t i = 0; i < MAX_LISTENERS; i++)
        if (sv.rc[i] < 0)
            return EXIT_NOLISTEN;
    return EXIT_STOPPED;
}
