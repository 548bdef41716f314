/* options.c: the sockserv command line: parsing each option as it comes, --help and --version. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option_table.h"

const struct option_def cli_options[NOPTIONS] = {
#define OPTION_DEF(id, name, short_name, value, ...) { name, short_name, value },
    OPTION_LIST(OPTION_DEF)
#undef OPTION_DEF
};

/* What getopt_long returns for cli_options[i] given by its long name: past
 * every character, so never a short option, '?' or ':'. */
#define LONG_OPTION_VAL 0x100


/* A positive integer of decimal digits that fits a size_t below SIZE_MAX. */
static int parse_size(const char *s, size_t *out)
{
    uintmax_t v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (SIZE_MAX - 1 - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v == 0)
        return -EINVAL;
    *out = (size_t)v;
    return 0;
}

/* A non-negative decimal number of seconds: digits with an optional fraction. */
static int parse_seconds(const char *s, double *out)
{
    size_t digits = 0, dots = 0;
    char *end;

    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots == 0)
            dots++;
        else
            return -EINVAL;
    }
    if (digits == 0)
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v > 1e9)   /* more than 30 years: an overflow */
        return -ERANGE;
    *out = v;
    return 0;
}

/* Permission bits in octal: 1 to 4 digits, 1 to 0777. */
static int parse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 4)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return -EINVAL;
        v = v * 8 + (unsigned)(*s - '0');
    }
    if (v == 0 || v > 0777)
        return -EINVAL;
    *out = v;
    return 0;
}

/* --timeout and --drain: seconds, 0 or from MIN_SECONDS (a shorter time
 * would be rounded differently by each mode's clock); returns -1 or the
 * usage exit status. */
static int apply_seconds(const char *name, const char *value, double *out)
{
    int rc = parse_seconds(value, out);

    if (rc == -ERANGE)
        return cli_usage_error("invalid %s '%s': too large", name, value);
    if (rc < 0)
        return cli_usage_error("invalid %s '%s': expected a non-negative number of seconds "
                           "(digits with an optional fraction, e.g. 2.5)", name, value);
    if (*out > 0 && *out < MIN_SECONDS)
        return cli_usage_error("invalid %s '%s': must be 0 or at least %g", name, value, MIN_SECONDS);
    return -1;
}

/* The longest ALPN protocol name (RFC 7301: a length byte). */
#define ALPN_NAME_MAX 255

/* "h2,http/1.1": names of 1 to ALPN_NAME_MAX bytes separated by commas. */
static bool alpn_list_ok(const char *list)
{
    for (;;) {
        size_t len = strcspn(list, ",");
        if (len == 0 || len > ALPN_NAME_MAX)
            return false;
        if (list[len] == '\0')
            return true;
        list += len + 1;
    }
}

/* --workers, --max-connections, --processes: an integer from 1 to max;
 * returns -1 or the usage exit status. */
static int apply_count(const char *name, const char *value, size_t max, int *out)
{
    size_t n;

    if (parse_size(value, &n) < 0 || n > max)
        return cli_usage_error("invalid %s '%s': expected an integer from 1 to %zu", name, value,
                               max);
    *out = (int)n;
    return -1;
}

/* --allow and --trusted-proxies: ranges added to *list (made when NULL);
 * returns -1 or the exit status. */
static int apply_ranges(const char *name, const char *value, ss_cidr **list)
{
    const char *why = "out of memory";

    if (!*list && !(*list = ss_cidr_new())) {
        cli_error("out of memory");
        return EXIT_NOLISTEN;
    }
    if (ss_cidr_add(*list, value, &why) < 0)
        return cli_usage_error("invalid %s '%s': %s", name, value, why);
    return -1;
}

/* --trusted-proxies: checked here (the library reads the text itself). */
static int apply_trusted(const char *value, struct cli_opts *o)
{
    ss_cidr *check = NULL;
    int rc = apply_ranges("--trusted-proxies", value, &check);

    ss_cidr_free(check);
    if (rc < 0)
        o->trusted_proxies = value;
    return rc;
}

/* --listen: one URL more, at most MAX_LISTENERS. Returns -1 or the usage
 * exit status. */
static int apply_listen(const char *value, struct cli_opts *o)
{
    if (!o->listen_given)
        o->nlisten = 0; /* the default goes */
    if (o->nlisten == MAX_LISTENERS)
        return cli_usage_error("too many --listen: at most %d", MAX_LISTENERS);
    o->listen[o->nlisten++] = value;
    o->listen_given = true;
    return -1;
}

