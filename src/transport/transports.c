/* transports.c: the transports, listed once: the URL scheme of each, and their shared no-ops. */
#include "core/internal.h"

#include <string.h>

/* Adding a transport: its file and a line here. A prefix that begins
 * another ("unix:" and "unix-dgram:") comes after it. */
static const ss__transport *const transports[] = {
    &ss__tcp,
    &ss__udp,
    &ss__tls,
    &ss__unix_dgram,
    &ss__unix_stream,
};

const ss__transport *ss__transport_by_prefix(const char *url)
{
    for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
        if (strncmp(url, transports[i]->prefix, strlen(transports[i]->prefix)) == 0)
            return transports[i];
    return NULL;
}

int ss__tp_nop_setup(ss_server *srv)
{
    (void)srv;
    return 0;
}

void ss__tp_nop_server(ss_server *srv)
{
    (void)srv;
}

int ss__tp_no_reply(ss_request *req, const void *buf, size_t len)
{
    (void)req, (void)buf, (void)len;
    return -EOPNOTSUPP;
}
