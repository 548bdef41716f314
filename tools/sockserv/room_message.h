/* room_message.h: a chat line on the Redis channel, "sockserv/1 PEER TEXT": made and checked apart from the I/O, so that tests/fuzz/ can call them. */
#ifndef SOCKSERV_ROOM_MESSAGE_H
#define SOCKSERV_ROOM_MESSAGE_H

#include <stddef.h>

/* What starts every message of ours: a name and a version, then a blank. */
#define ROOM_MESSAGE_MAGIC "sockserv/1 "
#define ROOM_MESSAGE_MAGIC_LEN (sizeof ROOM_MESSAGE_MAGIC - 1)
/* The longest peer a message carries (room.h's ROOM_MAX_PEER). */
#define ROOM_MESSAGE_MAX_PEER 512

/* A message taken apart: pointers into the message checked. */
struct room_message {
    const char *peer;        /* 1 to ROOM_MESSAGE_MAX_PEER bytes from '!' to '~' */
    size_t plen;
    const char *text;        /* raw: cleaned where it is delivered */
    size_t len;
};

/* Write the message for `peer` (plen bytes) saying `text` (len bytes) to
 * out, which has room for ROOM_MESSAGE_MAGIC_LEN + plen + 1 + len bytes
 * (the caller checked that sum); returns that length. */
size_t room_message_make(char *out, const char *peer, size_t plen, const char *text, size_t len);
/* Take the n bytes at s apart: the magic, a peer as above, one blank, then
 * a text of at most max_text bytes (any bytes). Returns 0 with *m set, or
 * -1 for anything else (another client's message, or garbage). */
int room_message_parse(const char *s, size_t n, size_t max_text, struct room_message *m);

#endif
