/* room_message.c: a chat line on the Redis channel: "sockserv/1 PEER TEXT" made, and checked within bounds as it comes from anyone who may publish there. */
#include <string.h>

#include "room_message.h"

size_t room_message_make(char *out, const char *peer, size_t plen, const char *text, size_t len)
{
    char *p = out;

    memcpy(p, ROOM_MESSAGE_MAGIC, ROOM_MESSAGE_MAGIC_LEN);
    p += ROOM_MESSAGE_MAGIC_LEN;
    memcpy(p, peer, plen);
    p += plen;
    *p++ = ' ';
    memcpy(p, text, len);
    return ROOM_MESSAGE_MAGIC_LEN + plen + 1 + len;
}

int room_message_parse(const char *s, size_t n, size_t max_text, struct room_message *m)
{
    if (n < ROOM_MESSAGE_MAGIC_LEN + 2 ||
        memcmp(s, ROOM_MESSAGE_MAGIC, ROOM_MESSAGE_MAGIC_LEN) != 0)
        return -1;
    const char *peer = s + ROOM_MESSAGE_MAGIC_LEN;
    size_t left = n - ROOM_MESSAGE_MAGIC_LEN, plen = 0;
    while (plen < left && plen <= ROOM_MESSAGE_MAX_PEER && peer[plen] > ' ' && peer[plen] <= '~')
        plen++;
    if (plen == 0 || plen == left || plen > ROOM_MESSAGE_MAX_PEER || peer[plen] != ' ')
        return -1;
    size_t len = left - plen - 1;
    if (len > max_text)
        return -1;
    *m = (struct room_message){ .peer = peer, .plen = plen, .text = peer + plen + 1, .len = len };
    return 0;
}
