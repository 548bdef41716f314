/* outq.h: a member's queue of output not yet taken by the kernel, sent without blocking. */
#ifndef SOCKSERV_OUTQ_H
#define SOCKSERV_OUTQ_H

#include <stddef.h>
#include <stdint.h>

/* Bytes buf[off..len) are waiting; a zeroed struct is an empty queue. */
struct outq {
    char *buf;
    size_t off, len, cap;
    uint64_t sent;           /* bytes the kernel took, in all */
};

static inline size_t outq_pending(const struct outq *q)
{
    return q->len - q->off;
}

/* Send what is queued to fd without blocking. Returns 0 when the queue is
 * empty, 1 when the kernel took what it could and some is left, or -errno
 * when the connection failed. */
int outq_flush(struct outq *q, int fd);
/* Send data after what is queued: straight to fd when nothing waits, the
 * rest queued. Returns as outq_flush(), or -ENOMEM. */
int outq_write(struct outq *q, int fd, const char *data, size_t n);
/* Drop what is queued and free the buffer (`sent` stays). */
void outq_free(struct outq *q);

#endif
