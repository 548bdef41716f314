/* sockserv.h: the whole public API of libsockserv, Python's socketserver in C. */
#ifndef SOCKSERV_H
#define SOCKSERV_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SS_VERSION_MAJOR 0
#define SS_VERSION_MINOR 1
#define SS_VERSION_PATCH 0
#define SS_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define SS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SS_API __attribute__((visibility("default")))
#else
#define SS_PRINTF(f, a)
#define SS_API
#endif

/*
 * Error convention (one for the whole library)
 * --------------------------------------------
 * A function returning int or ssize_t returns >= 0 on success and a negative
 * errno value on failure (-EINVAL, -EADDRINUSE, ...). Timeouts are always
 * -ETIMEDOUT (SS_ETIMEDOUT). An I/O call cut short because the server is
 * stopping and the drain deadline has passed returns -ECANCELED
 * (SS_ECANCELED). A function returning a pointer returns NULL on failure with
 * errno set. ss_strerror() turns either form into text.
 *
 * Threads and processes
 * ---------------------
 * Nothing here is process-global but signal handlers (ss_stop_on_signals):
 * two servers in one process are independent. A request and its I/O calls
 * belong to the thread (or process) that runs its handler, and a request
 * stays on that thread from setup to finish (under pool and event too: its
 * coroutine never moves), so thread-local storage and errno behave.
 * ss_shutdown(), ss_server_stop() and ss_server_stats() may be called from
 * any thread, from inside a handler, and (the first two) from a signal
 * handler. Every file descriptor the library creates is close-on-exec, and
 * no library call raises SIGPIPE.
 *
 * State shared by requests
 * ------------------------
 * Put it behind cfg.userdata (ss_server_userdata() in a handler).
 * Under sync one request runs at a time; under threading, pool and event
 * requests run at once on several threads: guard shared state with a mutex
 * (or atomics). Under pool and event a mutex is fine as long as it is not
 * held across an ss_ I/O call (ss_read, ss_write, ss_sleep, ss_wait_fd...):
 * the request may yield there, and another request of the same thread
 * that takes the mutex would deadlock. Under forking each request runs in
 * its own copy of the process: what it changes is not seen by the server
 * or by other requests (use shared memory, a file or another server).
 *
 * What a drain bounds
 * -------------------
 * At a drain deadline every ss_ I/O call fails with -ECANCELED, so a
 * handler that does its I/O through the library ends soon. A handler
 * blocked outside the library (a computation, a blocking call of its own)
 * is not interrupted: ss_server_close() waits for its thread, and for a
 * forked child kills it one second past the deadline.
 *
 * C++
 * ---
 * The header is C and C++ (extern "C"). An exception must not leave a
 * hook: the library is C and cannot unwind it (the behaviour is undefined:
 * with GCC the process usually terminates). Catch everything in the hook
 * and return a negative errno, e.g. return ss_request_fail(req, -EIO,
 * "%s", e.what()). In C++, fill ss_config by fields (ss_config cfg{};
 * cfg.listen = ...): C's compound literal with designators is not C++.
 */
#define SS_ETIMEDOUT (-ETIMEDOUT)
#define SS_ECANCELED (-ECANCELED)

/* Opaque handles. */
typedef struct ss_server ss_server;
typedef struct ss_request ss_request;
typedef struct ss_tls_tickets ss_tls_tickets; /* session ticket keys (TLS) */

/* The concurrency strategy (Python's mix-ins): chosen once per server. */
typedef enum ss_strategy {
    SS_SYNC = 0,    /* one request at a time, in the serving thread */
    SS_THREADING,   /* a thread per request (ThreadingMixIn) */
    SS_FORKING,     /* a process per request (ForkingMixIn), forked by the
                       serving thread: a lock another thread of the
                       application holds at that moment stays held in the
                       child (OpenSSL 3 prepares none of its own for fork).
                       The library's TLS context builds are kept apart from
                       forks (ss_fork_gate_enter); wrap such work of your
                       own threads in it too */
    SS_POOL,        /* a fixed set of worker threads fed by a bounded queue;
                       a request waiting for I/O parks (holds no thread) */
    SS_EVENT        /* each request a coroutine on one of `workers` epoll loops */
} ss_strategy;

/* A strategy's name: "sync", "threading", "forking", "pool", "event";
 * NULL for a value that is no strategy. Strategies are numbered from 0
 * without gaps, so for (ss_strategy s = 0; ss_strategy_name(s); s++)
 * visits each. */
SS_API const char *ss_strategy_name(ss_strategy s);
/* The strategy called `name` into *out. Returns 0, or -EINVAL. */
SS_API int ss_strategy_from_name(const char *name, ss_strategy *out);

