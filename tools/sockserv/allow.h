/* allow.h: --allow: a list of client address ranges (IPv4 and IPv6 CIDR). */
#ifndef SOCKSERV_ALLOW_H
#define SOCKSERV_ALLOW_H

#include <stdbool.h>
#include <sys/socket.h>

struct allow_list;

/* An empty list (matches nothing), or NULL when out of memory. */
struct allow_list *allow_new(void);
void allow_free(struct allow_list *al);
/* Add "RANGE[,RANGE...]", each RANGE an address or ADDR/PREFIX (IPv6 may
 * be bracketed; host bits are ignored). Returns 0, or -EINVAL / -ENOMEM
 * with *why naming the problem. */
int allow_add(struct allow_list *al, const char *spec, const char **why);
/* Whether the peer is in a range; an IPv4-mapped IPv6 peer matches IPv4
 * ranges. Non-IP peers never match. */
bool allow_match(const struct allow_list *al, const struct sockaddr *sa, socklen_t len);

#endif