/* Apply one option with its value; returns -1 or an exit status. */
static int apply_option(enum opt_id id, const char *value, struct cli_opts *o)
{
    int rc;

    switch (id) {
    case OPT_HELP:
        cli_print_help();
        return EXIT_STOPPED;
    case OPT_VERSION:
        printf("sockserv %s\n", ss_version());
        return EXIT_STOPPED;
    case OPT_LISTEN:
        return apply_listen(value, o);
    case OPT_TLS_CERT:
        o->tls_cert = value;
        return -1;
    case OPT_TLS_KEY:
        o->tls_key = value;
        return -1;
    case OPT_TLS_CLIENT_CA:
        o->tls_client_ca = value;
        return -1;
    case OPT_TLS_ALPN:
        if (!alpn_list_ok(value))
            return cli_usage_error("invalid --tls-alpn '%s': expected protocol names of 1 to %d "
                                   "bytes separated by commas, e.g. h2,http/1.1", value,
                                   ALPN_NAME_MAX);
        o->tls_alpn = value;
        return -1;
    case OPT_MODE: {
        char names[128] = "";
        if (ss_strategy_from_name(value, &o->strategy) == 0)
            return -1;
        for (ss_strategy m = 0; ss_strategy_name(m); m++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "",
                     ss_strategy_name(m));
        return cli_usage_error("invalid --mode '%s': use one of %s", value, names);
    }
    case OPT_WORKERS:
        return apply_count("--workers", value, MAX_WORKERS, &o->workers);
    case OPT_MAX_LINE: {
        bool chat = o->cmd == CMD_CHAT;
        size_t limit = chat ? CHAT_MAX_LINE_LIMIT : ECHO_MAX_LINE_LIMIT;
        rc = parse_size(value, &o->max_line);
        if (rc == -ERANGE || (rc == 0 && o->max_line > limit))
            return cli_usage_error("invalid --max-line '%s': %s lines can be at most %zu bytes",
                                   value, chat ? "chat" : "echo", limit);
        if (rc < 0)
            return cli_usage_error("invalid --max-line '%s': expected a positive integer", value);
        return -1;
    }
    case OPT_MAX_CONNECTIONS:
        return apply_count("--max-connections", value, MAX_CONNECTIONS_LIMIT,
                           &o->max_connections);
    case OPT_TIMEOUT:
        return apply_seconds("--timeout", value, &o->timeout);
    case OPT_ALLOW:
        return apply_ranges("--allow", value, &o->allow);
    case OPT_SOCKET_MODE:
        rc = parse_mode(value, &o->socket_mode);
        if (rc < 0)
            return cli_usage_error("invalid --socket-mode '%s': expected an octal mode from 1 to "
                                   "0777, e.g. 0660", value);
        return -1;
    case OPT_DRAIN:
        return apply_seconds("--drain", value, &o->drain);
    case OPT_PROCESSES:
        return apply_count("--processes", value, MAX_PROCESSES, &o->processes);
    case OPT_ROOM:
        o->room = value;
        return -1;
    case OPT_USER:
        o->user.spec = value;
        return -1;
    case OPT_PROXY_PROTOCOL:
        o->proxy_protocol = true;
        return -1;
    case OPT_TRUSTED_PROXIES:
        return apply_trusted(value, o);
    case OPT_METRICS:
        o->metrics = value;
        return -1;
    case OPT_LOG_FORMAT:
        if (strcmp(value, "text") == 0)
            o->log_format = LOG_TEXT;
        else if (strcmp(value, "json") == 0)
            o->log_format = LOG_JSON;
        else
            return cli_usage_error("invalid --log-format '%s': use text or json", value);
        return -1;
    case OPT_QUIET:
    case OPT_VERBOSE: {
        ss_log_level level = id == OPT_QUIET ? SS_LOG_ERROR : SS_LOG_INFO;
        if (o->log_level != DEFAULT_LOG_LEVEL && o->log_level != level)
            return cli_usage_error("--quiet and --verbose cannot go together");
        o->log_level = level;
        return -1;
    }
    case NOPTIONS:
        break;
    }
    return -1;
}

void cli_free(struct cli_opts *o)
{
    ss_cidr_free(o->allow);
    o->allow = NULL;
}

/* The option getopt_long returned (or, with '?' or ':', named in optopt),
 * or NULL for none of ours. */
static const struct option_def *returned_option(int c)
{
    if (c >= LONG_OPTION_VAL && c < LONG_OPTION_VAL + NOPTIONS)
        return &cli_options[c - LONG_OPTION_VAL];
    for (size_t i = 0; c > 0 && i < NOPTIONS; i++)
        if (cli_options[i].short_name == c)
            return &cli_options[i];
    return NULL;
}

/* Whether arg, up to its '=' (namelen bytes), spells def in full: getopt_long
 * also takes an abbreviation ("--list") and a cluster of short options
 * ("-hx"), which the program refuses as unknown options. */
