/* user.h: --user: the user and group to serve as, resolved at start; the switch once the listeners are bound, checked. */
#ifndef SOCKSERV_USER_H
#define SOCKSERV_USER_H

#include "cli.h"

/* Look up u->spec, "NAME[:GROUP]" (names, or numeric ids the system
 * knows), into u's name, uid and gid (GROUP, or NAME's primary group).
 * Returns -1, or the usage exit status with the problem reported. */
int user_resolve(struct cli_user *u);
/* Give the Unix socket file at path to u's user and group (before the
 * switch, so that the server can still remove it at exit). Returns -1, or
 * the exit status with the problem reported. */
int user_give_file(const struct cli_user *u, const char *path);
/* Become u: no supplementary group, then u's group, then u's user, every
 * id (real, effective, saved) changed; then check that it holds (and, for
 * a user other than root, that root cannot be taken back). Returns -1, or
 * EXIT_NOLISTEN with one line saying why. */
int user_switch(const struct cli_user *u);

#endif
