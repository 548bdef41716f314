/* metrics.c: --metrics: a small HTTP/1.x listener, itself a sockserv server (threading), that answers GET /metrics with the counters in Prometheus's text exposition format; its life cycle, from the bind before --user to the close. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "exposition.h"
#include "http.h"
#include "logging.h"
#include "metrics.h"
#include "thread.h"

/* The one path answered. */
#define METRICS_PATH "/metrics"
/* How often the serving thread wakes with nothing to do (to reap). */
#define POLL_INTERVAL 1.0

struct metrics {
    ss_server *bound;        /* the listener bound by metrics_open (sync: no thread) */
    ss_server *srv;          /* serving it from metrics_start (threading) */
    metrics_collect_fn *collect;
    void *arg;
    const char *mode;        /* the served mode's name */
    ss_log_level log_level;  /* the library's messages: errors and warnings */
    pthread_t thread;
    bool started;            /* thread runs */
    bool announced;          /* the address said (once) */
};

/* ---------------------------------------------------------------- requests */

/* The body of an error answer: fixed text, never a byte of the request. */
static const char *error_body(int status)
{
    switch (status) {
    case 404: return "Not Found: the counters are at " METRICS_PATH "\n";
    case 405: return "Method Not Allowed: use GET or HEAD\n";
    case 431: return "Request Header Fields Too Large\n";
    case 503: return "Service Unavailable: the counters could not be collected in time\n";
    case 505: return "HTTP Version Not Supported: use HTTP/1.1 or HTTP/1.0\n";
    case 500: return "Internal Server Error\n";
    default: return "Bad Request\n";
    }
}

/* An error's answer, with its fixed body. */
static int respond_error(ss_request *req, int status, bool head_only)
{
    const char *body = error_body(status);
    return http_respond(req, status, head_only, body, strlen(body), "text/plain; charset=utf-8");
}

/* GET /metrics: the counters collected now, formatted. */
static int answer_metrics(ss_request *req, const struct metrics *m, bool head_only)
{
    char body[EXPOSITION_MAX];
    ss_stats st;

    if (m->collect(m->arg, &st) < 0)
        return respond_error(req, 503, head_only);
    ssize_t len = exposition_format(body, sizeof body, &st, m->mode);
    if (len < 0)
        return respond_error(req, 500, head_only);
    return http_respond(req, 200, head_only, body, (size_t)len, EXPOSITION_TYPE);
}

/* A request: its head read within the limits (metrics.h), the answer, the
 * client's leftovers drained. */
static int metrics_handle(ss_request *req)
{
    const struct metrics *m = ss_server_userdata(ss_request_server(req));
    char head[METRICS_HEAD_MAX];
    ssize_t end = http_read_head(req, head, sizeof head, monotonic_secs() + METRICS_READ_LIMIT);
    int rc;

    if (end == 0)
        return 0; /* a probe: connected and closed */
    if (end == -EMSGSIZE || end == -EPROTO) {
        rc = respond_error(req, end == -EMSGSIZE ? 431 : 400, false);
    } else if (end < 0) {
        return ss_request_fail(req, (int)end, "metrics: no complete request in time");
    } else {
        struct http_ask ask = http_parse_head(head, (size_t)end, METRICS_PATH);
        rc = ask.status == 200 ? answer_metrics(req, m, ask.head_only)
                               : respond_error(req, ask.status, ask.head_only);
    }
    if (rc == 0)
        http_linger(req);
    return rc;
}

static const ss_handler metrics_handler = { .handle = metrics_handle };

/* A metrics client's failure (one that timed out, reset, ...) is its own
 * business: nothing on stderr (the served protocol's messages stay
 * readable). */
static void quiet_error(ss_server *srv, ss_request *req, int err)
{
    (void)srv;
    (void)req;
    (void)err;
}

/* ---------------------------------------------------------------- server */

/* The listening socket (both descriptors: the bound server's, the
 * serving one's dup), closed in every process forked while it is open:
 * the library's forking mode closes only its own server's listener in a
 * request process, and a worker of --processes inherits the
 * supervisor's; neither must hold the metrics port (a restart could not
 * bind it while one runs). */
static atomic_int fork_closes[2] = { -1, -1 };
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void close_in_child(void)
{
    for (int i = 0; i < 2; i++) {
        int fd = atomic_exchange(&fork_closes[i], -1);
        if (fd >= 0)
            close(fd);
    }
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, close_in_child);
}

/* "cannot listen on --metrics URL: reason": the library's reason when it
 * gave one, else the OS's, in lower case first. */
static void report_error(const char *what, const char *url, int err)
{
    const char *why = ss_last_error();
    char reason[256];

    snprintf(reason, sizeof reason, "%s", why ? why : strerror(err));
    if (!why)
        reason[0] = (char)tolower((unsigned char)reason[0]);
    cli_error("cannot %s --metrics %s: %s", what, url, reason);
}

