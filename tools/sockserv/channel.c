/* channel.c: what a worker process tells its supervisor, one message a packet over a Unix socket pair: it serves, its counters now (SIGUSR1), its final counters. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"

int channel_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    int fl = fcntl(fds[0], F_GETFL);
    if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = -errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    return 0;
}

int channel_send(int fd, enum channel_type type, const ss_stats *stats)
{
    struct channel_msg msg = { .type = (uint32_t)type };
    ssize_t n;

    if (stats)
        msg.stats = *stats;
    do
        n = send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

int channel_recv(int fd, struct channel_msg *msg)
{
    for (;;) {
        ssize_t n = recv(fd, msg, sizeof *msg, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if ((size_t)n == sizeof *msg && msg->type >= CHANNEL_READY && msg->type <= CHANNEL_STOPPING)
            return 1;
    }
}
