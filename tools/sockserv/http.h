/* http.h: the HTTP/1.x of a small server with one resource: a request's head read within a deadline and a size and parsed into what it asks, an answer written, the client's leftovers drained before the close. */
#ifndef SOCKSERV_HTTP_H
#define SOCKSERV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sockserv.h"

/* What a request asks of a server that answers one path by GET or HEAD. */
struct http_ask {
    int status;              /* 200, or the error to answer: 400 malformed,
                                404 another path, 405 another method,
                                505 not HTTP/1.x */
    bool head_only;          /* HEAD: the headers without the body */
};

/* Read a request's head (its request line and headers, up to the empty
 * line) into buf within `deadline` (monotonic_secs), the whole of it:
 * bytes trickling in do not extend it. Returns the head's end (> 0, its
 * length in buf; what came after it is left unparsed), 0 when the client
 * closed before sending a byte, -EMSGSIZE when no head fits in size bytes,
 * -EPROTO when the client closed midway, -ETIMEDOUT, or another -errno. */
ssize_t http_read_head(ss_request *req, char *buf, size_t size, double deadline);
/* What the head (head[0..end), from http_read_head) asks of a server of
 * the path `want` only: its request line (origin or absolute form; the
 * query is not part of the path), then its headers, each well-formed, with
 * one Host (HTTP/1.1; HTTP/1.0 at most one). A malformed head is 400
 * whatever its path and method. */
struct http_ask http_parse_head(const char *head, size_t end, const char *want);
/* The answer: an HTTP/1.1 status line, the headers (Content-Type `type`,
 * Content-Length, Cache-Control: no-store, Connection: close, and for
 * 405 Allow: GET, HEAD), then the len bytes of body unless head_only;
 * then the write side shut, so that the client sees the answer's end.
 * Returns 0 or -errno. */
int http_respond(ss_request *req, int status, bool head_only, const char *body, size_t len,
                 const char *type);
/* After the answer: what the client still sends (a body, a pipelined
 * request, the rest of an oversized one) read and dropped until it closes,
 * for at most a second and 64 KiB, so that closing with it unread does not
 * reset the connection before the client has read the answer. */
void http_linger(ss_request *req);

#endif
