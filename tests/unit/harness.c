/* harness.c: the test runner (one forked child per case, with a timeout) and the helpers of harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Registration ----------------------------------------------------- */

typedef struct h_case {
    const char *name;
    h_test_fn fn;
    unsigned timeout;
    int line;
} h_case;

enum { H_MAX_CASES = 512 };
static h_case h_cases[H_MAX_CASES];
static int h_ncases;

/* State of the running case (in the child). */
static const char *h_current = "?";
static int h_report_fd = -1;
static char h_dir[64];

void h_register(const char *name, h_test_fn fn, unsigned timeout, int line)
{
    if (h_ncases == H_MAX_CASES) {
        fprintf(stderr, "harness: too many cases\n");
        abort();
    }
    h_cases[h_ncases++] = (h_case){ name, fn, timeout, line };
}

static int h_case_cmp(const void *a, const void *b)
{
    const h_case *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* ---- Failing ---------------------------------------------------------- */

static void h_report(char kind, const char *msg)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%c%s\n", kind, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    if (h_report_fd >= 0) {
        ssize_t w = write(h_report_fd, buf, (size_t)n);
        (void)w;
    }
}

void h_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1800];
    int off = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    h_report('F', msg);
    dprintf(2, "[%s] pid %d: %s\n", h_current, (int)getpid(), msg);
    _exit(1);
}

void h_skip(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h_report('S', msg);
    exit(0);
}

void h_note(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(2, "[%s] %s\n", h_current, msg);
}

const char *h_int_text(long long v, char *buf, size_t size)
{
    const char *name = NULL;
    if (v < 0 && v > -4096)
        name = strerrorname_np((int)-v);
    if (name)
        snprintf(buf, size, "%lld (-%s)", v, name);
    else
        snprintf(buf, size, "%lld", v);
    return buf;
}

void h_check_mem(const char *file, int line, const char *ea, const char *eb,
                 const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            char hx[64] = "", hy[64] = "";
            size_t end = i + 8 < n ? i + 8 : n;
            for (size_t j = i, o = 0; j < end; j++, o += 3) {
                snprintf(hx + o, sizeof hx - o, "%02x ", x[j]);
                snprintf(hy + o, sizeof hy - o, "%02x ", y[j]);
            }
            h_fail(file, line, "CHECK_EQ_MEM(%s, %s, %zu): differ at offset %zu: %s vs %s",
                   ea, eb, n, i, hx, hy);
        }
    }
}