static bool spelled_in_full(const struct option_def *def, const char *arg, size_t namelen)
{
    if (namelen == 2 && arg[0] == '-' && arg[1] != '-')
        return def->short_name != 0 && arg[1] == def->short_name;
    return namelen == strlen(def->name) + 2 && strncmp(arg, "--", 2) == 0 &&
           strncmp(arg + 2, def->name, namelen - 2) == 0;
}

/* A word that is no option: the command, or a stray argument. Returns -1
 * or the usage exit status. */
static int take_word(const char *arg, struct cli_opts *o)
{
    if (o->cmd != CMD_NONE)
        return cli_usage_error("unexpected argument '%s'", arg);
    if (strcmp(arg, "echo") == 0)
        o->cmd = CMD_ECHO;
    else if (strcmp(arg, "chat") == 0)
        o->cmd = CMD_CHAT;
    else
        return cli_usage_error("unknown command '%s'", arg);
    return -1;
}

/* getopt_long's tables, from cli_options[]: each long option returns
 * LONG_OPTION_VAL + its index; shortopts starts with '+' (a word that is
 * no option ends a scan: nothing is permuted) and ':' (a missing value is
 * told apart from an unknown option). */
static void getopt_tables(struct option longopts[NOPTIONS + 1], char *shortopts, size_t size)
{
    snprintf(shortopts, size, "+:");
    for (size_t i = 0; i < NOPTIONS; i++) {
        int has_arg = cli_options[i].value ? required_argument : no_argument;
        longopts[i] = (struct option){ cli_options[i].name, has_arg, NULL, LONG_OPTION_VAL + (int)i };
        if (cli_options[i].short_name)
            snprintf(shortopts + strlen(shortopts), size - strlen(shortopts), "%c%s",
                     cli_options[i].short_name, cli_options[i].value ? ":" : "");
    }
    longopts[NOPTIONS] = (struct option){ 0 };
}

/* What getopt_long returned (c) for the word arg: check it and apply the
 * option, with getopt_long's optarg. Returns -1 or an exit status. */
static int take_option(int c, const char *arg, struct cli_opts *o)
{
    size_t namelen = strcspn(arg, "=");
    const struct option_def *def = returned_option(c == '?' || c == ':' ? optopt : c);

    if (!def || !spelled_in_full(def, arg, namelen))
        return cli_usage_error("unknown option '%.*s'", (int)namelen, arg);
    if (c == ':')
        return cli_usage_error("option '%.*s' needs a value", (int)namelen, arg);
    if (!def->value && arg[namelen] == '=')
        return cli_usage_error("option '%.*s' takes no value", (int)namelen, arg);
    enum opt_id id = (enum opt_id)(def - cli_options);
    if (!option_alone(id) && o->cmd == CMD_NONE)
        return cli_usage_error("option '%.*s' must follow a command (echo or chat)", (int)namelen,
                               arg);
    return apply_option(id, def->value ? optarg : "", o);
}

/*
 * The command line: the command word, then options, each applied as it
 * comes (the last of an option given twice wins; --listen and --allow
 * accumulate), --opt VALUE or --opt=VALUE, a value taken as it is even
 * when it starts with '-'. getopt_long scans the options between the words and reports
 * nothing itself (opterr = 0): every problem is reported here, naming the
 * option as it was typed.
 */
int cli_parse(int argc, char **argv, struct cli_opts *o)
{
    struct option longopts[NOPTIONS + 1];
    char shortopts[2 + 2 * NOPTIONS + 1];
    int rc = -1;

    *o = (struct cli_opts){ .cmd = CMD_NONE, .listen = { DEFAULT_LISTEN }, .nlisten = 1,
                            .strategy = DEFAULT_MODE, .drain = DEFAULT_DRAIN,
                            .log_level = DEFAULT_LOG_LEVEL };
    getopt_tables(longopts, shortopts, sizeof shortopts);
    opterr = 0;
    optind = 0; /* glibc: start afresh, at argv[1] */
    while (rc < 0) {
        int at = optind > 0 ? optind : 1; /* the word getopt_long looks at next */
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);

        if (c != -1)
            rc = take_option(c, argv[at], o);
        else if (at < argc && strcmp(argv[at], "--") == 0)
            rc = cli_usage_error("unknown option '--'"); /* getopt_long's end of options: none here */
        else if (optind < argc)
            rc = take_word(argv[optind++], o);
        else
            break;
    }
    if (rc >= 0)
        return rc;
    if (o->cmd == CMD_NONE)
        return cli_usage_error("missing command (echo or chat)");
    return cli_check(o);
}
