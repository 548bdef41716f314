/* room_send.c: the handlers' side of the room: JOIN, SAY and LEAVE datagrams to the broker. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "room_internal.h"

/* Send one message, with nfds fds attached. The socket is shared by every
 * handler (and inherited by forked children), so it stays blocking and each
 * send asks for MSG_DONTWAIT; when the broker's queue is full the request
 * waits for room through the library, which never blocks an event loop.
 * Returns 0 or -errno. */
static int send_msg(struct room *room, ss_request *req, uint32_t type, uint64_t id,
                    const void *payload, size_t len, const int *fds, size_t nfds)
{
    struct room_hdr hdr = { .id = id, .type = type };
    struct iovec iov[2] = {
        { .iov_base = &hdr, .iov_len = sizeof hdr },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    double give_up = 0;

    if (nfds > 3)
        return -EINVAL;
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    for (;;) {
        if (sendmsg(room->tx, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        double now = monotonic_secs();
        if (give_up == 0)
            give_up = now + ROOM_SEND_SECS;
        if (now >= give_up)
            return -ETIMEDOUT;
        int rc = ss_wait_fd(req, room->tx, POLLOUT, give_up - now);
        if (rc < 0)
            return rc;
    }
}

uint64_t room_new_id(struct room *room)
{
    uint32_t seq = (uint32_t)atomic_fetch_add(&room->next_seq, 1) + 1;

    return (uint64_t)(uint32_t)getpid() << 32 | seq;
}

int room_join(struct room *room, ss_request *req, uint64_t id, int conn, int out, int ack,
              const char *peer)
{
    size_t len = strlen(peer);
    int fds[3] = { conn, ack, out };

    if (conn < 0 || ack < 0)
        return -EBADF;
    return send_msg(room, req, MSG_JOIN, id, peer, len < ROOM_MAX_PEER ? len : ROOM_MAX_PEER, fds,
                    out >= 0 ? 3 : 2);
}

int room_say(struct room *room, ss_request *req, uint64_t id, const char *text, size_t len)
{
    if (len > room->max_text)
        return -EMSGSIZE;
    return send_msg(room, req, MSG_SAY, id, text, len, NULL, 0);
}

int room_leave(struct room *room, ss_request *req, uint64_t id)
{
    return send_msg(room, req, MSG_LEAVE, id, NULL, 0, NULL, 0);
}