/* ---- Time ------------------------------------------------------------- */

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h_sleep(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- Files and paths -------------------------------------------------- */

enum { H_RING = 16, H_PATHLEN = 512 };
static char h_ring[H_RING][H_PATHLEN];
static atomic_uint h_ring_next;

static char *h_ring_buf(void)
{
    return h_ring[atomic_fetch_add(&h_ring_next, 1) % H_RING];
}

const char *h_tmpdir(void)
{
    return h_dir;
}

const char *h_path(const char *name)
{
    char *b = h_ring_buf();
    snprintf(b, H_PATHLEN, "%s/%s", h_dir, name);
    return b;
}

const char *h_url(const char *prefix, const char *name)
{
    char *b = h_ring_buf();
    snprintf(b, H_PATHLEN, "%s%s/%s", prefix, h_dir, name);
    return b;
}

void h_random_name(char *buf, size_t size, const char *prefix)
{
    unsigned char r[6];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
        unsigned long long t = (unsigned long long)(h_now() * 1e9) ^ (unsigned long long)getpid();
        memcpy(r, &t, sizeof r);
    }
    if (fd >= 0)
        close(fd);
    snprintf(buf, size, "%s%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4], r[5]);
}

void h_append_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        FAIL("open %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        FAIL("write %s: %s", path, strerror(errno));
    close(fd);
}

ssize_t h_read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

bool h_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- Server helpers --------------------------------------------------- */

ss_server *h_server_new(const ss_config *cfg)
{
    ss_server *srv = ss_server_new(cfg);
    if (!srv) {
        int e = errno;
        FAIL("ss_server_new(%s): NULL, errno %d (%s)", cfg->listen ? cfg->listen : "(null)",
             e, strerror(e));
    }
    return srv;
}

static void *h_serve_main(void *arg)
{
    h_serve *s = arg;
    s->rc = ss_serve_forever(s->srv, s->poll_interval);
    atomic_store(&s->done, 1);
    return NULL;
}

void h_serve_start(h_serve *s, ss_server *srv, double poll_interval)
{
    s->srv = srv;
    s->poll_interval = poll_interval;
    s->rc = 0;
    atomic_store(&s->done, 0);
    int e = pthread_create(&s->thread, NULL, h_serve_main, s);
    if (e)
        FAIL("pthread_create: %s", strerror(e));
    s->started = true;
}

int h_serve_join(h_serve *s, double timeout)
{
    if (!s->started)
        FAIL("h_serve_join: not started");
    if (!WAIT_FOR(atomic_load(&s->done), timeout))
        FAIL("ss_serve_forever did not return within %.1f s", timeout);
    pthread_join(s->thread, NULL);
    s->started = false;
    return s->rc;
}

int h_serve_stop(h_serve *s)
{
    ss_shutdown(s->srv);
    return h_serve_join(s, 10);
}

ss_stats h_stats(const ss_server *srv)
{
    ss_stats st;
    memset(&st, 0, sizeof st);
    ss_server_stats(srv, &st);
    return st;
}

bool h_addr_equal(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
    if (!a || !b || a->sa_family != b->sa_family)
        return false;
    switch (a->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    case AF_UNIX: {
        const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (alen <= off || blen <= off)
            return alen <= off && blen <= off;
        if (x->sun_path[0] == '\0' || y->sun_path[0] == '\0') /* abstract: exact bytes */
            return alen == blen && memcmp(x->sun_path, y->sun_path, alen - off) == 0;
        return strncmp(x->sun_path, y->sun_path, sizeof x->sun_path) == 0;
    }
    default:
        return alen == blen && memcmp(a, b, alen) == 0;
    }
}

void h_check_server_address(const ss_server *srv)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK_NOT_NULL(sa);
    CHECK_GT(len, 0);
    struct sockaddr_storage real;
    memset(&real, 0, sizeof real); /* clang-analyzer 14 does not see getsockname fill it */
    socklen_t rlen = sizeof real;
    CHECK_EQ_INT(getsockname(ss_server_fd(srv), (struct sockaddr *)&real, &rlen), 0);
    CHECK_MSG(h_addr_equal(sa, len, (struct sockaddr *)&real, rlen),
              "ss_server_address() (family %d, len %u) differs from getsockname() (family %d, len %u)",
              sa->sa_family, (unsigned)len, real.ss_family, (unsigned)rlen);
}

int h_server_socktype(const ss_server *srv)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(ss_server_fd(srv), SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        FAIL("getsockopt(SO_TYPE) on the server fd %d: %s", ss_server_fd(srv), strerror(errno));
    return type;
}

int h_server_port(const ss_server *srv)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    CHECK(sa != NULL);
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    FAIL("h_server_port: address family %d has no port", sa->sa_family);
}

/* The line buffer is on the heap: under SS_EVENT a handler runs on a
 * coroutine stack of cfg.stack_size (64 KiB by default), and a 64 KiB local
 * array would overflow it. */
enum { H_ECHO_LINE_MAX = 65536 };

static int h_echo_line(ss_request *req)
{
    char *line = malloc(H_ECHO_LINE_MAX);
    if (!line)
        return -ENOMEM;
    ssize_t n = ss_readline(req, line, H_ECHO_LINE_MAX);
    ssize_t w = n < 0 ? n : ss_write(req, line, (size_t)n);
    free(line);
    return w < 0 ? (int)w : 0;
}

static int h_echo_lines(ss_request *req)
{
    char *line = malloc(H_ECHO_LINE_MAX);
    if (!line)
        return -ENOMEM;
    ssize_t n;
    int rc = 0;
    while ((n = ss_readline(req, line, H_ECHO_LINE_MAX)) > 0) {
        ssize_t w = ss_write(req, line, (size_t)n);
        if (w < 0) {
            rc = (int)w;
            break;
        }
    }
    free(line);
    return rc < 0 ? rc : n < 0 ? (int)n : 0;
}

const ss_handler h_echo_line_handler = { .handle = h_echo_line };
const ss_handler h_echo_lines_handler = { .handle = h_echo_lines };

/* ---- Client helpers --------------------------------------------------- */