/*
 * Two steps, so that no thread runs before the program forks what it
 * must (a supervisor its workers): metrics_open binds the listener with a
 * sync server, which starts no thread (it is never served: it holds the
 * port from before --user to the end); metrics_start serves a dup of its
 * socket with a threading server (ss_server_adopt), whose threads start
 * then. A thread that starts or allocates during a fork may hold an
 * allocator lock that the child then waits for forever: glibc's malloc
 * prepares for fork, GCC 12's AddressSanitizer allocator does not.
 */
int metrics_open(struct metrics **out, const struct cli_opts *o, metrics_collect_fn *collect,
                 void *arg)
{
    *out = NULL;
    if (!o->metrics)
        return -1;
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        cli_error("cannot listen on --metrics %s: out of memory", o->metrics);
        return EXIT_NOLISTEN;
    }
    *m = (struct metrics){ .collect = collect,
                           .arg = arg,
                           .mode = ss_strategy_name(o->strategy),
                           /* Scrapes are no connections of the served
                            * protocol: not in its counters, not in the
                            * --verbose lines; the listener's drain (at a
                            * pause around a fork too) not said either. */
                           .log_level = o->log_level == SS_LOG_ERROR ? SS_LOG_ERROR : SS_LOG_WARNING };
    ss_config cfg = {
        .listen = o->metrics,
        .handler = &metrics_handler,
        .strategy = SS_SYNC,
        .allow_reuse_address = true,
        .request_queue_size = 4 * METRICS_MAX_CONNECTIONS,
        .log = log_library,
        .log_level = m->log_level,
    };
    pthread_once(&atfork_once, install_atfork);
    m->bound = ss_server_new(&cfg);
    if (!m->bound) {
        report_error("listen on", o->metrics, errno);
        free(m);
        return EXIT_NOLISTEN;
    }
    atomic_store(&fork_closes[0], ss_server_fd(m->bound));
    *out = m;
    return -1;
}

static void *metrics_main(void *arg)
{
    struct metrics *m = arg;
    int rc = ss_serve_forever(m->srv, POLL_INTERVAL);

    if (rc < 0)
        cli_error("cannot serve --metrics %s: %s", ss_server_url(m->srv), ss_strerror(rc));
    return NULL;
}

/* "metrics on http://HOST:PORT/metrics", a notice: the bound address (a
 * port 0 resolved, an IPv6 host in brackets) for the operator to scrape. */
static void announce(const struct metrics *m)
{
    const char *url = ss_server_url(m->bound);
    const char *scheme = "tcp://";

    if (strncmp(url, scheme, strlen(scheme)) == 0)
        cli_log(LOG_NOTICE, "metrics", "metrics on http://%s" METRICS_PATH, url + strlen(scheme));
    else
        cli_log(LOG_NOTICE, "metrics", "metrics on %s", url);
}

int metrics_start(struct metrics *m)
{
    if (!m || m->srv)
        return 0;
    const char *url = ss_server_url(m->bound);
    ss_config cfg = {
        .handler = &metrics_handler,
        .strategy = SS_THREADING,
        .userdata = m,
        .max_connections = METRICS_MAX_CONNECTIONS,
        .request_timeout = METRICS_IO_TIMEOUT,
        .handle_error = quiet_error,
        .log = log_library,
        .log_level = m->log_level,
    };
    int fd = fcntl(ss_server_fd(m->bound), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        cli_error("cannot serve --metrics %s: %s", url, strerror(errno));
        return rc;
    }
    /* Every thread of the serving server with every signal blocked: the
     * one ss_server_adopt starts (threading's cancel set), the serving
     * one, the request threads it makes. None takes a signal meant for
     * the process: a supervisor reads its own from a signalfd, and one
     * (SIGCHLD) taken by another thread would be lost. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    m->srv = ss_server_adopt(&cfg, fd);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!m->srv) {
        close(fd);
        report_error("serve", url, err);
        return -err;
    }
    atomic_store(&fork_closes[1], fd);
    int rc = quiet_thread_start(&m->thread, metrics_main, m);
    if (rc < 0) {
        cli_error("cannot serve --metrics %s: %s", url, ss_strerror(rc));
        return rc;
    }
    m->started = true;
    if (!m->announced)
        announce(m);
    m->announced = true;
    return 0;
}

void metrics_pause(struct metrics *m)
{
    if (!m || !m->srv)
        return;
    ss_server_stop(m->srv, 0);
    if (m->started)
        pthread_join(m->thread, NULL);
    m->started = false;
    atomic_store(&fork_closes[1], -1);
    ss_server_close(m->srv); /* its request threads joined */
    m->srv = NULL;
}

void metrics_close(struct metrics *m)
{
    if (!m)
        return;
    metrics_pause(m);
    /* Then the bound server: its socket shut down, clients still waiting
     * are refused (the adopted server never shuts the socket down, and
     * no longer accepts from it). */
    ss_server_stop(m->bound, 0);
    atomic_store(&fork_closes[0], -1);
    ss_server_close(m->bound);
    free(m);
}