/*
 * The request handler (Python's BaseRequestHandler), written once in blocking
 * style. For each request the server calls setup, then handle, then finish;
 * finish is called whenever setup succeeded (or is absent), even when handle
 * failed. Each hook returns 0 on success or a negative errno; a failure is
 * passed to the server's handle_error hook. All hooks are optional: a handler
 * with no hooks accepts and closes. All of a handler's I/O must go through the
 * request calls below (ss_read, ss_write, ...): that is what lets the same
 * handler run under every strategy. Under the pool and event strategies a
 * request waiting in these calls holds no thread. A handler that blocks
 * outside them (a blocking library call, long computing) holds its thread:
 * under pool its worker, and the requests parked on that worker resume (and
 * time out) only once it returns, while other workers keep serving; under
 * event use ss_run_blocking for such calls.
 */
typedef struct ss_handler {
    int (*setup)(ss_request *req);
    int (*handle)(ss_request *req);
    int (*finish)(ss_request *req);
} ss_handler;

/* The number of duration buckets in ss_stats. */
#define SS_DURATION_BUCKETS 32

/* Counters, read with ss_server_stats(). Every accepted request ends as
 * exactly one of refused, completed or cancelled, or fails before its
 * handler ran (setup failed, an oversized datagram...). */
typedef struct ss_stats {
    uint64_t accepted;       /* requests taken from the socket */
    uint64_t refused;        /* refused by verify_request */
    uint64_t completed;      /* requests whose handler ran to its end (even
                                if it reported a failure) and whose output
                                was not cut short by a drain */
    uint64_t errors;         /* calls of handle_error */
    uint64_t accept_errors;  /* failed accept()/recvfrom() calls */
    uint64_t cancelled;      /* requests cut short at a drain deadline */
    uint64_t dropped;        /* datagram replies not sent because the socket
                                could not take them at once (the kernel's
                                buffer full, or a Unix client holding more
                                than its share of it unread) */
    uint64_t tls_failed;     /* TLS handshakes that failed or timed out (the
                                handler never ran; each also an error); a
                                client that left before sending a byte (a
                                probe, a health check) is not one */
    unsigned active;         /* requests in flight now */
    unsigned threads;        /* request threads not yet joined; pool: the
                                workers; event: the loops */
    unsigned children;       /* child processes not yet reaped (reaping happens
                                in the serve loop and in ss_server_close) */
    /* Bytes and durations: counted when a request ends (a forked child's
     * too), before it counts as completed (a reader that sees it completed
     * sees them), so a request in flight is not in them yet; a request whose
     * process was killed is in none of them. They stay 0 in a library
     * built with SS_STATS=OFF (ss_stats_detailed() says which). */
    uint64_t bytes_in;       /* bytes received from clients on their sockets:
                                a stream's (a TLS connection's records, its
                                handshake included; a PROXY header), each
                                datagram taken */
    uint64_t bytes_out;      /* bytes sent to clients on their sockets (TLS:
                                records); a datagram reply once sent */
    uint64_t duration_sum_us; /* the durations below summed, microseconds */
    /* Requests by duration, from accept (or a datagram's receipt) to close,
     * every request taken: refused, failed and cancelled ones too. Fixed
     * log-scale buckets: duration[0] counts those under 1 us, duration[i]
     * those from 2^(i-1) us to under 2^i us, the last one those from
     * 2^(SS_DURATION_BUCKETS - 2) us (about 18 minutes) on; see
     * ss_duration_bucket_bound(). */
    uint64_t duration[SS_DURATION_BUCKETS];
} ss_stats;

/* The upper bound of ss_stats.duration[i] in seconds, excluded: 2^i us
 * (1e-6, 2e-6, 4e-6, ...); INFINITY for the last bucket; NAN for an i past
 * it. */
SS_API double ss_duration_bucket_bound(unsigned i);
/* Does this library count bytes_in, bytes_out and the duration histogram
 * (built with SS_STATS=ON, the default)? The other counters always are. */
SS_API bool ss_stats_detailed(void);

/* ---- Logging -------------------------------------------------------------
 * The library's messages, each with a level, a short stable event name and
 * one line of text (no newline; every byte printable ASCII: text a client
 * controls, such as a Unix peer name or a handler's reason that quotes the
 * client, is escaped as \xNN before it gets here). Events:
 *   error    handler_failed        a hook failed (handle_error's default line)
 *   error    tls_handshake_failed  a TLS client failed the handshake
 *   error    proxy_refused         no valid PROXY header, or an untrusted proxy
 *   error    request_cancelled     a request cut short by a drain deadline
 *   warning  accept_backoff        accept (recvmsg) failed in a way that repeats
 *                                  (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...):
 *                                  accepting pauses 100 ms (at most one line
 *                                  per pause)
 *   info     accept_error          accept failed for one client (ECONNABORTED, ...)
 *   info     drain                 a server stopped for good closes: the requests
 *                                  in flight and the time left to the deadline
 *   info     conn_open             a request was taken (its client)
 *   info     conn_close            a request ended (its client, duration and
 *                                  bytes in and out when ss_stats_detailed())
 * The first four come from handle_error's default: a handle_error of your
 * own replaces them (it is told of the failure instead). More events may be
 * added; a callback should pass on names it does not know.
 */
