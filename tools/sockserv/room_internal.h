/* room_internal.h: the room's wire format and state, shared by room.c, broker.c and room_send.c. */
#ifndef SOCKSERV_ROOM_INTERNAL_H
#define SOCKSERV_ROOM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outq.h"
#include "room.h"

/*
 * A message is one datagram: a fixed header, then the payload.
 *   JOIN   payload: the peer string; two or three fds in SCM_RIGHTS: the
 *          connection, the broker's end of the member's acknowledgement
 *          pair, and (a TLS member) the end of its relay pair that the
 *          member's lines go to instead of the connection
 *   SAY    payload: the line's text
 *   LEAVE  no payload; once the member's pending output is sent (or given
 *          up), the broker writes 8 bytes to the ack pair and forgets it
 *   STOP   no payload; sent by room_stop() only
 */
enum room_msg_type { MSG_JOIN = 1, MSG_SAY = 2, MSG_LEAVE = 3, MSG_STOP = 4 };

struct room_hdr {
    uint64_t id;
    uint32_t type;
    uint32_t pad;
};

#ifndef ROOM_SOCKBUF                /* (a test build may shrink it) */
#define ROOM_SOCKBUF (1 << 20)     /* SO_SNDBUF / SO_RCVBUF asked for */
#endif

/* One member, as the broker knows it. */
struct member {
    uint64_t id;
    int fd;                  /* where the member's lines go: the broker's copy of
                                the connection, or of a TLS member's relay
                                pair; -1 once dropped */
    int conn;                /* a TLS member's connection, shut down to end
                                the member; -1 for the others (and once
                                dropped) */
    int ack;                 /* the broker's end of the member's ack pair */
    bool watched;            /* registered in epoll for EPOLLOUT */
    bool leaving;            /* in the leaving list */
    char *peer;
    struct outq out;
    int64_t leave_by;        /* leaving: give up its output at this time (ns) */
    struct member *next;     /* in the leaving list or the dead list */
};

struct room {
    int tx;                  /* the handlers' end (shared by every sender) */
    int rx;                  /* the broker's end */
    int ep;                  /* the broker's epoll */
    size_t max_text;
    size_t backlog;
    atomic_uint_fast32_t next_seq;

    pthread_t thread;        /* the broker: it holds ss_fork_gate while it works */
    /* Guards the member table's shape and each member's fd being >= 0, for
     * room_list(); the broker alone changes them and reads them unlocked. */
    pthread_mutex_t lock;
    struct member **members;
    size_t nmembers, capmembers;
    struct member *leaving;  /* left, their output still being sent */
    struct member *dead;     /* gone this round, freed after it */

    char *rxbuf;             /* one datagram */
    size_t rxcap;
    char *line;              /* one formatted "PEER TEXT\n", TEXT cleaned */
    size_t linecap;

    struct redis_room *redis; /* --room: the channel shared with other
                                 processes (redis_room.h); NULL: this
                                 process's room only */
};

/* broker.c: the broker thread's body. */
void *room_broker(void *arg);
/* broker.c: free every member (the broker has stopped). */
void room_free_members(struct room *room);
/* broker.c: a line to every member here as "PEER TEXT\n", TEXT cleaned
 * (chat_line_clean); plen <= ROOM_MAX_PEER, len <= max_text (a larger one
 * is dropped). The broker calls it for its own members' lines while the
 * room is not shared, and redis_room.c for each line the channel carries. */
void room_deliver(struct room *room, const char *peer, size_t plen, const char *text, size_t len);

#endif
