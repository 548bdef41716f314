/* strategy.h: the concurrency strategies' ops table (Python's mix-ins) and what they share (internal). */
#ifndef SS_STRATEGY_H
#define SS_STRATEGY_H

#include "conn/conn.h"

/*
 * One concurrency strategy, chosen once per server. Every op is required:
 * a strategy with nothing to do names one of the shared no-ops below. The
 * ops other than init and close are called only after init succeeded
 * (srv->st_ready); close is called once, also after a failed init.
 */
typedef struct ss__strategy {
    const char *name;
    /* The connection type of its stream requests. */
    const ss__conn_type *stream_conn;
    /* Its own threads accept (event loops); the serve loop then leaves the
     * listener alone and only waits for a stop. */
    bool loops_accept;
    /* Set up srv->st_state. 0 or -errno. */
    int (*init)(ss_server *srv);
    /* Run the request; takes ownership of req. */
    void (*process_request)(ss_server *srv, ss_request *req);
    /* Collect finished threads or children without blocking. */
    void (*reap)(ss_server *srv);
    /* Server close: wait (block) or let go of what still runs; free state. */
    void (*close)(ss_server *srv, bool block);
    /* Fill the strategy's counters of out (threads, children). */
    void (*stats)(const ss_server *srv, ss_stats *out);
    /* Wait until the request's own connection is ready for events, the
     * deadline (ns, 0: none) or a drain: 0, -ETIMEDOUT or -ECANCELED. */
    int (*wait_conn)(ss_request *req, short events, int64_t deadline);
    /* The same for any other descriptor (fd < 0: the deadline alone). */
    int (*wait_fd)(ss_request *req, int fd, short events, int64_t deadline);
    /* serve_forever begins and ends (loops_accept: accepting on and off;
     * serve_end only asks). */
    void (*serve_begin)(ss_server *srv);
    void (*serve_end)(ss_server *srv);
    /* Before the listener closes: returns once nothing uses it. */
    void (*release_listener)(ss_server *srv);
    /* A slot below the connection limit freed: whoever stopped accepting
     * at the limit takes the listener back. Any thread or process. */
    void (*accept_resume)(ss_server *srv);
    /* Before the request's connection is closed (event: leave epoll). */
    void (*before_close)(ss_request *req);
    /* ss_run_blocking(). */
    int (*run_blocking)(ss_request *req, int (*fn)(void *), void *arg);
    /* ss_server_stop() in this process: true when the strategy took it as
     * a stop for this process alone (a forked child cuts its own request
     * short). Async-signal-safe. */
    bool (*stop_here)(ss_server *srv);
    /* A request of this process ends: may it give its slot back? (A forked
     * child only if the parent has not already, for a child that died.) */
    bool (*slot_is_mine)(ss_server *srv);
} ss__strategy;

extern const ss__strategy ss__sync, ss__threading, ss__forking, ss__pool, ss__event;
/* The ops of a strategy, NULL for a value that is none (strategies.c). */
const ss__strategy *ss__strategy_ops(ss_strategy s);

/* How a thread or a process waits: poll() with the drain timer (poll_wait.c). */
int ss__poll_wait(ss_request *req, int fd, short events, int64_t deadline);
int ss__poll_wait_conn(ss_request *req, short events, int64_t deadline);

/* Shared no-ops and defaults (nops.c). */
void ss__st_nop(ss_server *srv);
void ss__st_nop_req(ss_request *req);
void ss__st_nop_stats(const ss_server *srv, ss_stats *out);
int ss__st_run_in_place(ss_request *req, int (*fn)(void *), void *arg);
bool ss__st_not_here(ss_server *srv);
bool ss__st_slot_is_mine(ss_server *srv);

#endif /* SS_STRATEGY_H */
