/* fork_echo.c: a minimal fork-per-connection echo server: the floor for the forking strategy's cost of a connection. */
#include "minimal.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
    int lfd = minimal_listen(argc, argv, "fork_echo");
    while (!minimal_stop) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        /* Reaped by waiting (not SIGCHLD ignored), so that the children's
         * CPU time is added to ours, as the benchmark measures it. */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (fd < 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            minimal_echo(fd);
            _exit(0);
        }
        close(fd);
    }
    while (wait(NULL) > 0)
        ;
    return 0;
}
