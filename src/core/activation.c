/* activation.c: systemd socket activation: the listening sockets a service manager passed (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES). */
#include "core/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIRST_FD 3           /* SD_LISTEN_FDS_START */
#define MAX_FDS 4096         /* more is a malformed variable, not a service */

/* A decimal number 1 to max, nothing else. */
static bool decimal(const char *s, long max, long *out)
{
    long v = 0;
    if (!s || !*s || *s == '0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

/* N names in one allocation: the pointers, then the strings. */
static int split_names(const char *text, long n, char ***out)
{
    size_t len = text ? strlen(text) : 0;
    size_t size;
    if (__builtin_mul_overflow((size_t)n, sizeof(char *) + sizeof "unknown", &size) ||
        __builtin_add_overflow(size, len + 1, &size))
        return -ENOMEM;
    char **v = malloc(size);
    if (!v)
        return -ENOMEM;
    char *s = (char *)(v + n);
    long i = 0;
    if (text) {
        memcpy(s, text, len + 1);
        for (char *p = s;; i++) {
            char *colon = strchr(p, ':');
            if (i < n)
                v[i] = p;
            if (!colon)
                break;
            *colon = '\0';
            p = colon + 1;
        }
        if (i + 1 != n) {
            free(v);
            return ss__fail(-EINVAL, "LISTEN_FDNAMES: %ld names for LISTEN_FDS=%ld", i + 1, n);
        }
    } else {
        for (; i < n; i++)
            v[i] = memcpy(s + (size_t)i * sizeof "unknown", "unknown", sizeof "unknown");
    }
    *out = v;
    return 0;
}

int ss_socket_activation(char ***names)
{
    ss__clear_error();
    const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
    const char *names_text = getenv("LISTEN_FDNAMES");
    long pid, n = 0;
    int rc = 0;
    if (!pid_text && !fds_text)
        return 0;
    if (!decimal(pid_text, INT32_MAX, &pid))
        rc = ss__fail(-EINVAL, "LISTEN_PID: not a process id");
    else if (pid != (long)getpid())
        rc = 0; /* for another process (a parent's, passed on by mistake) */
    else if (!decimal(fds_text, MAX_FDS, &n))
        rc = ss__fail(-EINVAL, "LISTEN_FDS: not a count of descriptors from 1 to %d", MAX_FDS);
    else
        rc = (int)n;
    for (long i = 0; rc > 0 && i < n; i++) {
        int fd = (int)(FIRST_FD + i);
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
            rc = ss__fail(-EINVAL, "LISTEN_FDS=%ld: descriptor %d is not open", n, fd);
    }
    char **v = NULL;
    if (rc > 0 && names) {
        int nrc = split_names(names_text, n, &v);
        if (nrc < 0)
            rc = nrc;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (rc > 0 && names)
        *names = v;
    return rc;
}
