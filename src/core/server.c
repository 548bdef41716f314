/* server.c: BaseServer: create, serve_forever, handle_request, stop with drain, close, counters. */
#include "core/internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

void ss__server_release(ss_server *srv)
{
    if (atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) != 1)
        return;
    ss__socket_close(srv);
    if (srv->wake_fd >= 0)
        close(srv->wake_fd);
    if (srv->cancel_fd >= 0)
        close(srv->cancel_fd);
    if (srv->sh)
        munmap(srv->sh, sizeof *srv->sh);
    if (srv->tp)
        srv->tp->release(srv);
    free(srv->listen);
    for (size_t i = 0; i < sizeof srv->copies / sizeof srv->copies[0]; i++)
        free(srv->copies[i]);
    ss_cidr_free(srv->proxy_trusted);
    free(srv);
}

bool ss__cancelled(ss_server *srv)
{
    if (srv->cancel_here)
        return true;
    int64_t dl = atomic_load_explicit(&srv->sh->drain_deadline, memory_order_relaxed);
    return dl != 0 && ss__now() >= dl;
}

/* A time in seconds from the config: a number >= 0 (0 or +inf: none). */
static int check_seconds(double v, const char *field)
{
    if (v != v || v < 0)
        return ss__fail(-EINVAL, "%s: must be a number of seconds >= 0 (got %g)", field, v);
    return 0;
}

/* A count from the config: 0 (the default) to max. */
static int check_count(int v, int max, const char *field)
{
    if (v < 0 || v > max)
        return ss__fail(-EINVAL, "%s: must be from 0 to %d (got %d)", field, max, v);
    return 0;
}

static int check_size(size_t v, const char *field)
{
    if (v > SS__MAX_BUFSIZE)
        return ss__fail(-EINVAL, "%s: at most %zu bytes (got %zu)", field, (size_t)SS__MAX_BUFSIZE, v);
    return 0;
}

/* Every field a caller can get wrong, each named in ss_last_error(). */
static int check_config(const ss_config *cfg)
{
    int rc;
    if (!cfg->handler)
        return ss__fail(-EINVAL, "handler: required (the request handler's hooks)");
    if ((rc = check_seconds(cfg->timeout, "timeout")) < 0 ||
        (rc = check_seconds(cfg->request_timeout, "request_timeout")) < 0 ||
        (rc = check_seconds(cfg->tls_handshake_timeout, "tls_handshake_timeout")) < 0 ||
        (rc = check_count(cfg->request_queue_size, INT_MAX, "request_queue_size")) < 0 ||
        (rc = check_count(cfg->max_connections, INT_MAX, "max_connections")) < 0 ||
        (rc = check_count(cfg->max_children, SS__MAX_CHILDREN, "max_children")) < 0 ||
        (rc = check_count(cfg->workers, SS__MAX_WORKERS, "workers")) < 0 ||
        (rc = check_count(cfg->queue_size, SS__MAX_QUEUE, "queue_size")) < 0 ||
        (rc = check_count(cfg->blocking_threads, SS__MAX_WORKERS, "blocking_threads")) < 0 ||
        (rc = check_size(cfg->rbufsize, "rbufsize")) < 0 ||
        (rc = check_size(cfg->wbufsize, "wbufsize")) < 0 ||
        (rc = check_size(cfg->max_packet_size, "max_packet_size")) < 0 ||
        (rc = check_size(cfg->stack_size, "stack_size")) < 0)
        return rc;
    if (cfg->log_level < 0 || cfg->log_level > SS_LOG_DEBUG)
        return ss__fail(-EINVAL, "log_level: SS_LOG_ERROR to SS_LOG_DEBUG, or 0 (got %d)", (int)cfg->log_level);
    if (cfg->socket_mode > 0777)
        return ss__fail(-EINVAL, "socket_mode: permission bits 0 to 0777 (got 0%o)", cfg->socket_mode);
    return 0;
}

