/* script.c: a script of read calls (read, read1, readline, readline_ref, read_all) checked against the input. */
#include "fuzz.h"

#include <string.h>

enum op { OP_READ, OP_READ1, OP_READLINE, OP_READLINE_REF, OP_READ_ALL, OP_BAD_ARGS, OP_COUNT };

typedef struct script {
    ss_request *req;
    const uint8_t *data;
    size_t len, pos;                   /* pos: bytes read so far */
    int end;                           /* what the input ends with: 0, or an error */
    const fuzz_feed *feed;             /* where faults come from; NULL: none */
    unsigned faults;                   /* the feed's count when the call began */
    void (*sink)(ss_request *req, const char *p, size_t n);
} script;

/* What a call leaves for the script: go on, stop (cancelled, or input
 * partly consumed), or the end of input was seen (the call returned 0, or
 * the error the input ends with once all of it was read). */
enum outcome { GOING, STOP, END };

static size_t left(const script *s)
{
    return s->len - s->pos;
}

static enum outcome outcome_of(const script *s, ssize_t r)
{
    if (r == -ECANCELED)
        return STOP;
    return r == 0 || (r == s->end && left(s) == 0) ? END : GOING;
}

/* What a call returns that reads `want` bytes, fewer than it asked for
 * because the input ends: them, or the end itself when there are none. */
static ssize_t up_to_end(const script *s, size_t want)
{
    return want ? (ssize_t)want : s->end;
}

static void begin(script *s)
{
    s->faults = s->feed ? s->feed->faults : 0;
}

/* The error of a fault injected during the current call, or 0; a drain
 * deadline, once passed, stays so. */
static int fault(const script *s)
{
    if (!s->feed)
        return 0;
    return s->feed->faults != s->faults || s->feed->fault == -ECANCELED ? s->feed->fault : 0;
}

/* A piece just read must be the input's next n bytes. */
static void took(script *s, const char *what, const void *p, size_t n)
{
    FUZZ_CHECK(n <= s->len - s->pos, "%s: %zu bytes, only %zu left", what, n, s->len - s->pos);
    FUZZ_CHECK(n == 0 || memcmp(p, s->data + s->pos, n) == 0, "%s: %zu bytes at offset %zu differ from the input",
               what, n, s->pos);
    if (s->sink && n > 0)
        s->sink(s->req, p, n);
    s->pos += n;
}

