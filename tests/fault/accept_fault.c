/* accept_fault.c: an LD_PRELOAD shim that makes chosen accept()/accept4() calls fail, for the fault tests.
 *
 * SS_FAULT_ACCEPT    the failures to inject, in order: NAME[*COUNT][,NAME[*COUNT]...]
 *                    with NAME an errno name (ECONNABORTED, EINTR, EPROTO, ENOBUFS,
 *                    EMFILE, ENFILE, ENOMEM, EPERM), e.g. "ECONNABORTED*3,EMFILE"
 * SS_FAULT_EVERY     inject on every N-th accept call only (default 1: every call),
 *                    until the list is used up; the other calls go to the real accept
 * SS_FAULT_LOG       a file: one line "NAME" is appended per injected failure
 *
 * A failing call does not touch the socket: the pending connection stays in the
 * backlog, as after a real transient error. Calls in forked children fail too. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FAULTS 4096

static const struct {
    const char *name;
    int err;
} known[] = {
    { "ECONNABORTED", ECONNABORTED }, { "EINTR", EINTR }, { "EPROTO", EPROTO },
    { "ENOBUFS", ENOBUFS }, { "EMFILE", EMFILE }, { "ENFILE", ENFILE },
    { "ENOMEM", ENOMEM }, { "EPERM", EPERM },
};

static int faults[MAX_FAULTS];   /* the errno of each failure to inject, in order */
static int nfaults;
static unsigned every = 1;
static int log_fd = -1;
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static atomic_uint calls;        /* accept calls seen */
static atomic_int used;          /* failures injected */

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "accept_fault: %s: '%s'\n", what, arg);
    _exit(127);
}

static int errno_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && strncmp(known[i].name, name, len) == 0)
            return known[i].err;
    return 0;
}

static const char *name_of(int err)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].err == err)
            return known[i].name;
    return "?";
}

/* Parse "NAME[*COUNT],..." into faults[]. */
static void parse_faults(const char *spec)
{
    const char *p = spec;

    while (*p) {
        size_t len = strcspn(p, "*,");
        int err = errno_of(p, len);
        long count = 1;
        if (!err)
            die("unknown errno name in SS_FAULT_ACCEPT", spec);
        p += len;
        if (*p == '*') {
            char *end;
            count = strtol(p + 1, &end, 10);
            if (end == p + 1 || count < 1)
                die("bad count in SS_FAULT_ACCEPT", spec);
            p = end;
        }
        if (nfaults + count > MAX_FAULTS)
            die("too many failures in SS_FAULT_ACCEPT", spec);
        while (count-- > 0)
            faults[nfaults++] = err;
        if (*p == ',')
            p++;
        else if (*p)
            die("bad separator in SS_FAULT_ACCEPT", spec);
    }
}

__attribute__((constructor)) static void accept_fault_init(void)
{
    const char *spec = getenv("SS_FAULT_ACCEPT");
    const char *ev = getenv("SS_FAULT_EVERY");
    const char *log = getenv("SS_FAULT_LOG");

    real_accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    if (!real_accept4 || !real_accept)
        die("dlsym failed", "accept4");
    if (spec)
        parse_faults(spec);
    if (ev) {
        char *end;
        long n = strtol(ev, &end, 10);
        if (*end || n < 1)
            die("bad SS_FAULT_EVERY", ev);
        every = (unsigned)n;
    }
    if (log) {
        log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0)
            die("cannot open SS_FAULT_LOG", log);
    }
}

/* The errno this call must fail with, or 0 to make the real call. */
static int next_fault(void)
{
    unsigned call = atomic_fetch_add(&calls, 1) + 1;
    if (call % every != 0 || atomic_load(&used) >= nfaults)
        return 0;
    int i = atomic_fetch_add(&used, 1);
    if (i >= nfaults)
        return 0;
    if (log_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%s\n", name_of(faults[i]));
        if (write(log_fd, line, (size_t)n) < 0) {
            /* the test will see the line missing */
        }
    }
    return faults[i];
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int err = next_fault();

    if (err) {
        errno = err;
        return -1;
    }
    return real_accept4(fd, addr, len, flags);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int err = next_fault();

    if (err) {
        errno = err;
        return -1;
    }
    return real_accept(fd, addr, len);
}