typedef enum ss_log_level {
    SS_LOG_ERROR = 1,
    SS_LOG_WARNING,
    SS_LOG_INFO,
    SS_LOG_DEBUG
} ss_log_level;

/* "error", "warning", "info", "debug"; NULL for another value. */
SS_API const char *ss_log_level_name(ss_log_level level);
/* The default log: one line on stderr,
 *   PROGRAM: MESSAGE              (errors)
 *   PROGRAM: LEVEL: MESSAGE       (the others: "warning: ", "info: ", "debug: ")
 * PROGRAM being program_invocation_short_name (the library may be part of
 * any program). One write(2) per line. When stderr is systemd's journal
 * (ss_log_to_journal), each line starts with its syslog priority, <3> to
 * <7>, which journald takes as the entry's priority (and strips). A log
 * callback may call it to keep the line and do more. */
SS_API void ss_log_stderr(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *msg);
/* Whether stderr is the stream systemd connected to its journal: the
 * JOURNAL_STREAM variable it sets ("DEVICE:INODE", systemd.exec(5)) names
 * stderr's file. Looked at once, at the first call (or ss_log_stderr's);
 * a stderr redirected elsewhere since is not the journal. */
SS_API bool ss_log_to_journal(void);
/* The syslog priority of a level (3 error, 4 warning, 6 info, 7 debug;
 * 6 for another value): the <N> a line to the journal starts with. */
SS_API int ss_log_syslog_priority(ss_log_level level);

/* Forks (SS_FORKING's, or any fork() of the process) and work between
 * enter and leave exclude each other: a fork waits for the work to end,
 * the work waits while a fork is under way. For work on another thread
 * that takes locks a forked child must not inherit held (OpenSSL calls,
 * an allocator that does not prepare for fork): the child of a fork that
 * happened meanwhile would hang at its first use of that lock. The
 * library does it for its own (TLS context builds and frees). Hold it
 * while working, never while waiting; not recursive; never fork inside. */
SS_API void ss_fork_gate_enter(void);
SS_API void ss_fork_gate_leave(void);

/*
 * Server configuration. Fill it with designated initializers; every field
 * left zero takes the default named here. Times are seconds as a double:
 * 0 means none, any positive time (however small) is a limit, and a
 * negative or NaN time is refused (EINVAL, with the field named by
 * ss_last_error()), as are negative counts and sizes over 256 MiB. The library copies what it needs:
 * the struct and the listen string may be freed after ss_server_new() returns;
 * `handler` must stay valid for the server's life.
 */
