/* strategies.c: the concurrency strategies, listed once: their numbers, names and ops tables. */
#include "core/internal.h"

#include <string.h>

/* Adding a strategy: its enum value in sockserv.h, its file, a line here. */
static const struct {
    const char *name;
    const ss__strategy *ops;
} strategies[] = {
    [SS_SYNC] = {"sync", &ss__sync},
    [SS_THREADING] = {"threading", &ss__threading},
    [SS_FORKING] = {"forking", &ss__forking},
    [SS_POOL] = {"pool", &ss__pool},
    [SS_EVENT] = {"event", &ss__event},
};
#define NSTRATEGIES (sizeof strategies / sizeof strategies[0])

const ss__strategy *ss__strategy_ops(ss_strategy s)
{
    return (unsigned)s < NSTRATEGIES ? strategies[s].ops : NULL;
}

const char *ss_strategy_name(ss_strategy s)
{
    return (unsigned)s < NSTRATEGIES ? strategies[s].name : NULL;
}

int ss_strategy_from_name(const char *name, ss_strategy *out)
{
    for (unsigned i = 0; name && i < NSTRATEGIES; i++)
        if (strcmp(name, strategies[i].name) == 0) {
            *out = (ss_strategy)i;
            return 0;
        }
    return -EINVAL;
}
