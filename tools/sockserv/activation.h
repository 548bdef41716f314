/* activation.h: systemd's socket activation taken at start: the library's count, and the variables' text wiped from the environment block too. */
#ifndef SOCKSERV_ACTIVATION_H
#define SOCKSERV_ACTIVATION_H

/* ss_socket_activation(NULL) (the sockets passed are fds 3 to 3 + N - 1;
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES removed from environ), and
 * then their text wiped where it lies: unsetenv() takes a variable out of
 * environ but leaves its bytes in the block the process started with,
 * which /proc/PID/environ shows and which every process forked later (a
 * worker, a request process) inherits. Returns N, 0 or -EINVAL (with
 * ss_last_error()). Call once, before any thread starts. */
int activation_take(void);

#endif