typedef struct ss_config { /* NOLINT(clang-analyzer-optin.performance.Padding): fields grouped by topic, one struct per server */
    /* Where to listen:
     *   tcp://HOST:PORT  tcp://[V6ADDR]:PORT   udp://HOST:PORT  udp://[V6ADDR]:PORT
     *   tls://HOST:PORT  tls://[V6ADDR]:PORT   (TCP with TLS: tls_cert, tls_key)
     *   unix:PATH        unix-dgram:PATH       (PATH starting with @: abstract)
     * Port 0 picks a free port; `[::]` listens on IPv4 and IPv6 both. */
    const char *listen;
    const ss_handler *handler;           /* required */
    ss_strategy strategy;                /* default SS_SYNC */
    void *userdata;                      /* returned by ss_server_userdata() */

    /* Socket set-up (TCPServer / UDPServer class attributes). */
    bool allow_reuse_address;            /* SO_REUSEADDR */
    bool allow_reuse_port;               /* SO_REUSEPORT */
    int request_queue_size;              /* listen() backlog; default 128 */
    bool defer_activate;                 /* create only: caller then calls
                                            ss_server_bind() and
                                            ss_server_activate() */

    /* handle_request(): seconds to wait for a request before calling
     * handle_timeout; 0 waits forever (Python's timeout = None). */
    double timeout;

    /* Limits. At max_connections requests in flight the server stops
     * accepting (clients wait in the listen backlog; none is accepted and
     * closed) and resumes as soon as one ends; 0 = no limit. Under the
     * forking strategy max_children is a limit of the same kind: the
     * smaller of the two applies. */
    int max_connections;
    /* Unix socket files: the permission bits (e.g. 0660) the file is created
     * with, never wider at any moment; 0 = 0777 less the umask. */
    unsigned socket_mode;

    /* Stream requests (StreamRequestHandler). */
    double request_timeout;              /* seconds; 0 = none. A read call
                                            that has not completed within it
                                            fails (bytes trickling in do not
                                            extend it); a write fails once no
                                            byte went out for that long */
    bool tcp_nagle;                      /* keep Nagle's algorithm on TCP
                                            connections (Python's default,
                                            disable_nagle_algorithm = False).
                                            Off by default, as in Go: a reply
                                            written in pieces would otherwise
                                            wait for the client's delayed ACK
                                            (40 ms) */
    size_t rbufsize;                     /* read buffer; default 8192 */
    size_t wbufsize;                     /* 0 = every ss_write goes out at
                                            once (Python's default); else
                                            writes gather up to this many
                                            bytes, sent by ss_flush, a full
                                            buffer, the end of the request,
                                            or a read that has to wait for
                                            input (so a reply never waits
                                            for the next request) */

    /* Datagram requests (DatagramRequestHandler). */
    size_t max_packet_size;              /* default 8192; a larger datagram is
                                            reported as -EMSGSIZE, not handled */

    /* Threading strategy. */
    bool daemon_threads;                 /* threads are detached: never joined */
    bool no_block_on_close;              /* Python's block_on_close = False:
                                            ss_server_close() does not wait for
                                            threads or children */
    /* Forking strategy. */
    int max_children;                    /* child processes at once, one per
                                            request in flight (default 40);
                                            at the limit the next client
                                            waits in the listen backlog */
    /* Pool and event strategies. */
    int workers;                         /* pool: worker threads, the only ones
                                            that run handlers: at most this many
                                            run at once, while any number wait
                                            for I/O (default 2 x online CPUs);
                                            event: loops, each a thread
                                            (default online CPUs) */
    int queue_size;                      /* pool: accepted requests not yet
                                            started (default 4 x workers); it
                                            fills only while every worker is
                                            held; when full, the server stops
                                            accepting */
    int blocking_threads;                /* event: helper threads that run
                                            ss_run_blocking calls, started as
                                            needed (default 4); more calls
                                            than that wait their turn */
    size_t stack_size;                   /* each handler's stack: threading's
                                            threads (default 256 KiB, at least
                                            PTHREAD_STACK_MIN), pool and event
                                            coroutines (default 256 KiB under
                                            pool, 64 KiB under event; a 64 KiB
                                            guard region below it faults on
                                            overflow; frames larger than that
                                            need -fstack-clash-protection) */
    bool park_idle_stacks;               /* pool and event: a handler that has
                                            waited 1 to 2 s (for its connection,
                                            a descriptor, a sleep; not in
                                            ss_run_blocking) gives its whole
                                            stack back, its frames (when they
                                            fit in a page) kept on the heap
                                            until it runs again: an idle
                                            connection then holds the few
                                            hundred bytes they take instead of
                                            a 4 KiB page. Only for handlers
                                            whose local variables no other
                                            thread or handler reads or writes
                                            while they wait: the addresses stay
                                            the same, but the contents are not
                                            there meanwhile. Off: the pages
                                            below the frames are given back */

    /* TLS (tls:// URLs; needs the library built with OpenSSL 3: see
     * ss_tls_available()). The files are read when the server is created
     * and again by ss_server_tls_reload(); the paths are copied. */
    const char *tls_cert;                /* PEM certificate chain, the
                                            server's certificate first
                                            (required) */
    const char *tls_key;                 /* PEM private key, not encrypted
                                            (required) */
    const char *tls_client_ca;           /* PEM CA certificates: clients must
                                            present a certificate they signed
                                            (mutual TLS); NULL: none asked */
    const char *tls_alpn;                /* ALPN protocols offered, comma
                                            separated, in order of preference
                                            ("h2,http/1.1"); NULL: no ALPN */
    double tls_handshake_timeout;        /* seconds for the whole handshake;
                                            default request_timeout, or 10
                                            when that is 0 */
    ss_tls_tickets *tls_tickets;         /* session ticket keys shared with
                                            other servers and processes
                                            (ss_tls_tickets_new); NULL: the
                                            server's own. Not copied: it
                                            must outlive the server */

    /* PROXY protocol (HAProxy's, v1 and v2; stream transports). With
     * proxy_protocol every connection must begin with a PROXY header, read
     * before anything else (before a TLS handshake too) within
     * request_timeout, or 3 s when that is 0. Its client address becomes
     * the request's peer (ss_request_peer, ss_request_peer_str, what
     * verify_request sees); the proxy's own stays readable
     * (ss_request_proxy). A LOCAL (health check) or UNKNOWN header keeps the
     * real endpoints; v2 TLVs are skipped. A connection without a valid
     * header, or from a source outside proxy_trusted, is refused (counted
     * in stats.refused, reported to handle_error) and never handled. */
    bool proxy_protocol;
    const char *proxy_trusted;           /* the proxies' addresses, CIDR
                                            ranges separated by commas
                                            ("10.0.0.0/8,fd00::/8"); NULL:
                                            loopback (127.0.0.0/8, ::1). A
                                            Unix stream peer is trusted (the
                                            socket file's mode decides) */

    /* If set, ss_server_close() stores the final counters here once every
     * request it waits for has ended. */
    ss_stats *final_stats;

    /* Server hooks (BaseServer methods); all optional. */
    /* Return false to refuse the client: the request is shut down and closed
     * and never reaches the handler. Runs in the serving thread; with
     * proxy_protocol, where the handler runs, once the header was read (so
     * it sees the client the proxy names). */
    bool (*verify_request)(ss_server *srv, ss_request *req);
    /* A hook of the request failed with `err` (negative errno). Default: one
     * message through `log` at SS_LOG_ERROR naming the client and the
     * reason ("request from PEER failed: REASON"; event handler_failed,
     * tls_handshake_failed, proxy_refused or request_cancelled). Runs where
     * the handler ran (its thread, or its child process). */
    void (*handle_error)(ss_server *srv, ss_request *req, int err);
    /* The library's messages at `log_level` or more severe (see "Logging"
     * above); req is the request concerned, or NULL. Default:
     * ss_log_stderr. Runs in whichever thread or process the event happened
     * (a request's, a loop's, the serving thread): it must be thread-safe,
     * and it must not call ss_ I/O functions on req. msg lives only for the
     * call. */
    void (*log)(ss_server *srv, ss_log_level level, ss_request *req, const char *event, const char *msg);
    /* The least severe level logged; 0 = SS_LOG_WARNING (errors and
     * warnings). SS_LOG_INFO adds a line per connection. */
    ss_log_level log_level;
    /* ss_handle_request() waited `timeout` seconds without a request. */
    void (*handle_timeout)(ss_server *srv);
    /* Called once per loop iteration of ss_serve_forever(). */
    void (*service_actions)(ss_server *srv);
} ss_config;


