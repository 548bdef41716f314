/* activation.c: systemd's socket activation taken at start: the library's count, and the variables' text wiped from the environment block too. */
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "sockserv.h"

static const char *const names[] = { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" };
#define NNAMES (sizeof names / sizeof names[0])

int activation_take(void)
{
    char *text[NNAMES];

    /* "NAME=value": getenv() points at the value, in the entry itself. */
    for (size_t i = 0; i < NNAMES; i++) {
        char *value = getenv(names[i]);
        text[i] = value ? value - strlen(names[i]) - 1 : NULL;
    }
    int n = ss_socket_activation(NULL);
    for (size_t i = 0; i < NNAMES; i++)
        if (text[i] && !getenv(names[i])) /* removed: the bytes are nobody's now */
            memset(text[i], 0, strlen(text[i]));
    return n;
}
