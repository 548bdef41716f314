/* fuzz.h: what the fuzz targets share: checks, control bytes, a chunk-fed request, the read script. */
#ifndef SS_FUZZ_H
#define SS_FUZZ_H

#include "core/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point, also called by the replay driver (replay.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: abort with a message, so that libFuzzer keeps
 * the input and the replay test fails. */
#define FUZZ_CHECK(cond, ...)                                              \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* Control bytes: the part of an input that steers the test (read calls,
 * their sizes, chunk sizes), taken in turn, round and round (0s if none). */
typedef struct fuzz_ctl {
    const uint8_t *p;
    size_t n, i;
} fuzz_ctl;

unsigned fuzz_ctl_byte(fuzz_ctl *c);
/* A size from 1 up to a few times `base`, near `base` often (buffer edges). */
size_t fuzz_ctl_size(fuzz_ctl *c, size_t base);
/* Split an input: byte 0 is the number of control bytes that follow; the
 * rest is the payload. */
void fuzz_split(const uint8_t *data, size_t size, fuzz_ctl *ctl, const uint8_t **payload, size_t *len);

/* A stream request whose peer sends `data` in chunks (sizes from ctl): each
 * time the reader would block, the strategy's wait sends the next chunk, or
 * shuts the peer down at the end. Now and then (ctl again) the wait fails
 * instead: a timeout, or a drain deadline that cancels all further I/O.
 * One thread, deterministic. */
typedef struct fuzz_feed {
    ss_request *req;
    int peer;
    const uint8_t *data;
    size_t len, sent;
    bool eof_sent;
    fuzz_ctl *ctl;
    unsigned faults;                   /* failed waits so far */
    int fault;                         /* the last one's error */
} fuzz_feed;

/* Start one (rbufsize from ctl); fuzz_feed_end
 * frees it and closes both ends. */
void fuzz_feed_start(fuzz_feed *f, const uint8_t *data, size_t len, fuzz_ctl *ctl);
void fuzz_feed_end(fuzz_feed *f);
/* The same on a server of fuzz_feed_server, with a connection of type conn
 * over one of type lower (NULL: none): a TLS request is &ss__conn_tls over
 * &ss__conn_stream. */
void fuzz_feed_start_on(fuzz_feed *f, ss_server *srv, const ss__conn_type *conn, const ss__conn_type *lower,
                        const uint8_t *data, size_t len, fuzz_ctl *ctl);
/* A server for such requests, from cfg (listen and the transport's
 * settings): never bound, the sync strategy with the feed's wait. */
ss_server *fuzz_feed_server(ss_config cfg);

/* Read the request's input (data[0..len) in all) with a script of read
 * calls drawn from ctl, checking each result against data; a call during
 * which feed (NULL: none) injected a fault may fail or return less, as
 * documented. Every piece read goes to sink (if not NULL). Returns how many
 * bytes were read and passed to the sink: len, unless the script ended
 * early (ss_read_all over its limit or failed, which leaves the input
 * partly consumed, or cancelled I/O). */
size_t fuzz_read_script(ss_request *req, const uint8_t *data, size_t len, fuzz_ctl *ctl, const fuzz_feed *feed,
                        void (*sink)(ss_request *req, const char *p, size_t n));
/* The same for an input that ends with an error (end: a negative errno; 0
 * is the end of input, as above): a call that reaches the end returns what
 * it read before it, or end when that is nothing (ss_readline_ref: end,
 * with the rest of the input left to read; ss_read_all: end, the script
 * stops there); after it, every call returns end again. */
size_t fuzz_read_script_to(ss_request *req, const uint8_t *data, size_t len, int end, fuzz_ctl *ctl,
                           const fuzz_feed *feed, void (*sink)(ss_request *req, const char *p, size_t n));

#endif