/* ---- Server life cycle ------------------------------------------------ */

/*
 * Create a server: check the config, parse cfg->listen, create the socket,
 * and (unless cfg->defer_activate) bind and listen. A Unix socket file
 * left by a dead server is replaced; one a live server listens on is not
 * (-EADDRINUSE; answered at once even when that server's backlog is full).
 * Returns NULL with errno set: EINVAL (a bad config field or URL), ENXIO
 * (the host name has no address), EAGAIN (the resolver failed for now), or
 * the reason socket/bind/listen failed (EADDRINUSE, EACCES, ENOENT, ...);
 * ss_last_error() then names the field or the problem where errno alone
 * would not. Nothing is leaked on failure.
 */
SS_API ss_server *ss_server_new(const ss_config *cfg);

/*
 * A server on a socket made elsewhere: inherited from a parent, or passed
 * by systemd (see ss_socket_activation). fd must be bound; a stream socket
 * not yet listening is put to listen (backlog request_queue_size). The
 * transport is read from the socket: TCP (IPv4 or IPv6), UDP, Unix stream
 * or datagram; a TCP socket is served with TLS when cfg->tls_cert is set.
 * cfg->listen, defer_activate, allow_reuse_* and socket_mode do not apply.
 * The server owns fd from then on (made non-blocking and close-on-exec);
 * on failure the caller keeps it. The socket may be shared with other
 * processes: stopping only stops this server's accepting (the socket is
 * never shut down, so the others go on), and closing closes this
 * descriptor alone, never removing a Unix socket file. NULL with errno
 * (ENOTSOCK, EINVAL: not a kind served, or not bound; ss_last_error()
 * says which).
 */
SS_API ss_server *ss_server_adopt(const ss_config *cfg, int fd);

/*
 * systemd socket activation (sd_listen_fds): when LISTEN_PID is this
 * process and LISTEN_FDS is N > 0, the passed sockets are descriptors 3 to
 * 3 + N - 1; they are made close-on-exec, and LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES are removed from the environment (children do not see
 * them). Returns N, 0 when nothing was passed to this process, or -EINVAL
 * when the variables are malformed (ss_last_error() says how). With names
 * not NULL and N > 0, *names receives N strings (LISTEN_FDNAMES, or
 * "unknown"), one allocation: free(*names) frees them all. Not
 * thread-safe (it changes the environment): call it at start-up.
 */
SS_API int ss_socket_activation(char ***names);

/* With cfg->defer_activate: bind, then listen. Return 0 or -errno. */
SS_API int ss_server_bind(ss_server *srv);
SS_API int ss_server_activate(ss_server *srv);

/* Why the last ss_server_new(), ss_server_bind() or ss_server_activate()
 * of this thread failed, as text naming the config field or the problem
 * ("request_timeout: must be a number of seconds >= 0 (got nan)", "cannot
 * resolve host 'db.invalid': Name or service not known"); NULL when that
 * call succeeded or errno says it all (ss_strerror). Valid until the
 * thread's next such call. */
SS_API const char *ss_last_error(void);

