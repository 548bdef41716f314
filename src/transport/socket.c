/* socket.c: the listening socket's life: create, bind (stale Unix files replaced), listen, close. */
#include "core/internal.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fill srv->addr from the URL: numeric hosts directly, names through the
 * resolver (the first address it gives). */
static int resolve(ss_server *srv)
{
    const ss__url *u = &srv->url;
    memset(&srv->addr, 0, sizeof srv->addr);
    if (u->family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&srv->addr;
        size_t len = strlen(u->path);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, u->path, len);
        if (u->path[0] == '@') /* abstract: a leading NUL, length-delimited */
            un->sun_path[0] = '\0';
        srv->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (u->path[0] != '@'));
        return 0;
    }
    struct addrinfo hints = {.ai_family = u->family, .ai_socktype = u->socktype,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    if (u->family != AF_UNSPEC)
        hints.ai_flags |= AI_NUMERICHOST;
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0) {
        int err;
        switch (rc) {
        case EAI_SYSTEM: err = -errno; break;
        case EAI_MEMORY: err = -ENOMEM; break;
        case EAI_AGAIN: err = -EAGAIN; break;
        case EAI_FAMILY: err = -EAFNOSUPPORT; break;
        case EAI_NONAME: case EAI_NODATA: case EAI_ADDRFAMILY: err = -ENXIO; break;
        default: err = -EIO; break;
        }
        return ss__fail(err, "cannot resolve host '%s': %s", u->host,
                        rc == EAI_SYSTEM ? ss_strerror(err) : gai_strerror(rc));
    }
    memcpy(&srv->addr, res->ai_addr, res->ai_addrlen);
    srv->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A Unix socket with a path: a file in the file system. */
static bool is_file(const ss_server *srv)
{
    return srv->url.family == AF_UNIX && srv->url.path[0] != '@';
}

