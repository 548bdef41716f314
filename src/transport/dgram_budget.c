/* dgram_budget.c: Unix datagram replies: how much each client may have unread, so one that never reads cannot take the send buffer from the others. */
#include "core/internal.h"

#include <linux/netlink.h>
#include <linux/sockios.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * A Unix datagram stays charged to the socket that sent it until the
 * receiver reads it, and a client that connect()ed to the server is exempt
 * from the kernel's per-receiver queue limit (net.unix.max_dgram_qlen). So
 * a client that sends requests and never reads the replies fills the
 * server's send buffer, after which no reply to anyone goes out. The
 * kernel says nothing per receiver but whether its queue is empty (a
 * sock_diag dump), and how much the server has unread in all (SIOCOUTQ).
 * So each client gets an estimate: what was sent to it since it was last
 * known to have read everything, capped by the server's total unread. A
 * client whose estimate would pass `cap` (an eighth of the send buffer)
 * gets a reply only once a dump shows its queue empty; a dump runs at most
 * every SCAN_EVERY_NS, and not for a client it found busy in the last
 * BUSY_NS. Each estimate counts a datagram at 2 x its size + 768 bytes,
 * at or above what the kernel charges for it (measured on Linux 6).
 *
 * The table is in a MAP_SHARED page behind a robust process-shared mutex:
 * forked children reply too, and one killed while holding it does not
 * leave it locked.
 */

#define SLOTS 256               /* clients tracked; a full table evicts the least loaded */
#define PROBES 8                /* slots a name may take, from its hash on */
#define SCAN_EVERY_NS 5000000   /* 5 ms between dumps */
#define BUSY_NS 50000000        /* a client found with unread replies: no dump for it for 50 ms */
#define SNDBUF_WANTED (4 << 20) /* asked for; the kernel caps it at net.core.wmem_max x 2 */

typedef struct entry {
    uint32_t pending;           /* bytes possibly unread; 0 with len 0: a free slot */
    uint32_t seen;              /* the dump that last found its socket */
    int64_t busy_until;         /* found with unread replies: no dump for it before */
    uint16_t len;               /* name length in bytes (an abstract one starts with NUL) */
    char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
} entry;

struct ss__dgram_budget {
    pthread_mutex_t lock;       /* robust, process-shared: guards the entries */
    _Atomic int64_t next_scan;  /* no dump before (ns) */
    atomic_bool scanning;
    atomic_int diag;            /* 0 not tried, 1 works, -1 unavailable: no cap */
    uint32_t cap;
    uint32_t scans;             /* dumps so far (entries' seen) */
    entry e[SLOTS];
};

int ss__budget_new(ss_server *srv, ss__dgram_budget **out)
{
    ss__dgram_budget *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return -errno;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&b->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    /* A bigger buffer holds more replies in flight for everyone. */
    int want = SNDBUF_WANTED, got = 0;
    socklen_t len = sizeof got;
    setsockopt(srv->fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    if (getsockopt(srv->fd, SOL_SOCKET, SO_SNDBUF, &got, &len) < 0 || got <= 0)
        got = 212992;
    b->cap = (uint32_t)got / 8;
    *out = b;
    return 0;
}

void ss__budget_free(ss__dgram_budget *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    munmap(b, sizeof *b);
}

static void lock(ss__dgram_budget *b)
{
    if (pthread_mutex_lock(&b->lock) == EOWNERDEAD) /* a child died holding it: entries are whole */
        pthread_mutex_consistent(&b->lock);
}

/* A client's name as the table keys it: a path without trailing NULs, an
 * abstract name (leading NUL) as long as it is. */
static size_t key_len(const char *name, size_t n)
{
    if (n > 0 && name[0] != '\0')
        n = strnlen(name, n);
    return n;
}

static uint32_t hash(const char *name, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    return h;
}

/* The client's entry, or NULL; with `add`, a new one (a free slot, or the
 * least loaded of its probe window). Under the lock. */
static entry *find(ss__dgram_budget *b, const char *name, size_t n, bool add)
{
    uint32_t h = hash(name, n);
    entry *spare = NULL;
    for (unsigned i = 0; i < PROBES; i++) {
        entry *e = &b->e[(h + i) % SLOTS];
        if (e->len == n && n > 0 && memcmp(e->name, name, n) == 0)
            return e;
        if (!spare || (spare->len != 0 && (e->len == 0 || e->pending < spare->pending)))
            spare = e;
    }
    if (!add)
        return NULL;
    memset(spare, 0, sizeof *spare);
    memcpy(spare->name, name, n);
    spare->len = (uint16_t)n;
    return spare;
}

/* One socket of a dump: its name and whether it has unread datagrams
 * (the kernel gives the first one's length, or 0). False when it is not a
 * named datagram socket. */
static bool parse_socket(const struct nlmsghdr *h, const char **name, size_t *namelen, bool *unread)
{
    const struct unix_diag_msg *m = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m) || m->udiag_type != SOCK_DGRAM)
        return false;
    const char *p = (const char *)m + NLMSG_ALIGN(sizeof *m);
    size_t left = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof *m));
    *name = NULL;
    *unread = false;
    while (left >= NLA_HDRLEN) {
        struct nlattr a;
        memcpy(&a, p, sizeof a);
        if (a.nla_len < NLA_HDRLEN || a.nla_len > left)
            break;
        size_t alen = a.nla_len - NLA_HDRLEN;
        if (a.nla_type == UNIX_DIAG_NAME) {
            *name = p + NLA_HDRLEN;
            *namelen = alen;
        } else if (a.nla_type == UNIX_DIAG_RQLEN && alen >= sizeof(struct unix_diag_rqlen)) {
            struct unix_diag_rqlen q;
            memcpy(&q, p + NLA_HDRLEN, sizeof q);
            *unread = q.udiag_rqueue != 0;
        }
        size_t step = NLA_ALIGN(a.nla_len);
        if (step >= left)
            break;
        p += step;
        left -= step;
    }
    return *name != NULL;
}

