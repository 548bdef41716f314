/* listeners.h: the program's listeners: a server on each --listen URL or on each socket systemd passed, or (in a worker process) on a copy of each of the supervisor's. */
#ifndef SOCKSERV_LISTENERS_H
#define SOCKSERV_LISTENERS_H

#include "cli.h"

/* One listener: its server, what its handlers find, its final counters. */
struct listener {
    ss_server *srv;
    struct app app;          /* ss_server_userdata(srv) */
    ss_stats final;          /* filled by ss_server_close() */
};

struct listeners {
    struct listener v[MAX_LISTENERS];
    size_t n;
};

/* A server on each --listen URL (bound now), or on each socket systemd
 * passed (o->activated), each serving in o's mode; with `serving` false,
 * in sync mode, for a supervisor that only holds them for its workers.
 * With --user, the Unix socket files made are given to that user. On
 * failure, the problem is reported and those made are closed. Returns -1,
 * or the exit status. */
int listeners_open(struct listeners *ls, const struct cli_opts *o, bool serving);
/* In a worker process: a server on a copy (dup) of each of the
 * supervisor's sockets, in o's mode, its TLS sessions' ticket keys
 * `tickets` (NULL: its own). Such a server never shuts the shared socket
 * down and never removes its file. Returns -1, or the exit status (the
 * problem reported; those made are closed). */
int listeners_adopt(struct listeners *ls, const struct listeners *from, const struct cli_opts *o,
                    ss_tls_tickets *tickets);
/* Every handler of every listener finds the chat room there. */
void listeners_set_room(struct listeners *ls, struct room *room);
/* "listening on URL", a line each, in order, flushed. */
void listeners_print_ready(const struct listeners *ls);
/* Whether a listener is tls:// (has TLS files to reload). */
bool listeners_have_tls(const struct listeners *ls);
/* ss_server_stop() on each: async-signal-safe, any thread. */
void listeners_stop(const struct listeners *ls, double drain);
/* The counters now, summed over the listeners. */
void listeners_stats(const struct listeners *ls, ss_stats *sum);
/* Close every server (each waits for its requests), and sum their final
 * counters into *sum (may be NULL). */
void listeners_close(struct listeners *ls, ss_stats *sum);

#endif
