/* room_url.h: --room's URL, redis://HOST:PORT[/CHANNEL], parsed strictly, and its host resolved once. */
#ifndef SOCKSERV_ROOM_URL_H
#define SOCKSERV_ROOM_URL_H

#include <netinet/in.h>
#include <stddef.h>

/* The longest host name (DNS: 253 characters) and channel name taken. */
#define ROOM_HOST_MAX 253
#define ROOM_CHANNEL_MAX 128
/* The channel when the URL names none. */
#define ROOM_DEFAULT_CHANNEL "sockserv:chat"

struct room_url {
    char host[ROOM_HOST_MAX + 1];        /* as given, an IPv6 address without brackets */
    int port;                            /* 1 to 65535 */
    char channel[ROOM_CHANNEL_MAX + 1];  /* letters, digits and ":._-" */
    char addr[INET6_ADDRSTRLEN];         /* the host's address, numeric (room_url_resolve) */
};

/* Parse `text`: "redis://" then HOST (a dotted IPv4 address, an IPv6
 * address in brackets, or a name of letters, digits, '-' and '.'), ':',
 * PORT (decimal, 1 to 65535), then optionally '/' and CHANNEL (1 to
 * ROOM_CHANNEL_MAX bytes of letters, digits and ":._-"). Returns 0, or -1
 * with *why saying what is wrong (a constant string). */
int room_url_parse(const char *text, struct room_url *url, const char **why);
/* Find the host's address into url->addr (a name is looked up now, once:
 * reconnections use this address). Returns 0, or -1 with *why set (a
 * constant string). */
int room_url_resolve(struct room_url *url, const char **why);

#endif
