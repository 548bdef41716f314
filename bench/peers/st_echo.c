/* st_echo.c: the State Threads peer: a blocking-style echo, one green thread per connection, on epoll. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <st.h>

/*
 * State Threads is the closest thing to what our event strategy does: each
 * connection's handler is written as a plain read/write loop and runs as a
 * coroutine scheduled by an event loop: epoll where the library has it,
 * else poll (the ready line names which). Each thread gets ST's default
 * stack size.
 */
#define BUF_SIZE (16 * 1024)   /* on the thread's stack (ST's default: 64 KiB) */

static void *serve(void *arg)
{
    st_netfd_t c = arg;
    char buf[BUF_SIZE]; /* per thread: st_write may yield halfway */
    for (;;) {
        ssize_t n = st_read(c, buf, sizeof buf, ST_UTIME_NO_TIMEOUT);
        if (n <= 0)
            break;
        if (st_write(c, buf, (size_t)n, ST_UTIME_NO_TIMEOUT) != n)
            break;
    }
    st_netfd_close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    /* Where ST was built without epoll (Debian's libst has select and poll
     * only), asking for ALT changes nothing: then take poll, since select
     * stops at FD_SETSIZE (1024) descriptors. The second call fails with
     * EBUSY when the first took effect. */
    st_set_eventsys(ST_EVENTSYS_ALT);
    st_set_eventsys(ST_EVENTSYS_POLL);
    if (st_init() < 0) {
        perror("st_echo: st_init");
        return 1;
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
        perror("st_echo: listen");
        return 1;
    }
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);
    st_netfd_t listener = st_netfd_open_socket(lfd);
    if (!listener) {
        perror("st_echo: st_netfd_open_socket");
        return 1;
    }
    printf("listening on tcp://127.0.0.1:%d (%s)\n", ntohs(sin.sin_port), st_get_eventsys_name());
    fflush(stdout);

    /* SIGTERM's default action ends the process: nothing to clean up. */
    for (;;) {
        st_netfd_t c = st_accept(listener, NULL, NULL, ST_UTIME_NO_TIMEOUT);
        if (!c) {
            if (errno == EMFILE || errno == ENFILE)
                st_usleep(10000);
            continue;
        }
        if (!st_thread_create(serve, c, 0, 0))
            st_netfd_close(c);
    }
}
