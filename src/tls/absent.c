/* absent.c: the library built without OpenSSL: tls:// says so (and how to get it), and the TLS accessors answer "not TLS". */
#include "core/internal.h"

#define HOW "TLS is not built in: install OpenSSL 3's headers (apt-get install libssl-dev) and rebuild"

/* Refused when the server is made, before its socket is bound. */
static int absent_setup(ss_server *srv)
{
    (void)srv;
    return ss__fail(-EPROTONOSUPPORT, "%s", HOW);
}

static int absent_get_request(ss_server *srv, ss_request **out)
{
    (void)srv, (void)out;
    return -EPROTONOSUPPORT;
}

const ss__transport ss__tls = {
    .scheme = "tls",
    .prefix = "tls://",
    .socktype = SOCK_STREAM,
    .inet = true,
    .tls = true,
    .closes_first = true,
    .setup = absent_setup,
    .get_request = absent_get_request,
    .refuse = ss__stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = ss__tp_nop_server,
};

/* No request ever has this type: a placeholder for the connection table. */
const ss__conn_type ss__conn_tls = {.name = "tls (not built in)"};

bool ss_tls_available(void)
{
    return false;
}

int ss_server_tls_reload(ss_server *srv)
{
    (void)srv;
    ss__clear_error();
    return ss__fail(-EPROTONOSUPPORT, "%s", HOW);
}

ss_tls_tickets *ss_tls_tickets_new(double rotate_secs)
{
    (void)rotate_secs;
    errno = EPROTONOSUPPORT;
    return NULL;
}

void ss_tls_tickets_free(ss_tls_tickets *t)
{
    (void)t;
}

bool ss_request_is_tls(const ss_request *req)
{
    (void)req;
    return false;
}

const char *ss_request_tls_version(const ss_request *req)
{
    (void)req;
    return NULL;
}

const char *ss_request_tls_cipher(const ss_request *req)
{
    (void)req;
    return NULL;
}

const char *ss_request_tls_alpn(const ss_request *req)
{
    (void)req;
    return NULL;
}

const char *ss_request_tls_peer_subject(const ss_request *req)
{
    (void)req;
    return NULL;
}

const char *ss_request_tls_peer_fingerprint(const ss_request *req)
{
    (void)req;
    return NULL;
}