/*
 * Handle requests until ss_shutdown() or ss_server_stop(). Wakes at least
 * every poll_interval seconds (<= 0: only when needed) to call
 * service_actions; a stop takes effect at once, not after poll_interval.
 * Returns 0, or -errno if the server cannot serve (not activated, or a
 * serve loop already runs). May be called again after it returned.
 */
SS_API int ss_serve_forever(ss_server *srv, double poll_interval);

/*
 * Handle one request, waiting up to cfg->timeout seconds for it (0: no
 * limit); on timeout calls handle_timeout and returns -ETIMEDOUT. Returns 0
 * once the request was processed (for threading/forking: started).
 */
SS_API int ss_handle_request(ss_server *srv);

/*
 * Ask ss_serve_forever() to return; requests in flight run to their end.
 * Returns at once (unlike Python's, it never waits), so it may be called from
 * any thread, from a handler, or from a signal handler (async-signal-safe).
 * In a forked child it cuts that child's own request short instead: its I/O
 * calls fail from then on (-ECANCELED, or the error of the shut-down socket).
 */
SS_API void ss_shutdown(ss_server *srv);

/*
 * Stop for good, with a drain: like ss_shutdown(), but a stream listener
 * refuses new connections at once (even while a sync handler runs; serving
 * cannot resume), and requests in flight get `drain` more seconds to finish; after that their I/O calls fail with -ECANCELED so
 * they finish quickly, and ss_server_close() kills forked children that are
 * still running a little later. drain < 0 means no deadline. Async-signal-safe.
 */
SS_API void ss_server_stop(ss_server *srv, double drain);

/*
 * Close the server: close the listening socket (the address is free at
 * once), remove the Unix socket file it created, then (unless
 * cfg->no_block_on_close) wait for request threads (not daemon ones) and
 * child processes. Frees srv once no request uses it; srv must not be used
 * afterwards. Must not run while ss_serve_forever() runs on srv. NULL is a
 * no-op.
 */
SS_API void ss_server_close(ss_server *srv);

/*
 * Stop srv with ss_server_stop(srv, drain) when one of `signals` arrives
 * (a 0-terminated list such as (int[]){SIGINT, SIGTERM, 0}; NULL means
 * SIGINT and SIGTERM). The handlers stay until ss_server_close(srv), which
 * puts the previous ones back (and waits for a handler still running).
 * Only the calling process reacts: a forked request process leaves its
 * request to the server's drain. Signal handlers are the process's, so at
 * most one server stops on a given signal. Returns 0, -EINVAL (a signal
 * that cannot be caught) or -EBUSY (another server stops on one of them).
 */
SS_API int ss_stop_on_signals(ss_server *srv, double drain, const int *signals);

/* ---- Server accessors ------------------------------------------------- */

/* The listening (or datagram) socket, or -1 once closed. */
SS_API int ss_server_fd(const ss_server *srv);
/* The bound address as a URL (port 0 resolved, IPv6 in brackets, Unix path
 * as given). The string lives as long as srv. */
SS_API const char *ss_server_url(const ss_server *srv);
/* The bound socket address (getsockname after bind); *len receives its size. */
SS_API const struct sockaddr *ss_server_address(const ss_server *srv, socklen_t *len);
SS_API void *ss_server_userdata(const ss_server *srv);
SS_API const ss_config *ss_server_config(const ss_server *srv);
/* A consistent-enough snapshot of the counters (each read atomically). */
SS_API void ss_server_stats(const ss_server *srv, ss_stats *out);

/* ---- The request ------------------------------------------------------ */

/* The connection (stream) or the server's socket (datagram). A stream
 * connection is in blocking mode under the threading strategy (its
 * request_timeout is SO_RCVTIMEO/SO_SNDTIMEO; a drain that runs out shuts
 * it down) and non-blocking under the others: use MSG_DONTWAIT on it when
 * an own send or recv must not wait. */
SS_API int ss_request_fd(const ss_request *req);
SS_API ss_server *ss_request_server(const ss_request *req);
/* The client's address; *len receives its size (0 for an unnamed Unix peer). */
SS_API const struct sockaddr *ss_request_peer(const ss_request *req, socklen_t *len);
/* The client as text, safe to print and one word: "HOST:PORT",
 * "[V6ADDR]:PORT", a Unix path ("/abs/path", or "./rel/path" for one that
 * is not absolute), "@name" for an abstract Unix name, or "unix:#N" for an
 * unnamed Unix peer (N: the request's sequence number). A Unix name is the
 * client's choice: every byte of it that is a control character, a space,
 * a backslash or not ASCII is written \xNN, so a name can neither break a
 * log line or drive a terminal nor pass for another client. */
SS_API const char *ss_request_peer_str(const ss_request *req);
/* With proxy_protocol: the proxy's own address (the connection's real
 * peer), *len its size (0 for an unnamed Unix peer); NULL (and *len 0)
 * for a request without a PROXY header. */
