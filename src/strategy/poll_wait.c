/* poll_wait.c: how a request waits in the thread and process strategies: poll() with the drain timer. */
#include "core/internal.h"

int ss__poll_wait(ss_request *req, int fd, short events, int64_t deadline)
{
    ss_server *srv = req->srv;
    for (;;) {
        if (srv->cancel_here)
            return -ECANCELED;
        struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = srv->cancel_fd, .events = POLLIN}};
        int n = poll(p, 2, ss__ms_until(deadline));
        if (n < 0) {
            if (errno == EINTR) /* a signal: maybe a stop for this process */
                continue;
            return -errno;
        }
        if (p[1].revents)
            return -ECANCELED;
        if (n == 0)
            return -ETIMEDOUT;
        return 0;
    }
}

int ss__poll_wait_conn(ss_request *req, short events, int64_t deadline)
{
    return ss__poll_wait(req, req->fd, events, deadline);
}
