/* console.c: the chat's admin console on a terminal: 'quit' stops, 'stats' prints the counters, other lines list clients. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"
#include "listeners.h"
#include "logging.h"
#include "room.h"
#include "thread.h"

#define CONSOLE_LINE 1024

struct console {
    void (*quit)(void *arg); /* stops the servers */
    void *arg;
    struct room *room;
    const struct listeners *ls; /* their counters: `stats` */
    double drain;
    int wake;                /* eventfd: console_stop() wants the thread gone */
    pthread_t thread;
    char line[CONSOLE_LINE];
    size_t len;
    bool overlong;           /* the current line outgrew the buffer */
};

/* Strip surrounding blanks in place; returns the start. */
static char *trim(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static void run_command(struct console *con, char *line, bool overlong)
{
    const char *cmd = trim(line);

    if (!overlong && strcmp(cmd, "quit") == 0) {
        cli_log(LOG_NOTICE, "console", "console: stopping (requests get up to %g s to finish)",
                con->drain);
        con->quit(con->arg);
        return;
    }
    if (!overlong && *cmd == '\0')
        return;
    if (!overlong && strcmp(cmd, "stats") == 0) {
        ss_stats sum;
        listeners_stats(con->ls, &sum);
        counters_print_table(stdout, &sum);
        fflush(stdout);
        return;
    }
    char *list = room_list(con->room);
    if (list) {
        fputs(list, stdout);
        fflush(stdout);
        free(list);
    }
}

/* Split what was read into lines and run each complete one. */
static void take_input(struct console *con, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (con->len < CONSOLE_LINE - 1)
                con->line[con->len++] = buf[i];
            else
                con->overlong = true;
            continue;
        }
        con->line[con->len] = '\0';
        run_command(con, con->line, con->overlong);
        con->len = 0;
        con->overlong = false;
    }
}

bool console_wanted(void)
{
    if (!isatty(STDIN_FILENO))
        return false;
    pid_t fg = tcgetpgrp(STDIN_FILENO);
    /* Not our controlling terminal (ENOTTY): reading it never stops us. */
    return fg == getpgrp() || (fg < 0 && errno == ENOTTY);
}

/* The console ends with its input, never the server: at end of input, or
 * when the terminal cannot be read (EIO: we were put in the background,
 * where SIGTTIN is ignored, or the terminal hung up). */
static void *console_main(void *arg)
{
    struct console *con = arg;
    struct pollfd fds[2] = {
        { .fd = STDIN_FILENO, .events = POLLIN },
        { .fd = con->wake, .events = POLLIN },
    };
    char buf[512];

    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (fds[1].revents)
            return NULL;
        if (!fds[0].revents)
            continue;
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            cli_log(LOG_WARNING, "console", "console: closed: cannot read the terminal (%s); the "
                    "server runs on", strerror(errno));
        if (n <= 0)
            return NULL;                /* end of input: the server runs on */
        take_input(con, buf, (size_t)n);
    }
}

struct console *console_start(struct room *room, const struct listeners *ls,
                              void (*quit)(void *arg), void *arg, double drain)
{
    struct console *con = calloc(1, sizeof *con);
    int rc;

    if (!con) {
        cli_error("console: %s", strerror(ENOMEM));
        return NULL;
    }
    con->quit = quit;
    con->arg = arg;
    con->room = room;
    con->ls = ls;
    con->drain = drain;
    con->wake = eventfd(0, EFD_CLOEXEC);
    if (con->wake < 0) {
        cli_error("console: %s", strerror(errno));
        free(con);
        return NULL;
    }
    rc = helper_thread_start(&con->thread, console_main, con);
    if (rc < 0) {
        cli_error("console: %s", strerror(-rc));
        close(con->wake);
        free(con);
        return NULL;
    }
    log_printf(LOG_NOTICE, "console",
               "console: 'quit' stops the server, 'stats' prints the counters; any other line lists "
               "the clients");
    return con;
}

void console_stop(struct console *con)
{
    uint64_t one = 1;

    if (!con)
        return;
    while (write(con->wake, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(con->thread, NULL);
    close(con->wake);
    free(con);
}