SS_API const struct sockaddr *ss_request_proxy(const ss_request *req, socklen_t *len);
/* True for datagram requests. */
SS_API bool ss_request_is_datagram(const ss_request *req);
/* The request's figures so far: bytes received and sent on its socket
 * (as ss_stats counts them), and seconds since it was taken. False, with
 * each set to 0, in a library built with SS_STATS=OFF. Any pointer may be
 * NULL. */
SS_API bool ss_request_counts(const ss_request *req, uint64_t *bytes_in, uint64_t *bytes_out, double *seconds);
/* Count bytes the handler moved on the request's socket without the
 * library's calls (sendfile, splice, the descriptor handed to another
 * thread or process to write): they join the request's figures and the
 * server's bytes_in/bytes_out when it ends. From the request's hooks only;
 * nothing in a library built with SS_STATS=OFF. */
SS_API void ss_request_count_bytes(ss_request *req, uint64_t bytes_in, uint64_t bytes_out);
/* Per-request user state, NULL until set. The handler owns what it stores. */
SS_API void *ss_request_data(const ss_request *req);
SS_API void ss_request_set_data(ss_request *req, void *data);
/* Record a reason for handle_error and return err (a negative errno), so a
 * hook can write: return ss_request_fail(req, -EMSGSIZE, "line too long"); */
SS_API int ss_request_fail(ss_request *req, int err, const char *fmt, ...) SS_PRINTF(3, 4);
/* The reason recorded by ss_request_fail(), or NULL. */
SS_API const char *ss_request_error(const ss_request *req);

/* ---- TLS -------------------------------------------------------------
 * A tls:// request's handshake runs in the request (its thread, coroutine
 * or child) before setup, within tls_handshake_timeout; a client that
 * fails it never reaches the handler: handle_error gets the reason in
 * words ("client sent no certificate", "plaintext HTTP on a TLS port",
 * "no shared protocol version"), and stats.tls_failed counts it. A
 * client that closes or resets before its first byte (a port probe, a
 * load balancer's health check) failed nothing: no handler, no error, no
 * count but accepted. Then
 * every I/O call works as over tcp://; the connection's end sends
 * close_notify, and a peer that closes without one is reported as a
 * truncation (-ECONNABORTED), not as the end of input. TLS 1.2 and 1.3
 * only, OpenSSL's defaults, no renegotiation, session tickets on (one key
 * for the server, kept across reloads, so a session resumes whatever
 * thread, loop or child takes the connection). The strings below live as
 * long as the request; NULL when the request is not TLS. */

/* Was the library built with TLS (OpenSSL 3)? Without it, a tls:// URL
 * fails with EPROTONOSUPPORT. */
SS_API bool ss_tls_available(void);
/*
 * Session ticket keys (RFC 5077 tickets, TLS 1.2 and 1.3), so that a client
 * resumes its session on whichever server or process it reaches. The keys
 * live in memory shared with processes forked afterwards (never on disk):
 * make them before forking workers and give every worker's config the
 * same pointer; a reload keeps them. The current key encrypts new tickets
 * for rotate_secs (0: 3600; at most a week), then only decrypts for as
 * long again before it is erased; a session lives rotate_secs. Whichever
 * process needs a key once the rotation is due rotates it for all. A
 * server without tls_tickets has keys of its own, rotated the same way.
 * NULL with errno (EINVAL: a bad rotate_secs; EPROTONOSUPPORT: no TLS).
 */
SS_API ss_tls_tickets *ss_tls_tickets_new(double rotate_secs);
SS_API void ss_tls_tickets_free(ss_tls_tickets *t);
/* Read the certificate, key and client CA files again and use them for new
 * connections (connections open keep theirs). On failure the server keeps
 * the old ones: -errno, and ss_last_error() names the file and the
 * problem. -EINVAL for a server that is not tls://. Not from a signal
 * handler. */
SS_API int ss_server_tls_reload(ss_server *srv);
SS_API bool ss_request_is_tls(const ss_request *req);
/* "TLSv1.3", "TLSv1.2". */
SS_API const char *ss_request_tls_version(const ss_request *req);
/* The cipher suite's name, e.g. "TLS_AES_256_GCM_SHA384". */
SS_API const char *ss_request_tls_cipher(const ss_request *req);
/* The ALPN protocol chosen, or NULL (none offered or agreed). */
SS_API const char *ss_request_tls_alpn(const ss_request *req);
/* The verified client certificate's subject (RFC 2253, escaped like peer
 * names), or NULL without mutual TLS. */
SS_API const char *ss_request_tls_peer_subject(const ss_request *req);
/* Its SHA-256 fingerprint as 64 lower-case hex digits, or NULL. */
SS_API const char *ss_request_tls_peer_fingerprint(const ss_request *req);

