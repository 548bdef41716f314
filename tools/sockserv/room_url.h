/* room_url.h: --room's URL, redis://HOST:PORT[/CHANNEL], parsed strictly, its host resolved once, and the credentials from the environment. */
#ifndef SOCKSERV_ROOM_URL_H
#define SOCKSERV_ROOM_URL_H

#include <netinet/in.h>
#include <stddef.h>

/* The longest host name (DNS: 253 characters) and channel name taken. */
#define ROOM_HOST_MAX 253
#define ROOM_CHANNEL_MAX 128
/* The longest user name and password taken from the environment. */
#define ROOM_SECRET_MAX 512
/* The environment variables they come from (never the command line, which
 * every user of the machine can read in /proc). */
#define ROOM_USER_ENV "SOCKSERV_REDIS_USER"
#define ROOM_PASSWORD_ENV "SOCKSERV_REDIS_PASSWORD"
/* The channel when the URL names none. */
#define ROOM_DEFAULT_CHANNEL "sockserv:chat"

struct room_url {
    char host[ROOM_HOST_MAX + 1];        /* as given, an IPv6 address without brackets */
    int port;                            /* 1 to 65535 */
    char channel[ROOM_CHANNEL_MAX + 1];  /* letters, digits and ":._-" */
    char addr[INET6_ADDRSTRLEN];         /* the host's address, numeric (room_url_resolve) */
    char user[ROOM_SECRET_MAX + 1];      /* AUTH's user (Redis 6 ACL), or "" */
    char password[ROOM_SECRET_MAX + 1];  /* AUTH's password, or "": no AUTH */
};

/* Parse `text`: "redis://" then HOST (a dotted IPv4 address, an IPv6
 * address in brackets, or a name of letters, digits, '-' and '.'), ':',
 * PORT (decimal, 1 to 65535), then optionally '/' and CHANNEL (1 to
 * ROOM_CHANNEL_MAX bytes of letters, digits and ":._-"). Returns 0, or -1
 * with *why saying what is wrong (a constant string). */
int room_url_parse(const char *text, struct room_url *url, const char **why);
/* The credentials: ROOM_PASSWORD_ENV (then AUTH PASSWORD) and, with it,
 * ROOM_USER_ENV (then AUTH USER PASSWORD), each 1 to ROOM_SECRET_MAX
 * bytes, any bytes but NUL. Neither set: no AUTH. Returns 0, or -1 with
 * *why set (a constant string). */
int room_url_credentials(struct room_url *url, const char **why);
/* Find the host's address into url->addr (a name is looked up now, once:
 * reconnections use this address). Returns 0, or -1 with *why set (a
 * constant string). */
int room_url_resolve(struct room_url *url, const char **why);

#endif
