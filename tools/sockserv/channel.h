/* channel.h: what a worker process tells its supervisor, one message a packet over a Unix socket pair: it serves, its counters now (SIGUSR1), its final counters. */
#ifndef SOCKSERV_CHANNEL_H
#define SOCKSERV_CHANNEL_H

#include <stdint.h>

#include "sockserv.h"

enum channel_type {
    CHANNEL_READY = 1,       /* every listener of the worker serves */
    CHANNEL_REPORT,          /* its counters now, asked by SIGUSR1 */
    CHANNEL_FINAL,           /* its counters once closed, just before it exits */
    CHANNEL_STOPPING         /* SIGTERM taken: it accepts no more, it drains */
};

struct channel_msg {
    uint32_t type;           /* enum channel_type */
    ss_stats stats;          /* the counters summed over its listeners */
};

/* A pair of SOCK_SEQPACKET sockets, close-on-exec: [0] the supervisor's
 * end (non-blocking), [1] the worker's. Returns 0 or -errno. */
int channel_pair(int fds[2]);
/* Send one message (blocking, atomic: several threads may send). Returns
 * 0 or -errno. */
int channel_send(int fd, enum channel_type type, const ss_stats *stats);
/* Take one message waiting (non-blocking): 1 with *msg, 0 at the end (the
 * worker closed its end: it exited), -EAGAIN when none is waiting, or
 * another -errno. A malformed one is skipped. */
int channel_recv(int fd, struct channel_msg *msg);

#endif