/* The PROXY protocol's settings, once the transport is known. */
static int proxy_init(ss_server *srv)
{
    const ss_config *cfg = &srv->cfg;
    if (!cfg->proxy_protocol) {
        if (cfg->proxy_trusted)
            return ss__fail(-EINVAL, "proxy_trusted: applies with proxy_protocol");
        return 0;
    }
    if (srv->tp->socktype != SOCK_STREAM)
        return ss__fail(-EINVAL, "proxy_protocol: applies to stream transports, not %s", srv->tp->prefix);
    const char *why;
    const char *spec = cfg->proxy_trusted ? cfg->proxy_trusted : "127.0.0.0/8,::1";
    if (!(srv->proxy_trusted = ss_cidr_new()))
        return -ENOMEM;
    int rc = ss_cidr_add(srv->proxy_trusted, spec, &why);
    if (rc == -EINVAL) {
        char text[96];
        ss__escape(spec, strlen(spec), text, sizeof text, SS__ESC_TEXT);
        return ss__fail(rc, "proxy_trusted: '%s': %s", text, why);
    }
    return rc;
}

/* What every server has, whatever its socket: the config checked and
 * copied, the shared page, the wake-ups, the strategy. */
static int server_init(ss_server *srv, const ss_config *cfg)
{
    srv->cfg = *cfg;
    srv->fd = srv->wake_fd = srv->cancel_fd = -1;
    atomic_init(&srv->refs, 1);
    srv->listen = strdup(cfg->listen ? cfg->listen : "");
    if (!srv->listen)
        return -ENOMEM;
    srv->cfg.listen = srv->listen;
    const char **strings[] = {&srv->cfg.tls_cert, &srv->cfg.tls_key, &srv->cfg.tls_client_ca, &srv->cfg.tls_alpn,
                              &srv->cfg.proxy_trusted};
    _Static_assert(sizeof strings / sizeof strings[0] == sizeof srv->copies / sizeof srv->copies[0], "copies");
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (*strings[i] && !(*strings[i] = srv->copies[i] = strdup(*strings[i])))
            return -ENOMEM;
    int rc = check_config(cfg);
    if (rc < 0)
        return rc;
    const ss__strategy *st = ss__strategy_ops(cfg->strategy);
    if (!st)
        return ss__fail(-EINVAL, "strategy: unknown value %d", (int)cfg->strategy);
    if (srv->cfg.max_packet_size == 0)
        srv->cfg.max_packet_size = SS__DEFAULT_PACKET;
    if (srv->cfg.rbufsize == 0)
        srv->cfg.rbufsize = SS__DEFAULT_RBUFSIZE;
    if (srv->cfg.log_level == 0)
        srv->cfg.log_level = SS_LOG_WARNING;
    srv->limit = (unsigned)cfg->max_connections; /* a strategy's init may lower it */
    srv->sh = mmap(NULL, sizeof *srv->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (srv->sh == MAP_FAILED) {
        srv->sh = NULL;
        return -errno;
    }
    srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    srv->cancel_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (srv->wake_fd < 0 || srv->cancel_fd < 0)
        return -errno;
    srv->st = st; /* from here on, ss_server_close calls st->close */
    if ((rc = st->init(srv)) < 0)
        return rc;
    srv->st_ready = true;
    return 0;
}

/* The transport is known: check what depends on it. */
static int transport_init(ss_server *srv)
{
    const ss_config *cfg = &srv->cfg;
    if (!srv->tp->tls && (cfg->tls_cert || cfg->tls_key || cfg->tls_client_ca || cfg->tls_alpn))
        return ss__fail(-EINVAL, "tls_cert, tls_key, tls_client_ca and tls_alpn apply to tls:// URLs, not %s",
                        srv->tp->prefix);
    return proxy_init(srv);
}

static int server_listen(ss_server *srv, const ss_config *cfg)
{
    const char *why;
    int rc = server_init(srv, cfg);
    if (rc < 0)
        return rc;
    if ((rc = ss__url_parse(srv->listen, &srv->url, &why)) < 0) {
        char text[96];
        ss__escape(srv->listen, strlen(srv->listen), text, sizeof text, SS__ESC_TEXT);
        return ss__fail(rc, "listen: invalid URL '%s': %s", text, why);
    }
    srv->tp = srv->url.tp;
    if ((rc = transport_init(srv)) < 0)
        return rc;
    if ((rc = ss__socket_open(srv)) < 0 || (rc = srv->tp->setup(srv)) < 0)
        return rc;
    if (!cfg->defer_activate && ((rc = ss__socket_bind(srv)) < 0 || (rc = ss__socket_listen(srv)) < 0))
        return rc;
    return 0;
}

static int server_adopt(ss_server *srv, const ss_config *cfg, int fd)
{
    int rc = server_init(srv, cfg);
    if (rc == 0)
        rc = ss__socket_adopt(srv, fd);
    if (rc == 0 && (rc = transport_init(srv)) == 0)
        rc = srv->tp->setup(srv);
    return rc;
}

/* A new server: listening on cfg->listen, or (adopt) on the caller's fd. */
static ss_server *server_make(const ss_config *cfg, bool adopt, int fd)
{
    ss__clear_error();
    if (!cfg) {
        errno = -ss__fail(-EINVAL, "no configuration");
        return NULL;
    }
    ss_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    int rc = adopt ? server_adopt(srv, cfg, fd) : server_listen(srv, cfg);
    if (rc < 0) {
        if (adopt && srv->fd == fd)
            srv->fd = -1; /* the caller keeps it */
        ss_server_close(srv);
        errno = -rc;
        return NULL;
    }
    return srv;
}

ss_server *ss_server_new(const ss_config *cfg)
{
    return server_make(cfg, false, -1);
}

ss_server *ss_server_adopt(const ss_config *cfg, int fd)
{
    return server_make(cfg, true, fd);
}

int ss_server_bind(ss_server *srv)
{
    ss__clear_error();
    return ss__socket_bind(srv);
}

int ss_server_activate(ss_server *srv)
{
    ss__clear_error();
    return ss__socket_listen(srv);
}

/* Errors after which accept() would fail again at once: pause accepting
 * for a while instead of spinning. Others concern one client only. */
static bool accept_error_is_persistent(int err)
{
    switch (-err) {
    case ECONNABORTED: case EINTR: case EPROTO: case EPERM: case ECONNRESET:
    case ECONNREFUSED: case ENETDOWN: case ENETUNREACH: case EHOSTUNREACH:
    case EHOSTDOWN: case ENONET: case ENOPROTOOPT: case EOPNOTSUPP: case ETIMEDOUT:
        return false;
    default:
        return true;
    }
}

bool ss__at_capacity(ss_server *srv)
{
    unsigned max = srv->limit;
    return max > 0 && atomic_load_explicit(&srv->sh->active, memory_order_relaxed) >= max;
}

/* Reserve a place among max_connections; false when none is free. */
static bool slot_take(ss_server *srv)
{
    unsigned max = srv->limit;
    unsigned cur = atomic_load_explicit(&srv->sh->active, memory_order_relaxed);
    do {
        if (max > 0 && cur >= max)
            return false;
    } while (!atomic_compare_exchange_weak(&srv->sh->active, &cur, cur + 1));
    return true;
}

/* A request ended: give its slot back. In a forked child the slot goes
 * back only if the parent has not reaped it for a child that died (the
 * first to flip child_slot does it). Leaving a full server wakes whoever
 * stopped accepting. */
void ss__slot_release(ss_server *srv)
{
    if (!srv->st->slot_is_mine(srv))
        return;
    unsigned old = atomic_fetch_sub_explicit(&srv->sh->active, 1, memory_order_acq_rel);
    if (srv->limit > 0 && old == srv->limit) {
        ss__eventfd_wake(srv->wake_fd);
        srv->st->accept_resume(srv);
    }
}

/* Pause accepting after an error that would repeat at once (several
 * loops may see it together: one of them logs the pause). */
static void accept_pause(ss_server *srv, int err)
{
    int64_t now = ss__now();
    int64_t old = atomic_exchange(&srv->accept_paused_until, now + SS__ACCEPT_PAUSE_NS);
    if (old <= now)
        ss__log(srv, SS_LOG_WARNING, NULL, "accept_backoff", "accept failed: %s; accepting pauses for %d ms",
                ss_strerror(err), SS__ACCEPT_PAUSE_NS / 1000000);
}

/* Take one request and pass it to the strategy: get_request ->
 * verify_request -> process_request. Returns 0, -EBUSY when max_connections
 * are in flight (nothing is accepted), or get_request's error. */
int ss__handle_one(ss_server *srv)
{
    ss_request *req;
    if (!slot_take(srv))
        return -EBUSY;
    int rc = srv->tp->get_request(srv, &req);
    if (rc < 0) {
        ss__slot_release(srv);
        /* A listener shut down by a stop fails accept() (EINVAL): no error.
         * The stop for good is sticky (drain_deadline): a loop may still be
         * in its accept batch after serve_forever returned and cleared
         * stop_requested, or a supervisor may shut the shared socket down
         * once this process stopped. */
        if (rc == -EAGAIN || atomic_load(&srv->stop_requested) || atomic_load(&srv->sh->drain_deadline) != 0)
            return rc;
        atomic_fetch_add_explicit(&srv->sh->accept_errors, 1, memory_order_relaxed);
        if (accept_error_is_persistent(rc))
            accept_pause(srv, rc);
        else
            ss__log(srv, SS_LOG_INFO, NULL, "accept_error", "accept failed: %s", ss_strerror(rc));
        return rc;
    }
    atomic_fetch_add_explicit(&srv->sh->accepted, 1, memory_order_relaxed);
    if (ss__logs(srv, SS_LOG_INFO))
        ss__log(srv, SS_LOG_INFO, req, "conn_open", "new request from %s", ss_request_peer_str(req));
    /* With proxy_protocol the client is known once the header is read:
     * verify_request runs then, where the handler runs (request.c). */
    if (srv->cfg.verify_request && !srv->cfg.proxy_protocol && !srv->cfg.verify_request(srv, req)) {
        atomic_fetch_add_explicit(&srv->sh->refused, 1, memory_order_relaxed);
        req->early_err = -EACCES; /* nothing to send */
        ss__request_done(req);
        return 0;
    }
    srv->st->process_request(srv, req);
    return 0;
}

int ss_serve_forever(ss_server *srv, double poll_interval)
{
    if (!srv->activated || srv->fd < 0)
        return -EINVAL;
    if (atomic_exchange(&srv->serving, true))
        return -EBUSY;
    int64_t interval = ss__ns(poll_interval);
    int rc = 0;
    bool loops_accept = srv->st->loops_accept;
    srv->st->serve_begin(srv);
    while (!atomic_load(&srv->stop_requested)) {
        int64_t now = ss__now();
        int64_t paused_until = atomic_load(&srv->accept_paused_until);
        bool backoff = paused_until > now;
        bool paused = loops_accept || backoff || ss__at_capacity(srv);
        int64_t wake_at = interval ? now + interval : 0;
        if (!loops_accept && backoff && (wake_at == 0 || paused_until < wake_at))
            wake_at = paused_until;
        struct pollfd p[2] = {{.fd = srv->wake_fd, .events = POLLIN},
                              {.fd = paused ? -1 : srv->fd, .events = POLLIN}};
        int n = poll(p, 2, ss__ms_until(wake_at));
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (n > 0 && p[0].revents) /* a stop, or a slot freed: re-check */
            ss__eventfd_drain(srv->wake_fd);
        if (n > 0 && p[1].revents) {
            for (int i = 0; i < SS__ACCEPT_BATCH && !atomic_load(&srv->stop_requested); i++)
                if (ss__handle_one(srv) < 0)
                    break;
        }
        srv->st->reap(srv);
        if (srv->cfg.service_actions)
            srv->cfg.service_actions(srv);
    }
    srv->st->serve_end(srv);
    ss__eventfd_drain(srv->wake_fd);
    atomic_store(&srv->stop_requested, false);
    atomic_store(&srv->serving, false);
    return rc;
}

int ss_handle_request(ss_server *srv)
{
    if (!srv->activated || srv->fd < 0)
        return -EINVAL;
    int64_t deadline = ss__deadline(srv->cfg.timeout);
    for (;;) {
        /* At max_connections, wait for a slot to free up first. */
        bool full = ss__at_capacity(srv);
        struct pollfd p = {.fd = full ? srv->wake_fd : srv->fd, .events = POLLIN};
        int n = poll(&p, 1, ss__ms_until(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            if (srv->cfg.handle_timeout)
                srv->cfg.handle_timeout(srv);
            return -ETIMEDOUT;
        }
        if (full) {
            ss__eventfd_drain(srv->wake_fd);
            continue;
        }
        int rc = ss__handle_one(srv);
        if (rc == -EAGAIN || rc == -EBUSY)
            continue;
        srv->st->reap(srv);
        return rc;
    }
}

void ss_server_stop(ss_server *srv, double drain)
{
    int saved = errno; /* callable from a signal handler */
    if (srv->st_ready && srv->st->stop_here(srv)) {
        errno = saved;
        return;
    }
    atomic_store(&srv->stop_requested, true); /* before the refusal below */
    if (drain >= 0) {
        /* Stopping for good: refuse new connections now, even while a sync
         * handler keeps the serve loop busy. */
        srv->tp->refuse(srv);
        int64_t dl = ss__now() + ss__ns(drain); /* 0: at once */
        int64_t old = atomic_load(&srv->sh->drain_deadline);
        if (old == 0 || dl < old) {
            atomic_store(&srv->sh->drain_deadline, dl);
            struct itimerspec its = {.it_value = {.tv_sec = dl / 1000000000, .tv_nsec = dl % 1000000000}};
            timerfd_settime(srv->cancel_fd, TFD_TIMER_ABSTIME, &its, NULL);
        }
    }
    ss__eventfd_wake(srv->wake_fd);
    errno = saved;
}

void ss_shutdown(ss_server *srv)
{
    ss_server_stop(srv, -1);
}

/* Closing a server stopped for good (a drain): what is left to finish.
 * Said here rather than in ss_server_stop, which must stay
 * async-signal-safe. */
static void log_drain(ss_server *srv)
{
    int64_t dl = srv->sh ? atomic_load(&srv->sh->drain_deadline) : 0;
    if (dl == 0 || !ss__logs(srv, SS_LOG_INFO))
        return;
    int64_t left = dl - ss__now();
    ss__log(srv, SS_LOG_INFO, NULL, "drain", "closing %s: %u requests in flight, %.3f s left to finish",
            ss_server_url(srv), atomic_load(&srv->sh->active), left > 0 ? (double)left / 1e9 : 0.0);
}

void ss_server_close(ss_server *srv)
{
    if (!srv)
        return;
    ss__signals_forget(srv);
    log_drain(srv);
    if (srv->st_ready)
        srv->st->release_listener(srv);
    /* A listener closes now (stop accepting); a datagram socket is also
     * every in-flight request's way to reply: it closes with the last
     * reference (below, or when the last request ends). */
    if (srv->tp && srv->tp->closes_first)
        ss__socket_close(srv);
    if (srv->st_ready)
        srv->st->reap(srv);
    if (srv->st)
        srv->st->close(srv, !srv->cfg.no_block_on_close);
    srv->st_ready = false;
    if (srv->cfg.final_stats && srv->sh)
        ss_server_stats(srv, srv->cfg.final_stats);
    ss__server_release(srv);
}

int ss_server_fd(const ss_server *srv)
{
    return srv->fd;
}

const char *ss_server_url(const ss_server *srv)
{
    return srv->bound ? srv->bound_url : srv->listen;
}

const struct sockaddr *ss_server_address(const ss_server *srv, socklen_t *len)
{
    if (len)
        *len = srv->addrlen;
    return (const struct sockaddr *)&srv->addr;
}

void *ss_server_userdata(const ss_server *srv)
{
    return srv->cfg.userdata;
}

const ss_config *ss_server_config(const ss_server *srv)
{
    return &srv->cfg;
}

void ss_server_stats(const ss_server *srv, ss_stats *out)
{
    const ss__shared *sh = srv->sh;
    memset(out, 0, sizeof *out);
    out->accepted = atomic_load(&sh->accepted);
    out->refused = atomic_load(&sh->refused);
    out->completed = atomic_load(&sh->completed);
    out->errors = atomic_load(&sh->errors);
    out->accept_errors = atomic_load(&sh->accept_errors);
    out->cancelled = atomic_load(&sh->cancelled);
    out->dropped = atomic_load(&sh->dropped);
    out->tls_failed = atomic_load(&sh->tls_failed);
    out->active = atomic_load(&sh->active);
    out->bytes_in = atomic_load_explicit(&sh->bytes_in, memory_order_relaxed);
    out->bytes_out = atomic_load_explicit(&sh->bytes_out, memory_order_relaxed);
    out->duration_sum_us = atomic_load_explicit(&sh->duration_sum_us, memory_order_relaxed);
    for (unsigned i = 0; i < SS_DURATION_BUCKETS; i++)
        out->duration[i] = atomic_load_explicit(&sh->duration[i], memory_order_relaxed);
    if (srv->st_ready)
        srv->st->stats(srv, out);
}