int ss__socket_open(ss_server *srv)
{
    if (srv->cfg.socket_mode && !is_file(srv))
        return ss__fail(-EINVAL, "socket_mode: applies to a Unix socket file (unix:PATH or unix-dgram:PATH), "
                                 "not to %s", srv->url.family == AF_UNIX ? "an abstract name" : srv->tp->prefix);
    int rc = resolve(srv);
    if (rc < 0)
        return rc;
    int fd = socket(srv->addr.ss_family, srv->url.socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    srv->fd = fd;
    return 0;
}

/* A Unix socket file is stale when it is a socket nobody accepts on. The
 * probe does not wait: a live server with a full backlog answers EAGAIN
 * at once (a blocking connect would wait for it to accept). */
static bool unix_path_is_stale(const ss_server *srv)
{
    struct stat st;
    if (lstat(srv->url.path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    int probe = socket(AF_UNIX, srv->url.socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return false;
    int rc = connect(probe, (const struct sockaddr *)&srv->addr, srv->addrlen);
    int err = errno;
    close(probe);
    return rc < 0 && err == ECONNREFUSED;
}

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

/* Give the socket file just bound exactly cfg.socket_mode. The file is
 * reached through an O_PATH descriptor checked to be our socket, so a path
 * swapped meanwhile (a symlink planted in a shared directory) is not
 * followed. */
static int exact_mode(ss_server *srv)
{
    mode_t want = (mode_t)srv->cfg.socket_mode;
    int pfd = open(srv->url.path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(pfd, &st) < 0 ? -errno : 0;
    if (rc == 0 && (!S_ISSOCK(st.st_mode) || st.st_ino != srv->sock_ino || st.st_dev != srv->sock_dev))
        rc = -EEXIST;
    if (rc == 0 && (st.st_mode & 07777) != want) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
        rc = chmod(proc, want) < 0 ? -errno : 0;
        if (rc == -ENOENT) /* no /proc: the path it is */
            rc = chmod(srv->url.path, want) < 0 ? -errno : 0;
    }
    close(pfd);
    return rc;
}

/* The bound URL from the address (a Unix name escaped). */
static void name_bound(ss_server *srv)
{
    char text[SS__PEER_STR_MAX];
    ss__sockaddr_str((const struct sockaddr *)&srv->addr, srv->addrlen, text, sizeof text);
    snprintf(srv->bound_url, sizeof srv->bound_url, "%s%s", srv->tp->prefix, text);
}

int ss__socket_bind(ss_server *srv)
{
    int fd = srv->fd, rc;
    if (srv->bound)
        return -EALREADY;
    if (srv->cfg.allow_reuse_address && (rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
        return rc;
    if (srv->cfg.allow_reuse_port && (rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
        return rc;
    if (srv->addr.ss_family == AF_INET6 && (rc = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)) < 0)
        return rc;
    bool file = is_file(srv);
    /* The file takes the socket's mode less the umask at bind: set it first,
     * so the file is never wider than socket_mode; exact_mode() restores
     * what the umask took away. */
    if (srv->cfg.socket_mode && fchmod(fd, (mode_t)srv->cfg.socket_mode) < 0)
        return -errno;
    rc = bind(fd, (const struct sockaddr *)&srv->addr, srv->addrlen) < 0 ? -errno : 0;
    if (rc == -EADDRINUSE && file && unix_path_is_stale(srv)) {
        unlink(srv->url.path);
        rc = bind(fd, (const struct sockaddr *)&srv->addr, srv->addrlen) < 0 ? -errno : 0;
    }
    if (rc < 0)
        return rc;
    if (file) {
        struct stat st;
        if (stat(srv->url.path, &st) == 0) {
            srv->sock_dev = st.st_dev;
            srv->sock_ino = st.st_ino;
            srv->unlink_on_close = true;
        }
        if (srv->cfg.socket_mode && (rc = exact_mode(srv)) < 0)
            return rc;
    }
    srv->addrlen = sizeof srv->addr;
    if (getsockname(fd, (struct sockaddr *)&srv->addr, &srv->addrlen) < 0)
        return -errno;
    if (srv->url.family == AF_UNIX)
        snprintf(srv->bound_url, sizeof srv->bound_url, "%s%s", srv->tp->prefix, srv->url.path);
    else
        name_bound(srv);
    srv->bound = true;
    return 0;
}

/* The transport of a socket made elsewhere, from what it is. */
static const ss__transport *kind_of(const ss_server *srv, int domain, int type, int proto)
{
    bool inet = domain == AF_INET || domain == AF_INET6;
    if (inet && type == SOCK_STREAM && proto == IPPROTO_TCP)
        return srv->cfg.tls_cert ? &ss__tls : &ss__tcp;
    if (inet && type == SOCK_DGRAM && proto == IPPROTO_UDP)
        return &ss__udp;
    if (domain == AF_UNIX && type == SOCK_STREAM)
        return &ss__unix_stream;
    if (domain == AF_UNIX && type == SOCK_DGRAM)
        return &ss__unix_dgram;
    return NULL;
}

static int get_int_opt(int fd, int name, int *out)
{
    socklen_t len = sizeof *out;
    return getsockopt(fd, SOL_SOCKET, name, out, &len) < 0 ? -errno : 0;
}

int ss__socket_adopt(ss_server *srv, int fd)
{
    int domain, type, proto, listening = 0, rc;
    if (srv->cfg.socket_mode)
        return ss__fail(-EINVAL, "socket_mode: does not apply to a socket made elsewhere");
    if (fd < 0)
        return ss__fail(-EBADF, "fd %d: not a descriptor", fd);
    if ((rc = get_int_opt(fd, SO_DOMAIN, &domain)) < 0 || (rc = get_int_opt(fd, SO_TYPE, &type)) < 0 ||
        (rc = get_int_opt(fd, SO_PROTOCOL, &proto)) < 0)
        return ss__fail(rc, "fd %d: %s", fd, rc == -ENOTSOCK ? "not a socket" : ss_strerror(rc));
    const ss__transport *tp = kind_of(srv, domain, type, proto);
    if (!tp)
        return ss__fail(-EINVAL, "fd %d: not a TCP, UDP or Unix stream or datagram socket", fd);
    srv->addrlen = sizeof srv->addr;
    if (getsockname(fd, (struct sockaddr *)&srv->addr, &srv->addrlen) < 0)
        return -errno;
    bool unbound = domain == AF_UNIX ? srv->addrlen <= offsetof(struct sockaddr_un, sun_path)
                   : domain == AF_INET ? ((struct sockaddr_in *)&srv->addr)->sin_port == 0
                                       : ((struct sockaddr_in6 *)&srv->addr)->sin6_port == 0;
    if (unbound)
        return ss__fail(-EINVAL, "fd %d: the socket is not bound to an address", fd);
    if (type == SOCK_STREAM && (rc = get_int_opt(fd, SO_ACCEPTCONN, &listening)) < 0)
        return rc;
    int backlog = srv->cfg.request_queue_size > 0 ? srv->cfg.request_queue_size : SS__DEFAULT_BACKLOG;
    if (type == SOCK_STREAM && !listening && listen(fd, backlog) < 0)
        return -errno;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    srv->tp = tp;
    srv->url = (ss__url){.tp = tp, .socktype = type, .family = domain};
    srv->fd = fd;
    name_bound(srv);
    srv->bound = srv->activated = srv->adopted = true;
    return 0;
}

int ss__socket_listen(ss_server *srv)
{
    if (!srv->bound)
        return -EDESTADDRREQ;
    if (srv->url.socktype == SOCK_STREAM) {
        int backlog = srv->cfg.request_queue_size > 0 ? srv->cfg.request_queue_size : SS__DEFAULT_BACKLOG;
        if (listen(srv->fd, backlog) < 0)
            return -errno;
    }
    srv->activated = true;
    return 0;
}

/* Close the socket and remove the Unix socket file, if it is still ours. */
void ss__socket_close(ss_server *srv)
{
    if (srv->fd < 0)
        return;
    /* Unlink first: while our socket is open, nobody else can have bound the
     * path, so a file with our inode is ours. */
    struct stat st;
    if (srv->unlink_on_close && stat(srv->url.path, &st) == 0 &&
        st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino)
        unlink(srv->url.path);
    srv->unlink_on_close = false;
    close(srv->fd);
    srv->fd = -1;
}
