/* thread_echo.c: a minimal thread-per-connection echo server (detached threads, 64 KiB stacks, blocking sockets): the floor for the threading strategy's cost of a connection. */
#include "minimal.h"

#include <pthread.h>
#include <stdint.h>

static void *serve(void *arg)
{
    minimal_echo((int)(intptr_t)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    int lfd = minimal_listen(argc, argv, "thread_echo");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)64 * 1024);
    while (!minimal_stop) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* EINTR (a stop), or a client that went away */
        pthread_t t;
        if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) /* NOLINT(performance-no-int-to-ptr): the fd as the thread's argument */
            close(fd);
    }
    return 0;
}
