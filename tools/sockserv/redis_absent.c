/* redis_absent.c: stands in for redis_room.c when sockserv is built without hiredis: --room is refused before a room starts (checks.c). */
#include <errno.h>
#include <stddef.h>

#include "redis_room.h"

bool redis_room_available(void)
{
    return false;
}

struct redis_room *redis_room_new(const struct room_url *url, struct room *room, int ep,
                                  size_t max_text)
{
    (void)url;
    (void)room;
    (void)ep;
    (void)max_text;
    errno = ENOTSUP;
    return NULL;
}

/* None of these is reached: no redis_room is ever made. */
void redis_room_free(struct redis_room *rr)
{
    (void)rr;
}

bool redis_room_shared(const struct redis_room *rr)
{
    (void)rr;
    return false;
}

const char *redis_room_name(const struct redis_room *rr)
{
    (void)rr;
    return "";
}

enum redis_publish redis_room_publish(struct redis_room *rr, const char *peer, size_t plen,
                                      const char *text, size_t len)
{
    (void)rr;
    (void)peer;
    (void)plen;
    (void)text;
    (void)len;
    return ROOM_LOCAL;
}

void redis_room_ready(struct redis_room *rr, uint64_t tag, uint32_t events)
{
    (void)rr;
    (void)tag;
    (void)events;
}

int redis_room_tick(struct redis_room *rr)
{
    (void)rr;
    return -1;
}

void redis_room_forget(struct redis_room *rr)
{
    (void)rr;
}
