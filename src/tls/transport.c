/* transport.c: the tls:// transport (TCP with TLS), its reload, and the TLS accessors of the public API. */
#include "tls/tls.h"

/* A connection TLS over the kind of stream connection the strategy wants. */
static int tls_get_request(ss_server *srv, ss_request **out)
{
    return ss__stream_accept(srv, out, &ss__conn_tls, srv->st->stream_conn);
}

/* The context, from the files, once the socket is bound. */
static int tls_setup(ss_server *srv)
{
    ss__tls_ctx *t;
    int rc = ss__tls_new(srv, &t);
    if (rc == 0)
        srv->tp_state = t;
    return rc;
}

static void tls_release(ss_server *srv)
{
    ss__tls_free(srv->tp_state);
    srv->tp_state = NULL;
}

const ss__transport ss__tls = {
    .scheme = "tls",
    .prefix = "tls://",
    .socktype = SOCK_STREAM,
    .inet = true,
    .tls = true,
    .closes_first = true,
    .setup = tls_setup,
    .get_request = tls_get_request,
    .refuse = ss__stream_refuse,
    .send_reply = ss__tp_no_reply,
    .release = tls_release,
};

bool ss_tls_available(void)
{
    return true;
}

int ss_server_tls_reload(ss_server *srv)
{
    ss__clear_error();
    if (srv->tp != &ss__tls || !srv->tp_state)
        return ss__fail(-EINVAL, "tls: not a tls:// server");
    return ss__tls_reload(srv->tp_state, &srv->cfg);
}

bool ss_request_is_tls(const ss_request *req)
{
    return req->conn.type == &ss__conn_tls;
}

static const char *info(const ss_request *req, int what)
{
    ss_request *r = (ss_request *)req; /* texts made on first use are cached */
    return r->conn.type->tls_info(&r->conn, what);
}

const char *ss_request_tls_version(const ss_request *req)
{
    return info(req, SS__TLS_VERSION);
}

const char *ss_request_tls_cipher(const ss_request *req)
{
    return info(req, SS__TLS_CIPHER);
}

const char *ss_request_tls_alpn(const ss_request *req)
{
    return info(req, SS__TLS_ALPN);
}

const char *ss_request_tls_peer_subject(const ss_request *req)
{
    return info(req, SS__TLS_PEER_SUBJECT);
}

const char *ss_request_tls_peer_fingerprint(const ss_request *req)
{
    return info(req, SS__TLS_PEER_FINGERPRINT);
}