/* Ask the kernel which Unix sockets have unread datagrams: a client found
 * with an empty queue has read everything sent to it (its estimate goes to
 * 0); one found busy is not asked about again for BUSY_NS; one not found
 * has closed (the kernel freed its queue). Returns 0, or -errno when the
 * dump is unavailable here. */
static int scan(ss__dgram_budget *b)
{
    enum { BUFSIZE = 32768 };
    char *buf = malloc(BUFSIZE);
    int nl = buf ? socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG) : -1;
    if (nl < 0) {
        int err = buf ? -errno : -ENOMEM;
        free(buf);
        return err;
    }
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } ask = {
        .nlh = {.nlmsg_len = sizeof ask, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .req = {.sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN},
    };
    int rc = send(nl, &ask, sizeof ask, 0) < 0 ? -errno : 0;
    int64_t now = ss__now();
    lock(b);
    uint32_t gen = ++b->scans;
    pthread_mutex_unlock(&b->lock);
    bool done = rc < 0;
    while (!done) {
        ssize_t got = recv(nl, buf, BUFSIZE, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -errno : -EIO;
            break;
        }
        lock(b);
        for (size_t at = 0; !done && (size_t)got - at >= sizeof(struct nlmsghdr);) {
            struct nlmsghdr *h = (struct nlmsghdr *)(void *)(buf + at);
            if (h->nlmsg_len < sizeof *h || h->nlmsg_len > (size_t)got - at)
                break;
            at += NLMSG_ALIGN(h->nlmsg_len);
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                    rc = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
                done = true;
                break;
            }
            const char *name;
            size_t namelen = 0;
            bool unread;
            entry *e = parse_socket(h, &name, &namelen, &unread) ? find(b, name, key_len(name, namelen), false) : NULL;
            if (!e)
                continue;
            e->seen = gen;
            e->busy_until = unread ? now + BUSY_NS : 0;
            if (!unread)
                e->pending = 0;
        }
        pthread_mutex_unlock(&b->lock);
    }
    close(nl);
    free(buf);
    if (rc == 0) { /* a client not found has closed: forget it */
        lock(b);
        for (int i = 0; i < SLOTS; i++)
            if (b->e[i].len && b->e[i].seen != gen)
                memset(&b->e[i], 0, sizeof b->e[i]);
        pthread_mutex_unlock(&b->lock);
    }
    return rc;
}

static uint32_t cost(size_t bytes)
{
    return bytes > UINT32_MAX / 4 ? UINT32_MAX / 2 : (uint32_t)(2 * bytes + 768);
}

/* Under the lock: may e get c more bytes? An estimate above what the
 * server has unread in all is lowered to that first. */
static bool fits(ss__dgram_budget *b, entry *e, uint32_t c, int fd)
{
    if (e->pending == 0 || (uint64_t)e->pending + c <= b->cap)
        return true;
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) == 0 && outq >= 0 && (uint32_t)outq < e->pending)
        e->pending = (uint32_t)outq;
    return e->pending == 0 || (uint64_t)e->pending + c <= b->cap;
}

bool ss__budget_take(ss__dgram_budget *b, int fd, const struct sockaddr_storage *peer, socklen_t len, size_t bytes)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)peer;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (!b || len <= off)
        return true;
    size_t n = key_len(un->sun_path, (size_t)len - off);
    uint32_t c = cost(bytes);
    lock(b);
    entry *e = find(b, un->sun_path, n, true);
    bool ok = fits(b, e, c, fd);
    bool busy = e->busy_until > ss__now();
    if (ok)
        e->pending += c;
    pthread_mutex_unlock(&b->lock);
    if (ok)
        return true;
    if (atomic_load(&b->diag) < 0) /* no dump here: no cap, the send buffer is the bound */
        return true;
    if (busy) /* found with unread replies a moment ago */
        return false;
    /* Over its share: ask the kernel whether it has read its replies. */
    int64_t now = ss__now(), next = atomic_load(&b->next_scan);
    if (now < next || !atomic_compare_exchange_strong(&b->next_scan, &next, now + SCAN_EVERY_NS) ||
        atomic_exchange(&b->scanning, true))
        return false;
    int rc = scan(b);
    atomic_store(&b->scanning, false);
    atomic_store(&b->diag, rc < 0 ? -1 : 1);
    if (rc < 0)
        return true;
    lock(b);
    e = find(b, un->sun_path, n, true);
    ok = fits(b, e, c, fd);
    if (ok)
        e->pending += c;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void ss__budget_refund(ss__dgram_budget *b, const struct sockaddr_storage *peer, socklen_t len, size_t bytes)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)peer;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (!b || len <= off)
        return;
    uint32_t c = cost(bytes);
    lock(b);
    entry *e = find(b, un->sun_path, key_len(un->sun_path, (size_t)len - off), false);
    if (e)
        e->pending = e->pending > c ? e->pending - c : 0;
    pthread_mutex_unlock(&b->lock);
}
