/* outq.c: a member's output queue: non-blocking sends, the rest kept in a buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "outq.h"

/* A buffer bigger than this is given back once the queue drains. */
#define OUTQ_KEEP (64 << 10)

/* Send as much of data as the kernel takes now (counted in q->sent);
 * returns the count or -errno. */
static ssize_t send_some(struct outq *q, int fd, const char *data, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = send(fd, data + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        done += (size_t)w;
    }
    q->sent += done;
    return (ssize_t)done;
}

static void outq_reset(struct outq *q)
{
    q->off = q->len = 0;
    if (q->cap > OUTQ_KEEP) {
        free(q->buf);
        q->buf = NULL;
        q->cap = 0;
    }
}

static int outq_append(struct outq *q, const char *data, size_t n)
{
    if (q->cap - q->len < n && q->off > 0) {
        memmove(q->buf, q->buf + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->cap - q->len < n) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap - q->len < n) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        char *buf = realloc(q->buf, cap);
        if (!buf)
            return -ENOMEM;
        q->buf = buf;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, data, n);
    q->len += n;
    return 0;
}

int outq_flush(struct outq *q, int fd)
{
    if (outq_pending(q) == 0)
        return 0;
    ssize_t w = send_some(q, fd, q->buf + q->off, outq_pending(q));
    if (w < 0)
        return (int)w;
    q->off += (size_t)w;
    if (outq_pending(q) > 0)
        return 1;
    outq_reset(q);
    return 0;
}

int outq_write(struct outq *q, int fd, const char *data, size_t n)
{
    int rc = outq_flush(q, fd);

    if (rc < 0)
        return rc;
    if (rc == 0) {
        ssize_t w = send_some(q, fd, data, n);
        if (w < 0)
            return (int)w;
        data += w;
        n -= (size_t)w;
        if (n == 0)
            return 0;
    }
    rc = outq_append(q, data, n);
    return rc < 0 ? rc : 1;
}

void outq_free(struct outq *q)
{
    free(q->buf);
    *q = (struct outq){ .sent = q->sent };
}
