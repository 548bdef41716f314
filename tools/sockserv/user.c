/* user.c: --user: resolving NAME[:GROUP], giving a Unix socket file to them, and switching to them for good (supplementary groups cleared), checked afterwards. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "user.h"

/* A decimal id, nothing else, below (id_t)-1 (which means "no change"). */
static bool numeric_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v >= (unsigned long)(id_t)-1)
        return false;
    *out = v;
    return true;
}

/* The reentrant lookups' buffer: what the system suggests, and more while
 * it says ERANGE (a group of many members). */
#define LOOKUP_MIN 1024
#define LOOKUP_MAX (1 << 20)

/* Calls look(name, buf, size, out) with a bigger buffer while it says
 * ERANGE. look returns 0 (found, *out filled), -1 (no such entry) or the
 * lookup's error. Returns 0 or -1 (not found, an error, no memory). */
static int with_buffer(int (*look)(const char *, char *, size_t, void *), const char *name, void *out)
{
    int rc = ERANGE;

    for (size_t size = LOOKUP_MIN; rc == ERANGE && size <= LOOKUP_MAX; size *= 2) {
        char *buf = malloc(size);
        if (!buf)
            return -1;
        rc = look(name, buf, size, out);
        free(buf);
    }
    return rc == 0 ? 0 : -1;
}

/* NAME (or a numeric id the system knows) into the struct cli_user *out's
 * name, uid and gid. */
static int look_user(const char *name, char *buf, size_t size, void *out)
{
    struct cli_user *u = out;
    struct passwd pw, *found = NULL;
    unsigned long id;
    int rc = getpwnam_r(name, &pw, buf, size, &found);

    if (rc == 0 && !found && numeric_id(name, &id))
        rc = getpwuid_r((uid_t)id, &pw, buf, size, &found);
    if (rc != 0 || !found)
        return rc != 0 ? rc : -1;
    snprintf(u->name, sizeof u->name, "%s", pw.pw_name);
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    return 0;
}

/* NAME (or a numeric id the system knows) into the gid_t *out. */
static int look_group(const char *name, char *buf, size_t size, void *out)
{
    struct group gr, *found = NULL;
    unsigned long id;
    int rc = getgrnam_r(name, &gr, buf, size, &found);

    if (rc == 0 && !found && numeric_id(name, &id))
        rc = getgrgid_r((gid_t)id, &gr, buf, size, &found);
    if (rc != 0 || !found)
        return rc != 0 ? rc : -1;
    *(gid_t *)out = gr.gr_gid;
    return 0;
}

int user_resolve(struct cli_user *u)
{
    char name[sizeof u->name];
    const char *colon = strchr(u->spec, ':');
    size_t len = colon ? (size_t)(colon - u->spec) : strlen(u->spec);

    if (len == 0 || (colon && colon[1] == '\0'))
        return cli_usage_error("invalid --user '%s': expected NAME or NAME:GROUP", u->spec);
    if (len >= sizeof name)
        return cli_usage_error("invalid --user '%s': no such user", u->spec);
    memcpy(name, u->spec, len);
    name[len] = '\0';
    if (with_buffer(look_user, name, u) < 0)
        return cli_usage_error("invalid --user '%s': no such user '%s'", u->spec, name);
    if (colon && with_buffer(look_group, colon + 1, &u->gid) < 0)
        return cli_usage_error("invalid --user '%s': no such group '%s'", u->spec, colon + 1);
    return -1;
}

int user_give_file(const struct cli_user *u, const char *path)
{
    if (chown(path, u->uid, u->gid) < 0) {
        cli_error("cannot give the socket file '%s' to user %s: %s", path, u->name,
                  strerror(errno));
        return EXIT_NOLISTEN;
    }
    return -1;
}

/* Whether every id is u's and no supplementary group is left (one that
 * is u's group itself would be harmless, but none is expected). */
static bool switched(const struct cli_user *u)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return false;
    if (ru != u->uid || eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid ||
        sg != u->gid || getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid ||
        getegid() != u->gid)
        return false;
    if (getgroups(0, NULL) != 0)
        return false;
    /* No way back: a user other than root cannot take root again. */
    return u->uid == 0 || (setuid(0) < 0 && (u->gid == 0 || setgid(0) < 0));
}

int user_switch(const struct cli_user *u)
{
    if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
        cli_error("cannot switch to user %s: %s", u->name, strerror(errno));
        return EXIT_NOLISTEN;
    }
    if (!switched(u)) {
        cli_error("cannot switch to user %s: the process's ids or groups are not all theirs after "
                  "the switch", u->name);
        return EXIT_NOLISTEN;
    }
    return -1;
}