/* Length of the next line, '\n' included, if one ends within `within` bytes; 0 if none. */
static size_t line_within(const script *s, size_t within)
{
    size_t look = within < left(s) ? within : left(s);
    const uint8_t *nl = memchr(s->data + s->pos, '\n', look);
    return nl ? (size_t)(nl - (s->data + s->pos)) + 1 : 0;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* After a fault a call may return its error or (read, readline) part of
 * what it would have returned; otherwise it returns what it would have. */
static bool failed(const script *s, ssize_t r, size_t want, bool partial_ok)
{
    int err = fault(s);
    return err && (r == err || (partial_ok && r > 0 && (size_t)r <= want));
}

/* ss_read(n): exactly n bytes, fewer only at the end. */
static enum outcome do_read(script *s, size_t n)
{
    char *buf = malloc(n);
    FUZZ_CHECK(buf, "out of memory");
    size_t want = min_size(n, left(s));
    begin(s);
    ssize_t r = ss_read(s->req, buf, n);
    if (!failed(s, r, want, true))
        FUZZ_CHECK(r == up_to_end(s, want), "ss_read(%zu) = %zd with %zu left", n, r, left(s));
    if (r > 0)
        took(s, "ss_read", buf, (size_t)r);
    free(buf);
    return outcome_of(s, r);
}

/* ss_read1(n): 1..n bytes, 0 only at the end. */
static enum outcome do_read1(script *s, size_t n)
{
    char *buf = malloc(n);
    FUZZ_CHECK(buf, "out of memory");
    begin(s);
    ssize_t r = ss_read1(s->req, buf, n);
    if (!failed(s, r, 0, false))
        FUZZ_CHECK(left(s) ? r >= 1 && (size_t)r <= min_size(n, left(s)) : r == s->end,
                   "ss_read1(%zu) = %zd with %zu left", n, r, left(s));
    if (r > 0)
        took(s, "ss_read1", buf, (size_t)r);
    free(buf);
    return outcome_of(s, r);
}

/* ss_readline(size): through the first '\n', at most size - 1 bytes, NUL-terminated. */
static enum outcome do_readline(script *s, size_t size)
{
    char *buf = malloc(size);
    FUZZ_CHECK(buf, "out of memory");
    size_t line = line_within(s, size - 1);
    size_t want = line ? line : min_size(size - 1, left(s));
    begin(s);
    ssize_t r = ss_readline(s->req, buf, size);
    if (!failed(s, r, want, true))
        FUZZ_CHECK(r == up_to_end(s, want), "ss_readline(size %zu) = %zd, expected %zu (%zu left)", size, r, want,
                   left(s));
    FUZZ_CHECK(buf[r > 0 ? r : 0] == '\0', "ss_readline: no NUL after %zd bytes", r);
    if (r > 0)
        took(s, "ss_readline", buf, (size_t)r);
    free(buf);
    return outcome_of(s, r);
}

/* ss_readline_ref(max): a line of at most max bytes, '\n' included, or
 * -EMSGSIZE (nothing consumed), or the rest at the end (an error at the
 * end: the error, the rest left to read). */
static enum outcome do_readline_ref(script *s, size_t max)
{
    const char *line = NULL;
    size_t nl = line_within(s, max);
    begin(s);
    ssize_t r = ss_readline_ref(s->req, &line, max);
    if (failed(s, r, 0, false))
        return outcome_of(s, r);
    if (!nl && left(s) >= max) {
        FUZZ_CHECK(r == -EMSGSIZE, "ss_readline_ref(max %zu) = %zd, expected -EMSGSIZE (%zu left, no '\\n')",
                   max, r, left(s));
        return GOING;
    }
    if (!nl && s->end) {
        FUZZ_CHECK(r == s->end, "ss_readline_ref(max %zu) = %zd, expected the end's %d (%zu left, no '\\n')", max,
                   r, s->end, left(s));
        return outcome_of(s, r);
    }
    size_t want = nl ? nl : left(s);
    FUZZ_CHECK(r == (ssize_t)want, "ss_readline_ref(max %zu) = %zd, expected %zu (%zu left)", max, r, want, left(s));
    FUZZ_CHECK(r == 0 || line, "ss_readline_ref: no line pointer");
    took(s, "ss_readline_ref", line, (size_t)r);
    return outcome_of(s, r);
}

/* ss_read_all(max): the rest, NUL-terminated, or -EMSGSIZE past max, or
 * the error the input ends with. A failure leaves the input partly
 * consumed: the script stops there. */
static enum outcome do_read_all(script *s, size_t max)
{
    char *out = NULL;
    ssize_t expect = left(s) > max ? -EMSGSIZE : s->end;
    begin(s);
    ssize_t r = ss_read_all(s->req, &out, max);
    if (failed(s, r, 0, false) || expect < 0) {
        FUZZ_CHECK((fault(s) && r == fault(s)) || r == expect, "ss_read_all(max %zu) = %zd with %zu left, expected %zd",
                   max, r, left(s), expect);
        FUZZ_CHECK(!out, "ss_read_all failed, yet gave a buffer");
        return STOP;
    }
    FUZZ_CHECK(r == (ssize_t)left(s) && out, "ss_read_all(max %zu) = %zd with %zu left", max, r, left(s));
    FUZZ_CHECK(out[r] == '\0', "ss_read_all: no NUL after %zd bytes", r);
    took(s, "ss_read_all", out, (size_t)r);
    free(out);
    return outcome_of(s, r);
}

/* Calls with sizes that read nothing: 0 or -EINVAL, nothing consumed. */
static void do_bad_args(script *s)
{
    char buf[1];
    const char *line;
    FUZZ_CHECK(ss_read(s->req, buf, 0) == 0, "ss_read(0) is not 0");
    FUZZ_CHECK(ss_read1(s->req, buf, 0) == 0, "ss_read1(0) is not 0");
    FUZZ_CHECK(ss_readline(s->req, buf, 1) == -EINVAL, "ss_readline(size 1) is not -EINVAL");
    FUZZ_CHECK(ss_readline_ref(s->req, &line, 0) == -EINVAL, "ss_readline_ref(max 0) is not -EINVAL");
}

/* At the end, every call says so, again and again: 0, or the error the
 * input ends with. */
static void check_end(script *s)
{
    char buf[16];
    const char *line;
    char *out = NULL;
    for (int i = 0; i < 2; i++) {
        ssize_t r = ss_read(s->req, buf, sizeof buf);
        FUZZ_CHECK(r == s->end, "ss_read after the end: %zd, not %d", r, s->end);
        r = ss_read1(s->req, buf, sizeof buf);
        FUZZ_CHECK(r == s->end, "ss_read1 after the end: %zd, not %d", r, s->end);
        r = ss_readline(s->req, buf, sizeof buf);
        FUZZ_CHECK(r == s->end && buf[0] == '\0', "ss_readline after the end: %zd, not %d", r, s->end);
        r = ss_readline_ref(s->req, &line, 1);
        FUZZ_CHECK(r == s->end, "ss_readline_ref after the end: %zd, not %d", r, s->end);
        r = ss_read_all(s->req, &out, 0);
        FUZZ_CHECK(r == s->end && (r < 0 ? !out : out && out[0] == '\0'), "ss_read_all after the end: %zd, not %d",
                   r, s->end);
        free(out);
        out = NULL;
    }
}

/* A limit for ss_read_all: a size, 0, or "none" (SIZE_MAX). */
static size_t read_all_max(fuzz_ctl *ctl, size_t base)
{
    unsigned b = fuzz_ctl_byte(ctl);
    if (b == 0)
        return 0;
    if (b == 1)
        return SIZE_MAX;
    return fuzz_ctl_size(ctl, base);
}

size_t fuzz_read_script(ss_request *req, const uint8_t *data, size_t len, fuzz_ctl *ctl, const fuzz_feed *feed,
                        void (*sink)(ss_request *req, const char *p, size_t n))
{
    return fuzz_read_script_to(req, data, len, 0, ctl, feed, sink);
}

size_t fuzz_read_script_to(ss_request *req, const uint8_t *data, size_t len, int end, fuzz_ctl *ctl,
                           const fuzz_feed *feed, void (*sink)(ss_request *req, const char *p, size_t n))
{
    script s = {.req = req, .data = data, .len = len, .end = end, .feed = feed, .sink = sink};
    size_t base = req->srv->cfg.rbufsize;
    bool stalled = false; /* the last call consumed nothing: the next one must try to */
    for (;;) {
        size_t before = s.pos;
        enum op op = stalled ? OP_READ1 : (enum op)(fuzz_ctl_byte(ctl) % OP_COUNT);
        enum outcome out = GOING;
        switch (op) {
        case OP_READ:
            out = do_read(&s, fuzz_ctl_size(ctl, base));
            break;
        case OP_READ1:
            out = do_read1(&s, fuzz_ctl_size(ctl, base));
            break;
        case OP_READLINE:
            out = do_readline(&s, 1 + fuzz_ctl_size(ctl, base));
            break;
        case OP_READLINE_REF:
            out = do_readline_ref(&s, fuzz_ctl_size(ctl, base));
            break;
        case OP_READ_ALL:
            out = do_read_all(&s, read_all_max(ctl, base));
            break;
        default: /* OP_BAD_ARGS */
            do_bad_args(&s);
            break;
        }
        if (out == STOP)
            return s.pos;
        if (out == END)
            break;
        stalled = s.pos == before;
    }
    check_end(&s);
    return s.pos;
}