int h_connect_addr(const struct sockaddr *sa, socklen_t len, int type)
{
    int fd = socket(sa->sa_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        FAIL("socket: %s", strerror(errno));
    if (sa->sa_family == AF_UNIX && type == SOCK_DGRAM) {
        /* Autobind to an abstract name, so the server can reply. */
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        if (bind(fd, (struct sockaddr *)&un, sizeof(sa_family_t)) < 0)
            FAIL("autobind: %s", strerror(errno));
    }
    int r;
    do
        r = connect(fd, sa, len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        FAIL("connect: %s", strerror(errno));
    return fd;
}

int h_connect(const ss_server *srv)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(srv, &len);
    if (!sa || len == 0)
        FAIL("ss_server_address returned no address");
    return h_connect_addr(sa, len, h_server_socktype(srv));
}

int h_connect_ip(const char *ip, int port, int type)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
            FAIL("bad IPv6 address %s", ip);
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
            FAIL("bad IPv4 address %s", ip);
        len = sizeof *s4;
    }
    return h_connect_addr((struct sockaddr *)&ss, len, type);
}

void h_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            FAIL("send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

void h_send_str(int fd, const char *s)
{
    h_send_all(fd, s, strlen(s));
}

static int h_wait_readable(int fd, double timeout)
{
    double deadline = h_now() + timeout;
    for (;;) {
        double left = deadline - h_now();
        if (left < 0)
            left = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (h_now() >= deadline)
            return -ETIMEDOUT;
    }
}

ssize_t h_recv_timeout(int fd, void *buf, size_t n, double timeout)
{
    for (;;) {
        int w = h_wait_readable(fd, timeout);
        if (w < 0)
            return w;
        ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return -errno;
    }
}

ssize_t h_recv_exact(int fd, void *buf, size_t n, double timeout)
{
    double deadline = h_now() + timeout;
    size_t got = 0;
    while (got < n) {
        double left = deadline - h_now();
        ssize_t r = h_recv_timeout(fd, (char *)buf + got, n - got, left > 0 ? left : 0);
        if (r == 0)
            break;
        if (r < 0)
            return got ? (ssize_t)got : r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t h_recv_line(int fd, char *buf, size_t size, double timeout)
{
    double deadline = h_now() + timeout;
    size_t got = 0;
    while (got + 1 < size) {
        double left = deadline - h_now();
        /* Peek so that nothing after the '\n' is consumed. */
        int w = h_wait_readable(fd, left > 0 ? left : 0);
        if (w < 0) {
            buf[got] = '\0';
            return got ? (ssize_t)got : w;
        }
        char tmp[4096];
        size_t want = size - 1 - got < sizeof tmp ? size - 1 - got : sizeof tmp;
        ssize_t r = recv(fd, tmp, want, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            buf[got] = '\0';
            return got ? (ssize_t)got : -errno;
        }
        if (r == 0)
            break;
        char *nl = memchr(tmp, '\n', (size_t)r);
        size_t take = nl ? (size_t)(nl - tmp) + 1 : (size_t)r;
        ssize_t c = recv(fd, buf + got, take, MSG_DONTWAIT);
        if (c <= 0)
            FAIL("recv after peek: %zd", c);
        got += (size_t)c;
        if (nl)
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

bool h_wait_eof(int fd, double timeout)
{
    double deadline = h_now() + timeout;
    char buf[65536];
    for (;;) {
        double left = deadline - h_now();
        ssize_t r = h_recv_timeout(fd, buf, sizeof buf, left > 0 ? left : 0);
        if (r == 0 || r == -ECONNRESET)
            return true;
        if (r < 0)
            return false;
    }
}

void h_exchange(const ss_server *srv, const char *line)
{
    int fd = h_connect(srv);
    h_send_str(fd, line);
    char buf[4096];
    ssize_t n = h_recv_line(fd, buf, sizeof buf, 10);
    if (n < 0)
        FAIL("h_exchange: no answer: %s", strerror((int)-n));
    CHECK_EQ_STR(buf, line);
    close(fd);
}

void h_connect_clients(const ss_server *srv, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = h_connect(srv);
        char line[32];
        snprintf(line, sizeof line, "client %d\n", i);
        h_send_str(fds[i], line);
    }
}

#define BIG_STACK (200 * 1024)

unsigned h_use_big_stack(void)
{
    char big[BIG_STACK];
    memset(big, 0, sizeof big);
    for (size_t i = 0; i < sizeof big; i += 4096)
        big[i] = (char)(i / 4096);
    __asm__ volatile("" : : "r"(big) : "memory");
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof big; i += 4096)
        sum += (unsigned char)big[i];
    return sum;
}

unsigned h_big_stack_sum(void)
{
    unsigned sum = 0;
    for (unsigned i = 0; i < BIG_STACK / 4096; i++)
        sum += i;
    return sum;
}

/* ---- Process helpers -------------------------------------------------- */

int h_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        FAIL("opendir /proc/self/fd: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

bool h_fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

bool h_is_cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f >= 0 && (f & FD_CLOEXEC);
}

/* Reads /proc/<pid>/stat: the state letter and the parent pid. */
static bool h_proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (h_read_file(path, buf, sizeof buf) <= 0)
        return false;
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    /* ") S 1234 ...": the state letter, then the parent pid. */
    if (p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return false;
    char *end;
    long pp = strtol(p + 4, &end, 10);
    if (end == p + 4)
        return false;
    *state = p[2];
    *ppid = (pid_t)pp;
    return true;
}

int h_children(pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        FAIL("opendir /proc: %s", strerror(errno));
    pid_t me = getpid();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char st;
        pid_t pp;
        if (h_proc_stat((pid_t)pid, &st, &pp) && pp == me) {
            if (out && n < max)
                out[n] = (pid_t)pid;
            n++;
        }
    }
    closedir(d);
    return n;
}

char h_proc_state(pid_t pid)
{
    char st;
    pid_t pp;
    if (!h_proc_stat(pid, &st, &pp))
        return '\0';
    return st;
}

bool h_no_children_left(void)
{
    int status;
    pid_t r = waitpid(-1, &status, WNOHANG);
    return r == -1 && errno == ECHILD;
}

long h_vmrss_kb(void)
{
    char buf[8192];
    if (h_read_file("/proc/self/status", buf, sizeof buf) <= 0)
        return -1;
    char *p = strstr(buf, "VmRSS:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

int h_thread_count(void)
{
    char buf[8192];
    if (h_read_file("/proc/self/status", buf, sizeof buf) <= 0)
        return -1;
    char *p = strstr(buf, "Threads:");
    return p ? (int)strtol(p + 8, NULL, 10) : -1;
}

void *h_shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FAIL("mmap: %s", strerror(errno));
    return p;
}

void h_shared_free(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}

bool h_have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

bool h_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

/* ---- Strategies -------------------------------------------------------- */

const char *h_strategy_name(ss_strategy s)
{
    const char *name = ss_strategy_name(s);
    return name ? name : "?";
}

static void *h_noop_thread(void *arg)
{
    return arg;
}

int h_thread_baseline(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, h_noop_thread, NULL) == 0)
        pthread_join(t, NULL);
    /* A sanitizer's background thread may take a moment to show up. */
    h_sleep(0.02);
    return h_thread_count();
}

int h_task_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        FAIL("opendir /proc/self/task: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- The runner ------------------------------------------------------- */

static int h_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static double h_timeout_mult(void)
{
    const char *m = getenv("SS_TEST_TIMEOUT_MULT");
    double v = m ? strtod(m, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

/* Reap orphans reparented to us (we are a subreaper). */
static void h_reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* How a case ended. */
typedef enum h_outcome { H_PASSED, H_SKIPPED, H_FAILED } h_outcome;

/* Runs one case in a child of its own and prints its line; a skip's reason goes to skip_why. */
static h_outcome h_run_case(const h_case *c, char *skip_why, size_t skip_size)
{
    snprintf(h_dir, sizeof h_dir, "/tmp/sstest.XXXXXX");
    if (!mkdtemp(h_dir)) {
        printf("FAIL %s: mkdtemp: %s\n", c->name, strerror(errno));
        return H_FAILED;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        printf("FAIL %s: pipe: %s\n", c->name, strerror(errno));
        return H_FAILED;
    }
    unsigned timeout = (unsigned)(c->timeout * h_timeout_mult() + 0.5);
    fflush(stdout);
    fflush(stderr);
    double t0 = h_now();
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL %s: fork: %s\n", c->name, strerror(errno));
        return H_FAILED;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(p[0]);
        /* The report fd is inherited by the library's children on purpose. */
        h_report_fd = fcntl(p[1], F_DUPFD, 100);
        close(p[1]);
        h_current = c->name;
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        alarm(timeout);
        c->fn();
        exit(0);
    }
    setpgid(pid, pid);
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);

    char msgs[4096];
    size_t mlen = 0;
    int status = 0;
    bool killed = false;
    double hard = t0 + timeout + 5;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        ssize_t n = read(p[0], msgs + mlen, sizeof msgs - 1 - mlen);
        if (n > 0)
            mlen += (size_t)n;
        if (r == pid)
            break;
        if (!killed && h_now() > hard) {
            kill(-pid, SIGKILL);
            killed = true;
        }
        h_sleep(0.002);
    }
    double elapsed = h_now() - t0;

    /* Anything left in the case's process group? Give it a moment, then kill it. */
    bool leftovers = false;
    double grace = h_now() + 2;
    while (kill(-pid, 0) == 0) {
        h_reap_orphans();
        if (h_now() > grace) {
            leftovers = true;
            kill(-pid, SIGKILL);
            h_sleep(0.05);
            h_reap_orphans();
            break;
        }
        h_sleep(0.01);
    }
    h_reap_orphans();
    for (;;) {
        ssize_t n = read(p[0], msgs + mlen, sizeof msgs - 1 - mlen);
        if (n <= 0)
            break;
        mlen += (size_t)n;
    }
    close(p[0]);
    msgs[mlen] = '\0';
    nftw(h_dir, h_rm, 16, FTW_DEPTH | FTW_PHYS);

    /* The first failure message, if any; a skip otherwise. */
    const char *fail = NULL, *skip = NULL;
    for (char *line = msgs; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[0] == 'F' && !fail)
            fail = line + 1;
        if (line[0] == 'S' && !skip)
            skip = line + 1;
        line = nl ? nl + 1 : NULL;
    }
    char why[2300];
    why[0] = '\0';
    if (fail)
        snprintf(why, sizeof why, "%s", fail);
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(why, sizeof why, "timed out after %u s", timeout);
    else if (killed)
        snprintf(why, sizeof why, "hung past its %u s timeout (killed)", timeout);
    else if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
    else if (leftovers)
        snprintf(why, sizeof why, "left processes behind (killed them)");

    if (why[0]) {
        printf("FAIL %s: %s\n", c->name, why);
        fflush(stdout);
        return H_FAILED;
    }
    if (skip) {
        printf("skip %s (%.2fs): %s\n", c->name, elapsed, skip);
        snprintf(skip_why, skip_size, "%s", skip);
    } else {
        printf("ok %s (%.2fs)\n", c->name, elapsed);
    }
    fflush(stdout);
    return skip ? H_SKIPPED : H_PASSED;
}

