/* chat.c: the seeds' chat server in its simplest correct form: every line goes to every client. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sockserv.h"

/*
 * The room: the connected clients, guarded by a mutex (the seeds' version
 * was not thread-safe). Broadcasting uses a non-blocking, best-effort send:
 * a client whose socket buffer is full is disconnected rather than allowed
 * to stall everyone. The real chat, with a bounded per-client backlog that
 * never stalls and never loses messages of healthy clients, is `sockserv
 * chat`. The same code runs in every mode. Clients share this list in sync,
 * threading, pool and event modes (with forking every client has a process,
 * and a room, of its own). Under event the mutex is fine: it is held only
 * around sends that never block and never yield to the loop.
 */
typedef struct member {
    int fd;
    struct member *next;
} member;

typedef struct room {
    pthread_mutex_t lock;
    member *head;
} room;

static room *room_of(ss_request *req)
{
    return ss_server_userdata(ss_request_server(req));
}

static int join(ss_request *req)
{
    if (ss_request_is_datagram(req))
        return ss_request_fail(req, -EPROTOTYPE, "chat needs a stream transport");
    member *m = malloc(sizeof *m);
    if (!m)
        return -ENOMEM;
    room *r = room_of(req);
    m->fd = ss_request_fd(req);
    pthread_mutex_lock(&r->lock);
    m->next = r->head;
    r->head = m;
    pthread_mutex_unlock(&r->lock);
    ss_request_set_data(req, m);
    return 0;
}

static int leave(ss_request *req)
{
    room *r = room_of(req);
    member *m = ss_request_data(req);
    pthread_mutex_lock(&r->lock);
    for (member **p = &r->head; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    pthread_mutex_unlock(&r->lock);
    free(m);
    return 0;
}

/* Send msg to everyone, the sender included, without ever blocking. */
static void broadcast(room *r, const char *msg, size_t n)
{
    pthread_mutex_lock(&r->lock);
    for (member *m = r->head; m; m = m->next)
        if (send(m->fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
            shutdown(m->fd, SHUT_RDWR); /* too slow, or gone: its handler ends */
    pthread_mutex_unlock(&r->lock);
}

static int handle(ss_request *req)
{
    char msg[4096 + 256];
    const char *line;
    ssize_t n;

    while ((n = ss_readline_ref(req, &line, 4096)) > 0) {
        size_t len = (size_t)n; /* the text: the line without its end of line */
        if (line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        size_t b = 0, e = len; /* "quit", surrounding whitespace ignored */
        while (b < e && isspace((unsigned char)line[b]))
            b++;
        while (e > b && isspace((unsigned char)line[e - 1]))
            e--;
        if (e == b + 4 && memcmp(line + b, "quit", 4) == 0)
            break;
        /* "HOST:PORT TEXT\n", the sender as the server sees it. */
        int head = snprintf(msg, 256, "%s ", ss_request_peer_str(req));
        if (head < 0 || head >= 256)
            head = 0;
        memcpy(msg + head, line, len);
        msg[head + len] = '\n';
        broadcast(room_of(req), msg, (size_t)head + len + 1);
    }
    if (n == -EMSGSIZE)
        return ss_request_fail(req, (int)n, "line longer than 4096 bytes");
    return n < 0 ? (int)n : 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || (argc > 2 && ss_strategy_from_name(argv[2], &mode) < 0)) {
        fprintf(stderr, "usage: %s [URL] [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    static room the_room = {.lock = PTHREAD_MUTEX_INITIALIZER};
    static const ss_handler handler = {.setup = join, .handle = handle, .finish = leave};
    ss_server *srv = ss_server_new(&(ss_config){.listen = url, .handler = &handler,
        .strategy = mode, .userdata = &the_room, .allow_reuse_address = true});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "chat: %s\n", why);
        else
            fprintf(stderr, "chat: %s: %s\n", url, strerror(err));
        return err == EINVAL ? 2 : 1; /* EINVAL: a bad URL */
    }
    /* SIGINT (Ctrl-C) or SIGTERM: stop accepting, give requests 1 s to finish. */
    ss_stop_on_signals(srv, 1.0, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    return 0;
}
