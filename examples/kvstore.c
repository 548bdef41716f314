/* kvstore.c: a small key-value store (GET/SET/DEL lines) whose one table every client shares: per-server state behind cfg.userdata and a mutex. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, strtok_r */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockserv.h"

#define MAX_LINE 1024     /* a command line, its '\n' included */
#define MAX_ENTRIES 10000 /* SET answers "ERROR full" past this */

/*
 * Protocol, one command per line, one reply line each:
 *   SET key value   ->  STORED             (the value: the rest of the line)
 *   GET key         ->  VALUE value | NOT_FOUND
 *   DEL key         ->  DELETED | NOT_FOUND
 *   anything else   ->  ERROR usage: ...
 *
 * The table is the server's, reached from every request through
 * ss_server_userdata(). Who shares it depends on the mode:
 *  - sync: one client at a time, each seeing what the previous ones stored;
 *  - threading, pool, event: clients at once, on several threads, hence the
 *    mutex. It is held only while the table is read or changed, never
 *    across an ss_ I/O call: under pool and event a request may yield in
 *    ss_write, and another request on the same thread taking the mutex
 *    would then deadlock. So GET copies the value out before replying.
 *  - forking: each client is served by a copy of the process, with a copy of
 *    the table: it sees what was stored before the server started serving
 *    (nothing, here) plus its own changes, which are gone when it leaves.
 *    Sharing across processes needs shared memory, a file or another server.
 */
typedef struct entry {
    char *key;
    char *value;
    struct entry *next;
} entry;

typedef struct store {
    pthread_mutex_t lock;
    entry *head;
    size_t count;
} store;

/* The link that points at key's entry (or the list's end). Called with the lock held. */
static entry **find(store *s, const char *key)
{
    entry **p = &s->head;
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

/* Returns 0, -ENOSPC (full) or -ENOMEM. Allocates before taking the lock. */
static int store_set(store *s, const char *key, const char *value)
{
    entry *e = malloc(sizeof *e);
    char *k = strdup(key);
    char *v = strdup(value);
    int rc = e && k && v ? 0 : -ENOMEM;
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        entry **p = find(s, key);
        if (*p) { /* replace the value; the old one is freed below */
            char *old = (*p)->value;
            (*p)->value = v;
            v = old;
        } else if (s->count >= MAX_ENTRIES) {
            rc = -ENOSPC;
        } else {
            *e = (entry){.key = k, .value = v, .next = NULL};
            *p = e;
            s->count++;
            e = NULL;
            k = v = NULL;
        }
        pthread_mutex_unlock(&s->lock);
    }
    free(e); /* whatever the table did not take */
    free(k);
    free(v);
    return rc;
}

/* Copies the value into out (size bytes). Returns 1 if found, else 0. */
static int store_get(store *s, const char *key, char *out, size_t size)
{
    pthread_mutex_lock(&s->lock);
    entry *e = *find(s, key);
    if (e)
        snprintf(out, size, "%s", e->value);
    pthread_mutex_unlock(&s->lock);
    return e != NULL;
}

/* Returns 1 if key was there, else 0. */
static int store_del(store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    entry **p = find(s, key);
    entry *e = *p;
    if (e) {
        *p = e->next;
        s->count--;
    }
    pthread_mutex_unlock(&s->lock);
    if (e) {
        free(e->key);
        free(e->value);
        free(e);
    }
    return e != NULL;
}

static void store_clear(store *s)
{
    while (s->head)
        store_del(s, s->head->key);
}

/* One command line (NUL-terminated, its end of line removed) into its reply. */
static int command(ss_request *req, store *s, char *line)
{
    char value[MAX_LINE];
    char *rest = NULL;
    char *cmd = strtok_r(line, " ", &rest);
    char *key = cmd ? strtok_r(NULL, " ", &rest) : NULL;
    int more = rest && *rest; /* something after the key */
    ssize_t w;

    if (key && more && strcmp(cmd, "SET") == 0) {
        int rc = store_set(s, key, rest);
        w = rc == 0 ? ss_writef(req, "STORED\n") : ss_writef(req, "ERROR %s\n", ss_strerror(rc));
    } else if (key && !more && strcmp(cmd, "GET") == 0) {
        w = store_get(s, key, value, sizeof value) ? ss_writef(req, "VALUE %s\n", value)
                                                   : ss_writef(req, "NOT_FOUND\n");
    } else if (key && !more && strcmp(cmd, "DEL") == 0) {
        w = ss_writef(req, "%s\n", store_del(s, key) ? "DELETED" : "NOT_FOUND");
    } else {
        w = ss_writef(req, "ERROR usage: SET key value | GET key | DEL key\n");
    }
    return w < 0 ? (int)w : 0;
}

static int handle(ss_request *req)
{
    store *s = ss_server_userdata(ss_request_server(req));
    char line[MAX_LINE];
    ssize_t n;

    while ((n = ss_readline(req, line, sizeof line)) > 0) {
        if (line[n - 1] != '\n' && n == (ssize_t)sizeof line - 1)
            return ss_request_fail(req, -EMSGSIZE, "line longer than %d bytes", MAX_LINE - 1);
        line[strcspn(line, "\r\n")] = '\0';
        int rc = command(req, s, line);
        if (rc < 0)
            return rc;
    }
    return (int)n; /* 0 at end of input, or the negative errno of the read */
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || (argc > 2 && ss_strategy_from_name(argv[2], &mode) < 0)) {
        fprintf(stderr, "usage: %s [URL] [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    static store table = {.lock = PTHREAD_MUTEX_INITIALIZER};
    static const ss_handler handler = {.handle = handle};
    ss_server *srv = ss_server_new(&(ss_config){.listen = url, .handler = &handler, .strategy = mode,
        .userdata = &table, .allow_reuse_address = true});
    if (!srv) {
        int err = errno;
        const char *why = ss_last_error(); /* the field or URL at fault, if that was it */
        if (why)
            fprintf(stderr, "kvstore: %s\n", why);
        else
            fprintf(stderr, "kvstore: %s: %s\n", url, strerror(err));
        return err == EINVAL ? 2 : 1; /* EINVAL: a bad URL */
    }
    if (mode == SS_FORKING)
        fprintf(stderr, "kvstore: forking: each client works on its own copy of the table, "
                        "gone when it leaves\n");
    /* SIGINT (Ctrl-C) or SIGTERM: stop accepting, give requests 1 s to finish. */
    ss_stop_on_signals(srv, 1.0, NULL);

    printf("listening on %s\n", ss_server_url(srv));
    fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv);
    store_clear(&table); /* every request has ended: nobody else holds the table */
    return 0;
}