int main(int argc, char **argv)
{
    qsort(h_cases, (size_t)h_ncases, sizeof h_cases[0], h_case_cmp);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < h_ncases; i++)
            printf("%s\n", h_cases[i].name);
        return 0;
    }
    for (int a = 1; a < argc; a++) {
        bool found = false;
        for (int i = 0; i < h_ncases; i++)
            found |= strcmp(argv[a], h_cases[i].name) == 0;
        if (!found) {
            fprintf(stderr, "%s: no case named %s (try --list)\n", argv[0], argv[a]);
            return 2;
        }
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, skipped = 0, failed = 0;
    /* The first skipped case and its reason, for the line that says the whole program was skipped. */
    const char *first_skipped = NULL;
    char first_why[1100] = "";
    for (int i = 0; i < h_ncases; i++) {
        bool wanted = argc == 1;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], h_cases[i].name) == 0;
        if (!wanted)
            continue;
        char why[1100] = "";
        switch (h_run_case(&h_cases[i], why, sizeof why)) {
        case H_PASSED: passed++; break;
        case H_FAILED: failed++; break;
        case H_SKIPPED:
            if (skipped++ == 0) {
                first_skipped = h_cases[i].name;
                memcpy(first_why, why, sizeof first_why);
            }
            break;
        }
    }
    printf("%d passed, %d skipped, %d failed\n", passed, skipped, failed);
    if (failed > 0 || skipped + passed == 0)
        return 1;
    if (passed == 0) {
        /* The line tests/ctest_summary.py shows as the reason of a skipped test. */
        if (skipped == 1)
            printf("SKIPPED: %s: %s\n", first_skipped, first_why);
        else
            printf("SKIPPED: all %d cases; the first, %s: %s\n", skipped, first_skipped, first_why);
        return H_EXIT_SKIPPED;
    }
    return 0;
}