/* ---- Request I/O ------------------------------------------------------
 * Stream requests read from a buffer over the connection and write to it;
 * datagram requests read the received packet and write into the reply,
 * which is sent to the client after finish. A read waits at most
 * cfg->request_timeout in all, a write at most that long without progress
 * (-ETIMEDOUT); every call retries EINTR and never short-writes.
 * A read returns 0 at end of input. */

/* Read exactly n bytes, fewer only at end of input (rfile.read(n)). */
SS_API ssize_t ss_read(ss_request *req, void *buf, size_t n);
/* Read at most n bytes with at most one receive call (rfile.read1(n)). */
SS_API ssize_t ss_read1(ss_request *req, void *buf, size_t n);
/* True when input already received waits inside the library (the
 * request's read buffer, or TLS's): a handler that waits on
 * ss_request_fd() itself (poll, epoll, ss_wait_fd) must read it first,
 * since the socket no longer shows it. */
SS_API bool ss_input_buffered(const ss_request *req);
/* Read up to and including '\n', at most size - 1 bytes, NUL-terminated
 * (rfile.readline(limit)): a result without '\n' is a line cut at the limit,
 * the last line at end of input, or what came before an error (reported by
 * the next call). Returns the length (0 at end); size must be at least 2. */
SS_API ssize_t ss_readline(ss_request *req, char *buf, size_t size);
/* Zero-copy line: *line points into the read buffer, valid until the next
 * I/O call on req. The line includes its '\n' (absent only for a last line
 * at end of input). Returns its length, 0 at end of input, or -EMSGSIZE when
 * no '\n' comes within max bytes, the '\n' included (the line is then left
 * unread). */
SS_API ssize_t ss_readline_ref(ss_request *req, const char **line, size_t max);
/* Read until end of input into a malloc'd, NUL-terminated buffer (*out,
 * caller frees); -EMSGSIZE past max bytes (nothing is allocated then).
 * Returns the length. */
SS_API ssize_t ss_read_all(ss_request *req, char **out, size_t max);
/* Write all n bytes (buffered up to cfg->wbufsize). Returns n or -errno. */
SS_API ssize_t ss_write(ss_request *req, const void *buf, size_t n);
/* printf into the output. Returns the byte count or -errno. */
SS_API ssize_t ss_writef(ss_request *req, const char *fmt, ...) SS_PRINTF(2, 3);
/* Send what is buffered. Returns 0 or -errno. */
SS_API int ss_flush(ss_request *req);
/* Sleep; returns 0, or -ECANCELED when cut short by a drain deadline. */
SS_API int ss_sleep(ss_request *req, double seconds);
/* Wait until fd (any descriptor, e.g. a pipe or another socket) is ready for
 * events (POLLIN, POLLOUT), at most timeout seconds (<= 0: no limit).
 * Returns 0, -ETIMEDOUT or -ECANCELED. Under the event and pool strategies
 * the request yields to its loop (worker) meanwhile. */
SS_API int ss_wait_fd(ss_request *req, int fd, short events, double timeout);
/* Run fn(arg), a truly blocking function (a DNS lookup, disk I/O), and
 * return its result. Under the event strategy it runs on a helper thread
 * while the loop serves other requests; elsewhere (pool included: the
 * worker is held meanwhile) it runs right here. */
SS_API int ss_run_blocking(ss_request *req, int (*fn)(void *arg), void *arg);

/* ---- Helpers ---------------------------------------------------------- */

/* NULL when url is a valid listen URL, else a static text naming the
 * problem ("port out of range", ...). */
SS_API const char *ss_url_error(const char *url);

/* ---- Address ranges ---------------------------------------------------- */

/* A list of IPv4 and IPv6 ranges in CIDR notation, for allowing clients or
 * trusting proxies (cfg.proxy_trusted is one). An IPv4-mapped IPv6 address
 * (a dual-stack socket's IPv4 client) matches the IPv4 ranges. */
typedef struct ss_cidr ss_cidr;
SS_API ss_cidr *ss_cidr_new(void);                 /* empty; NULL: no memory */
/* Add "ADDR[/PREFIX][,ADDR[/PREFIX]...]" (an IPv6 ADDR may be in brackets;
 * no PREFIX: the one address). 0, or -EINVAL with *why (if not NULL) naming
 * the problem, -ENOMEM; on failure the ranges before the bad one stay. */
SS_API int ss_cidr_add(ss_cidr *list, const char *spec, const char **why);
SS_API bool ss_cidr_match(const ss_cidr *list, const struct sockaddr *sa, socklen_t len);
SS_API void ss_cidr_free(ss_cidr *list);
/* Text for a negative (or positive) errno value. */
SS_API const char *ss_strerror(int err);
/* The library's version, SS_VERSION_STRING at build time. */
SS_API const char *ss_version(void);

#ifdef __cplusplus
}
#endif
#endif /* SOCKSERV_H */
