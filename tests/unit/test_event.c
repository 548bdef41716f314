/* test_event.c: what only the event strategy has: coroutine stacks (guard page, stack_size), ss_wait_fd, ss_run_blocking, many connections on one loop, datagrams on several loops, timers, drain, close; and max_connections under every strategy. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* State shared with handlers (and, for the overflow cases, with a forked server). */
typedef struct ev_shared {
    atomic_int waiting, started, finished, cancelled, blocking_in, blocking_out;
    atomic_int sleeping, sleeping_max;
    atomic_int release;
    atomic_int ntids;
    pid_t tids[64];
    _Atomic double fn_done_at; /* when the last blocking sleep ended */
    double t_done[8];
    int ret[8];
    double elapsed[8];
} ev_shared;

static ev_shared *S;
static int g_pipe[2] = { -1, -1 };

static void begin(void)
{
    S = h_shared_alloc(sizeof *S);
    CHECK_EQ_INT(pipe2(g_pipe, O_CLOEXEC), 0);
}

static void note_tid(void)
{
    int i = atomic_fetch_add(&S->ntids, 1);
    if (i < 64)
        S->tids[i] = gettid();
}

static int distinct_tids(void)
{
    int n = atomic_load(&S->ntids), d = 0;
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= S->tids[j] == S->tids[i];
        d += !seen;
    }
    return d;
}

/* A server (event, unless a case says otherwise) on its own serving thread. */
static ss_server *srv;
static h_serve sv;
static ss_strategy g_strategy = SS_EVENT;

static void start(ss_config cfg)
{
    if (!cfg.listen)
        cfg.listen = "tcp://127.0.0.1:0";
    cfg.strategy = g_strategy;
    srv = h_server_new(&cfg);
    h_serve_start(&sv, srv, 0.01);
}

static void stop(void)
{
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
}

/* Connect and send one line. */
static int send_line(const char *line)
{
    int c = h_connect(srv);
    h_send_str(c, line);
    return c;
}

static void expect_line(int c, const char *want, double timeout)
{
    char got[256];
    ssize_t n = h_recv_line(c, got, sizeof got, timeout);
    CHECK_MSG(n > 0, "no line from the server (%zd), expected %s", n, want);
    CHECK_EQ_STR(got, want);
}

/* ---- Coroutine stacks ------------------------------------------------- */

/* The handler recurses without bound, each frame holding an array of
 * `frame` bytes that it fills. The server runs in a forked child: it must
 * die of SIGSEGV, and the fault must be in the guard page below the
 * coroutine's stack, not in some other memory the overflow ran into. To
 * make "other memory" likely, the overflowing request's stack is allocated
 * first and other requests' stacks (live, sleeping) right after it: mmap
 * places them just below. */
typedef struct ov_shared {
    uintptr_t stack_top;
    uintptr_t fault_addr;
    uintptr_t fault_sp;       /* the stack pointer at the fault */
    atomic_int faulted;
    atomic_int depth;
    atomic_int sleepers;
    char maps[32768];         /* /proc/self/maps of the server, before the overflow */
} ov_shared;

static ov_shared *OV;
static size_t ov_frame;

static void ov_on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    ucontext_t *ctx = uc;
#if defined(__x86_64__)
    OV->fault_sp = (uintptr_t)ctx->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    OV->fault_sp = (uintptr_t)ctx->uc_mcontext.sp;
#else
    (void)ctx;
#endif
    OV->fault_addr = (uintptr_t)si->si_addr;
    atomic_store(&OV->faulted, 1);
    /* SA_RESETHAND: returning re-runs the access, which now kills us. */
}

/* Unbounded on purpose: it runs until the coroutine's stack overflows. */
static __attribute__((noinline)) int ov_recurse(int depth) /* NOLINT(misc-no-recursion) */
{
    char buf[ov_frame];
    memset(buf, depth & 0x7f, sizeof buf);
    atomic_store(&OV->depth, depth);
    __asm__ volatile("" : : "r"(buf) : "memory");
    if (depth > 1000000000) /* never: keeps the compiler from calling this infinite */
        return 0;
    return ov_recurse(depth + 1) + buf[depth % sizeof buf];
}

static int ov_handle(ss_request *req)
{
    char line[32];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    if (strcmp(line, "sleep\n") == 0) { /* a neighbour: its stack in use below ours */
        atomic_fetch_add(&OV->sleepers, 1);
        return ss_sleep(req, 20);
    }
    /* Let the neighbours start (the loop runs them while we sleep). */
    for (int i = 0; i < 500 && atomic_load(&OV->sleepers) < 4; i++)
        ss_sleep(req, 0.01);
    /* The SIGSEGV handler needs a stack of its own on this (the loop's) thread. */
    static char altstack[1 << 16];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    if (sigaltstack(&ss, NULL) < 0)
        return -errno;
    struct sigaction sa = { .sa_sigaction = ov_on_segv,
                            .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    char top;
    OV->stack_top = (uintptr_t)&top;
    __asm__ volatile("" : : "r"(&top) : "memory");
    h_read_file("/proc/self/maps", OV->maps, sizeof OV->maps);
    return ov_recurse(0);
}

/* The mapping of OV->maps holding addr: its bounds and permissions. */
static bool ov_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, char perms[5])
{
    for (const char *p = OV->maps; p && *p;) {
        /* "lo-hi perms ..." in hex */
        char *end;
        unsigned long a = strtoul(p, &end, 16);
        unsigned long b = *end == '-' ? strtoul(end + 1, &end, 16) : 0;
        if (*end == ' ' && end[1] && end[2] && end[3] && end[4] && addr >= a && addr < b) {
            *lo = a;
            *hi = b;
            memcpy(perms, end + 1, 4);
            perms[4] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* Returns NULL when the fault was in our guard page, else why not. */
static const char *overflow_run(size_t frame, size_t stack_size, char *why, size_t whysize)
{
    static const ss_handler h = { .handle = ov_handle };
    memset(OV, 0, sizeof *OV);
    ov_frame = frame;
    int ready[2];
    CHECK_EQ_INT(pipe2(ready, O_CLOEXEC), 0);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        ss_server *s = ss_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                                   .strategy = SS_EVENT, .workers = 1,
                                                   .stack_size = stack_size });
        if (!s)
            _exit(3);
        int port = h_server_port(s);
        if (write(ready[1], &port, sizeof port) != (ssize_t)sizeof port)
            _exit(4);
        ss_serve_forever(s, 0.05);
        _exit(5);
    }
    close(ready[1]);
    int port = 0;
    struct pollfd pf = { .fd = ready[0], .events = POLLIN };
    CHECK_EQ_INT(poll(&pf, 1, 10000), 1);
    CHECK_EQ_INT(read(ready[0], &port, sizeof port), (ssize_t)sizeof port);
    close(ready[0]);
    int c = h_connect_ip("127.0.0.1", port, SOCK_STREAM);
    h_send_str(c, "overflow\n");
    int others[4];
    for (int i = 0; i < 4; i++) {
        others[i] = h_connect_ip("127.0.0.1", port, SOCK_STREAM);
        h_send_str(others[i], "sleep\n");
    }
    int status = 0;
    bool gone = WAIT_FOR(waitpid(pid, &status, WNOHANG) == pid, 20);
    if (!gone) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        FAIL("the server survived a stack overflow for 20 s (depth %d)", atomic_load(&OV->depth));
    }
    for (int i = 0; i < 4; i++)
        close(others[i]);
    close(c);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)) {
        /* Under ASan an overflow into other memory is a sanitizer report
         * (stack-buffer-underflow into another stack) and exit status 1. */
        snprintf(why, whysize, "frame %zu: the server did not die of SIGSEGV but %s %d%s", frame,
                 WIFSIGNALED(status) ? "of signal" : "with exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                 h_sanitized() && !atomic_load(&OV->faulted)
                     ? " (a sanitizer report before any fault: it wrote to memory beyond the guard)"
                     : "");
        return why;
    }
    CHECK_MSG(atomic_load(&OV->faulted), "frame %zu: no SIGSEGV handler ran", frame);
    CHECK_EQ_INT(atomic_load(&OV->sleepers), 4);

    /* Our stack, and the guard just below it. */
    uintptr_t s_lo, s_hi, g_lo, g_hi, f_lo, f_hi;
    char s_perm[5], g_perm[5], f_perm[5];
    CHECK_MSG(ov_mapping(OV->stack_top, &s_lo, &s_hi, s_perm), "no mapping holds the stack");
    CHECK_MSG(ov_mapping(s_lo - 1, &g_lo, &g_hi, g_perm) && g_hi == s_lo &&
                  strncmp(g_perm, "---", 3) == 0,
              "no inaccessible guard mapping right below the coroutine stack %#lx-%#lx",
              (unsigned long)s_lo, (unsigned long)s_hi);
    h_note("frame %zu, stack %zu: depth %d; stack %#lx-%#lx, guard %#lx-%#lx (%lu bytes), "
           "fault at %#lx with the stack pointer at %#lx",
           frame, stack_size, atomic_load(&OV->depth), (unsigned long)s_lo, (unsigned long)s_hi,
           (unsigned long)g_lo, (unsigned long)g_hi, (unsigned long)(g_hi - g_lo),
           (unsigned long)OV->fault_addr, (unsigned long)OV->fault_sp);
    CHECK_GE(s_hi - s_lo, stack_size);
    /* Caught by the guard: the access was in it, and the stack pointer had not
     * gone below it (else the frame lies in whatever memory is beyond, and a
     * fault at the guard's lowest byte is a write coming up from there). */
    bool sp_known = OV->fault_sp != 0;
    if (OV->fault_addr >= g_lo && OV->fault_addr < g_hi && (!sp_known || OV->fault_sp >= g_lo))
        return NULL;
    if (sp_known && OV->fault_sp < g_lo && ov_mapping(OV->fault_sp, &f_lo, &f_hi, f_perm)) {
        snprintf(why, whysize, "frame %zu: the stack pointer went %lu bytes past the guard, into "
                 "mapping %#lx-%#lx %s (written there before the fault at %#lx)", frame,
                 (unsigned long)(g_lo - OV->fault_sp), (unsigned long)f_lo, (unsigned long)f_hi,
                 f_perm, (unsigned long)OV->fault_addr);
        return why;
    }
    if (ov_mapping(OV->fault_addr, &f_lo, &f_hi, f_perm))
        snprintf(why, whysize, "frame %zu: fault at %#lx, %lu bytes below the guard, in mapping "
                 "%#lx-%#lx %s (the overflow wrote past the guard page into it)", frame,
                 (unsigned long)OV->fault_addr, (unsigned long)(g_lo - OV->fault_addr),
                 (unsigned long)f_lo, (unsigned long)f_hi, f_perm);
    else
        snprintf(why, whysize, "frame %zu: fault at %#lx, %lu bytes below the guard (unmapped "
                 "memory: the overflow jumped the guard page)", frame,
                 (unsigned long)OV->fault_addr, (unsigned long)(g_lo - OV->fault_addr));
    return why;
}

/* Frames smaller than a page: the guard page catches the overflow. */
TEST(stack_overflow_faults_small_frames)
{
    OV = h_shared_alloc(sizeof *OV);
    char why[512];
    const char *r = overflow_run(512, (size_t)32 * 1024, why, sizeof why);
    CHECK_MSG(r == NULL, "%s", r);
    r = overflow_run(2000, (size_t)64 * 1024, why, sizeof why);
    CHECK_MSG(r == NULL, "%s", r);
}

/* A large local array per frame (several sizes between 4 KiB and 40 KiB): each
 * overflow must still end in the guard below the stack, never in memory
 * beyond it (without -fstack-clash-protection a frame is not probed page by
 * page, so one guard page can be jumped). */
TEST(stack_overflow_faults_large_frames)
{
    OV = h_shared_alloc(sizeof *OV);
    static const size_t frames[] = { 5000, 6000, 7000, 9000, 12000, 16384, 20000, 40000 };
    char report[2048] = "", why[512];
    int bad = 0;
    for (size_t i = 0; i < sizeof frames / sizeof *frames; i++) {
        const char *r = overflow_run(frames[i], (size_t)64 * 1024, why, sizeof why);
        if (r) {
            bad++;
            size_t len = strlen(report);
            snprintf(report + len, sizeof report - len, "%s%s", len ? "; " : "", r);
        }
    }
    CHECK_MSG(bad == 0, "%d of %zu frame sizes overflowed past the guard: %s", bad,
              sizeof frames / sizeof *frames, report);
}

/* cfg.stack_size is honoured: ~200 KiB of locals work with a 1 MiB stack. */
static int big_stack_handle(ss_request *req)
{
    unsigned sum = h_use_big_stack();
    return ss_writef(req, "sum %u\n", sum) < 0 ? -EIO : 0;
}

TEST(stack_size_honoured)
{
    static const ss_handler h = { .handle = big_stack_handle };
    start((ss_config){ .handler = &h, .workers = 1, .stack_size = 1 << 20 });
    unsigned want = h_big_stack_sum();
    char line[64];
    snprintf(line, sizeof line, "sum %u\n", want);
    for (int i = 0; i < 3; i++) {
        int c = h_connect(srv);
        expect_line(c, line, 10);
        close(c);
    }
    stop();
}

/* An idle request gives back the stack it used while busy: the pages of a
 * deep call, below the frame it waits in, leave memory (mincore) while it
 * waits, and what its frames hold is intact when it resumes. */
static char *_Atomic deep_page; /* written in the loop, read by the test */

static __attribute__((noinline)) unsigned go_deep(void)
{
    volatile unsigned char big[128 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)i;
    long page = sysconf(_SC_PAGESIZE);
    char *p = (char *)&big[1024];
    /* cppcheck-suppress danglingLifetime ; only its address is kept, for mincore once the frame is gone */
    deep_page = p - (uintptr_t)p % (uintptr_t)page;
    return big[4097];
}

static bool resident(const void *page)
{
    unsigned char v = 0;
    return mincore((void *)page, (size_t)sysconf(_SC_PAGESIZE), &v) == 0 && (v & 1);
}

/* park_idle_stacks: the page the waiting frames are in leaves memory too
 * (under AddressSanitizer the stack is only trimmed); without it, only the
 * pages below them. Either way the frames are back, intact and at the same
 * addresses, when the request runs again. */
static char *_Atomic frame_page;

static int park_handle(ss_request *req)
{
    unsigned char canary[256];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(i * 7);
    unsigned char *volatile self = canary; /* its address, kept in a register or the frame */
    long page = sysconf(_SC_PAGESIZE);
    /* cppcheck-suppress danglingLifetime ; read by mincore while the frame lives */
    frame_page = (char *)canary - (uintptr_t)canary % (uintptr_t)page;
    unsigned deep = go_deep();
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* idle here */
    if (n <= 0)
        return -EIO;
    for (size_t i = 0; i < sizeof canary; i++)
        if (canary[i] != (unsigned char)(i * 7) || self[i] != canary[i])
            return ss_write(req, "canary broken\n", 14) < 0 ? -EIO : 0;
    return ss_writef(req, "intact %u\n", deep + go_deep()) < 0 ? -EIO : 0;
}

/* Under AddressSanitizer a stack is trimmed, never parked (coro.c). */
#if defined(__SANITIZE_ADDRESS__)
#define PARKS_STACKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARKS_STACKS 0
#endif
#endif
#ifndef PARKS_STACKS
#define PARKS_STACKS 1
#endif

static void idle_stack_case(bool park)
{
    static const ss_handler h = {.handle = park_handle};
    deep_page = frame_page = NULL;
    start((ss_config){.handler = &h, .workers = 1, .stack_size = 512 << 10, .park_idle_stacks = park});
    int c = h_connect(srv);
    CHECK(WAIT_FOR(deep_page != NULL && frame_page != NULL, 10));
    CHECK(resident(frame_page));
    CHECK_MSG(WAIT_FOR(!resident(deep_page), 20), "the idle request's deep stack page stayed in memory");
    if (park && PARKS_STACKS)
        CHECK_MSG(WAIT_FOR(!resident(frame_page), 5), "the parked request's frames stayed in memory");
    else
        CHECK_MSG(resident(frame_page), "a trimmed request lost the page its frames are in");
    h_send_str(c, "wake\n");
    char want[32];
    snprintf(want, sizeof want, "intact %u\n", 2u * (unsigned char)4097);
    expect_line(c, want, 10);
    close(c);
    stop();
}

TEST(idle_stack_parked) { idle_stack_case(true); }
TEST(idle_stack_trimmed) { idle_stack_case(false); }

/* Frames larger than a page are not parked, only trimmed; a request in
 * ss_run_blocking is not parked either (the helper thread writes into its
 * frame while it waits): both find their frames intact. */
static int set_after_3s(void *arg)
{
    h_sleep(3); /* two sweep periods and more */
    memset(arg, 0x5a, 256);
    return 0;
}

static int blocking_frame_handle(ss_request *req)
{
    unsigned char written[256];
    memset(written, 0, sizeof written);
    int rc = ss_run_blocking(req, set_after_3s, written);
    bool ok = rc == 0;
    for (size_t i = 0; i < sizeof written; i++)
        ok = ok && written[i] == 0x5a;
    return ss_write(req, ok ? "intact\n" : "broken\n", 7) < 0 ? -EIO : 0;
}

static int big_frame_handle(ss_request *req)
{
    unsigned char big[3 * 4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 13);
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* idle here: trimmed, not parked */
    bool ok = n > 0;
    for (size_t i = 0; i < sizeof big; i++)
        ok = ok && big[i] == (unsigned char)(i * 13);
    return ss_write(req, ok ? "intact\n" : "broken\n", 7) < 0 ? -EIO : 0;
}

TEST(idle_stack_not_parked_in_blocking_call)
{
    static const ss_handler h = {.handle = blocking_frame_handle};
    start((ss_config){.handler = &h, .workers = 1, .park_idle_stacks = true});
    int c = h_connect(srv);
    expect_line(c, "intact\n", 20);
    close(c);
    stop();
}

TEST(idle_stack_big_frames_trimmed)
{
    static const ss_handler h = {.handle = big_frame_handle};
    start((ss_config){.handler = &h, .workers = 1, .park_idle_stacks = true});
    int c = h_connect(srv);
    h_sleep(2.5); /* two sweep periods at least */
    h_send_str(c, "go\n");
    expect_line(c, "intact\n", 20);
    close(c);
    stop();
}

/* ---- ss_wait_fd --------------------------------------------------------- */

static int wait_pipe_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    if (strcmp(line, "wait\n") == 0) {
        atomic_store(&S->waiting, 1);
        int r = ss_wait_fd(req, g_pipe[0], POLLIN, 10);
        if (r < 0)
            return r;
        char b = 0;
        if (read(g_pipe[0], &b, 1) != 1)
            return -EIO;
        return ss_writef(req, "got %c\n", b) < 0 ? -EIO : 0;
    }
    if (strcmp(line, "poke\n") == 0) { /* a request on the same loop wakes the waiter */
        if (write(g_pipe[1], "P", 1) != 1)
            return -EIO;
        return ss_write(req, "poked\n", 6) < 0 ? -EIO : 0;
    }
    if (strcmp(line, "timeout\n") == 0) {
        double t0 = h_now();
        int r = ss_wait_fd(req, g_pipe[0], POLLIN, 0.2);
        double el = h_now() - t0;
        return ss_writef(req, "%d %s\n", r, el >= 0.15 && el < 5 ? "ok" : "badtime") < 0 ? -EIO : 0;
    }
    if (strcmp(line, "pollout\n") == 0) {
        double t0 = h_now();
        int r = ss_wait_fd(req, g_pipe[1], POLLOUT, 5);
        double el = h_now() - t0;
        return ss_writef(req, "%d %s\n", r, el < 2 ? "ok" : "slow") < 0 ? -EIO : 0;
    }
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

/* A handler waits on a pipe; with one loop, others are served meanwhile. */
TEST(wait_fd_pipe_does_not_block_the_loop)
{
    static const ss_handler h = { .handle = wait_pipe_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    int a = send_line("wait\n");
    CHECK(WAIT_FOR(atomic_load(&S->waiting), 5));
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "meanwhile\n");
    char buf[32];
    CHECK_EQ_INT(h_recv_timeout(a, buf, sizeof buf, 0.05), -ETIMEDOUT);
    CHECK_EQ_INT(write(g_pipe[1], "Z", 1), 1);
    expect_line(a, "got Z\n", 5);
    close(a);

    /* Woken by another coroutine of the same loop writing the pipe. */
    atomic_store(&S->waiting, 0);
    a = send_line("wait\n");
    CHECK(WAIT_FOR(atomic_load(&S->waiting), 5));
    int b = send_line("poke\n");
    expect_line(b, "poked\n", 5);
    expect_line(a, "got P\n", 5);
    close(a);
    close(b);

    /* A timeout, and a descriptor that is ready at once. */
    char want[32];
    snprintf(want, sizeof want, "%d ok\n", -ETIMEDOUT);
    a = send_line("timeout\n");
    expect_line(a, want, 10);
    close(a);
    a = send_line("pollout\n");
    expect_line(a, "0 ok\n", 10);
    close(a);
    stop();
}

/* ss_wait_fd on the request's own connection when it is ready already:
 * input waiting in the socket (it came while the handler slept), or room
 * to write. It returns at once under every strategy, as poll() would. */
static int own_fd_handle(ss_request *req)
{
    char line[32];
    atomic_store(&S->waiting, 1);
    ssize_t n = ss_readline(req, line, sizeof line); /* waits: the client sends later */
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    atomic_store(&S->started, 1);
    int r = ss_sleep(req, 0.3); /* the client's second line arrives meanwhile */
    if (r < 0)
        return r;
    double t0 = h_now();
    int rin = ss_wait_fd(req, ss_request_fd(req), POLLIN, 1.5);
    double el_in = h_now() - t0;
    t0 = h_now();
    int rout = ss_wait_fd(req, ss_request_fd(req), POLLOUT, 1.5);
    double el_out = h_now() - t0;
    return ss_writef(req, "in %d %s, out %d %s\n", rin, el_in < 1.0 ? "at once" : "late", rout,
                     el_out < 1.0 ? "at once" : "late") < 0 ? -EIO : 0;
}

static void own_fd_test(ss_strategy strategy)
{
    static const ss_handler h = { .handle = own_fd_handle };
    begin();
    g_strategy = strategy;
    start((ss_config){ .handler = &h, .workers = 1 });
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->waiting), 5));
    h_sleep(0.05); /* the handler is in its read wait now */
    h_send_str(c, "first\n");
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    h_send_str(c, "second\n");
    expect_line(c, "in 0 at once, out 0 at once\n", 10);
    close(c);
    stop();
}

TEST(wait_fd_own_connection_ready_event) { own_fd_test(SS_EVENT); }
TEST(wait_fd_own_connection_ready_threading) { own_fd_test(SS_THREADING); }
TEST(wait_fd_own_connection_ready_pool) { own_fd_test(SS_POOL); }

/* ---- ss_run_blocking ------------------------------------------------------ */

static int blocking_read_pipe(void *arg)
{
    (void)arg;
    atomic_store(&S->blocking_in, 1);
    char b = 0;
    ssize_t r;
    do
        r = read(g_pipe[0], &b, 1); /* a real blocking call */
    while (r < 0 && errno == EINTR);
    atomic_store(&S->blocking_out, 1);
    return r == 1 ? (unsigned char)b : -EIO;
}

static int blocking_sleep_1s(void *arg)
{
    (void)arg;
    atomic_fetch_add(&S->blocking_in, 1);
    struct timespec ts = { 1, 0 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    atomic_fetch_add(&S->blocking_out, 1);
    atomic_store(&S->fn_done_at, h_now());
    return 1234;
}

static int run_blocking_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    int r;
    if (strcmp(line, "pipe\n") == 0)
        r = ss_run_blocking(req, blocking_read_pipe, NULL);
    else if (strcmp(line, "sleep\n") == 0)
        r = ss_run_blocking(req, blocking_sleep_1s, NULL);
    else
        return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
    return ss_writef(req, "%d\n", r) < 0 ? -EIO : 0;
}

/* fn blocks on a pipe (a real read()) on a helper thread; the one loop
 * serves others meanwhile; fn's result comes back to the handler. */
TEST(run_blocking_pipe_read)
{
    static const ss_handler h = { .handle = run_blocking_handle };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = 1 });
    int a = send_line("pipe\n");
    CHECK(WAIT_FOR(atomic_load(&S->blocking_in), 5));
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "served meanwhile\n");
    CHECK_EQ_INT(atomic_load(&S->blocking_out), 0);
    CHECK_EQ_INT(write(g_pipe[1], "*", 1), 1); /* '*' is 42 */
    expect_line(a, "42\n", 5);
    close(a);
    stop();
    CHECK_MSG(WAIT_FOR(h_thread_count() == baseline, 5), "%d threads after close, %d before",
              h_thread_count(), baseline);
}

/* fn sleeps one second for real: other requests on the loop are answered
 * before it returns; the handler gets 1234. */
TEST(run_blocking_sleep)
{
    static const ss_handler h = { .handle = run_blocking_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    double t0 = h_now();
    int a = send_line("sleep\n");
    CHECK(WAIT_FOR(atomic_load(&S->blocking_in) == 1, 5));
    h_exchange(srv, "one\n");
    h_exchange(srv, "two\n");
    double served = h_now();
    expect_line(a, "1234\n", 10);
    double answered = h_now();
    close(a);
    CHECK_EQ_INT(atomic_load(&S->blocking_out), 1);
    double done_at = atomic_load(&S->fn_done_at);
    CHECK_MSG(served < done_at, "the other requests waited for the blocking call "
              "(served %.3f s, call done %.3f s after the start)", served - t0, done_at - t0);
    CHECK_GE_DBL(answered - t0, 0.9);
    stop();
}

/* A blocking call that returns only once `want` of its kind run at once
 * (or after 10 s): proof, without timing, that the calls overlap. */
static int blocking_meet(void *arg)
{
    int want = *(const int *)arg;
    atomic_fetch_add(&S->blocking_in, 1);
    bool met = WAIT_FOR(atomic_load(&S->blocking_in) >= want, 10);
    atomic_fetch_add(&S->blocking_out, 1);
    return met ? 1 : 0;
}

static int meet_handle(ss_request *req)
{
    static const int three = 3;
    int r = ss_run_blocking(req, blocking_meet, (void *)&three);
    return ss_writef(req, "%d\n", r) < 0 ? -EIO : 0;
}

/* Several blocking calls at once run at the same time (helper threads),
 * while the one loop waits for them. */
TEST(run_blocking_several_overlap)
{
    static const ss_handler h = { .handle = meet_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    enum { N = 3 };
    int c[N];
    for (int i = 0; i < N; i++)
        c[i] = h_connect(srv);
    for (int i = 0; i < N; i++)
        expect_line(c[i], "1\n", 20); /* each saw all three running */
    for (int i = 0; i < N; i++)
        close(c[i]);
    CHECK_EQ_INT(atomic_load(&S->blocking_out), N);
    stop();
}

/* A drain deadline does not interrupt fn (it cannot): ss_run_blocking
 * returns its result; the handler's next I/O call is cancelled. */
static atomic_int rbd_write_ret = 99;

static int rb_drain_handle(ss_request *req)
{
    atomic_store(&S->started, 1);
    int r = ss_run_blocking(req, blocking_sleep_1s, NULL);
    S->ret[0] = r;
    atomic_store(&rbd_write_ret, (int)ss_write(req, "late\n", 5));
    return 0;
}

static int mark_finish(ss_request *req)
{
    (void)req;
    atomic_fetch_add(&S->finished, 1);
    return 0;
}

TEST(run_blocking_across_drain_deadline)
{
    static const ss_handler h = { .handle = rb_drain_handle, .finish = mark_finish };
    begin();
    start((ss_config){ .handler = &h, .workers = 1, .handle_error = NULL });
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->blocking_in) == 1, 5));
    ss_server_stop(srv, 0.1);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    ss_server_close(srv); /* waits for the request */
    srv = NULL;
    CHECK_EQ_INT(atomic_load(&S->finished), 1);
    CHECK_EQ_INT(S->ret[0], 1234);
    CHECK_EQ_INT(atomic_load(&rbd_write_ret), -ECANCELED);
    CHECK(h_wait_eof(c, 5));
    close(c);
}

/* Elsewhere ss_run_blocking calls fn in place and returns its result. */
static pid_t rb_fn_tid;

static int in_place(void *arg)
{
    rb_fn_tid = gettid();
    return *(int *)arg * 2;
}

static int rb_in_place_handle(ss_request *req)
{
    int v = 21;
    int r = ss_run_blocking(req, in_place, &v);
    return ss_writef(req, "%d %s\n", r, rb_fn_tid == gettid() ? "here" : "elsewhere") < 0 ? -EIO : 0;
}

TEST(run_blocking_in_place_other_strategies)
{
    static const ss_handler h = { .handle = rb_in_place_handle };
    ss_strategy list[] = { SS_SYNC, SS_THREADING, SS_FORKING, SS_POOL };
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) {
        g_strategy = list[i];
        start((ss_config){ .handler = &h });
        int c = h_connect(srv);
        expect_line(c, "42 here\n", 10);
        close(c);
        stop();
    }
    CHECK(h_no_children_left());
}

/* ---- ss_sleep yields ------------------------------------------------------ */

static int sleep1_handle(ss_request *req)
{
    double t0 = h_now();
    int now = atomic_fetch_add(&S->sleeping, 1) + 1;
    int max = atomic_load(&S->sleeping_max);
    while (now > max && !atomic_compare_exchange_weak(&S->sleeping_max, &max, now))
        ;
    int r = ss_sleep(req, 1.0);
    atomic_fetch_sub(&S->sleeping, 1);
    double el = h_now() - t0;
    return ss_writef(req, "%d %s\n", r, el >= 0.95 ? "slept" : "short") < 0 ? -EIO : 0;
}

/* Two requests sleeping one second each on one loop overlap: the second
 * starts sleeping while the first sleeps (a sleep that held the loop
 * would let it start only after). */
TEST(sleep_yields_to_the_loop)
{
    static const ss_handler h = { .handle = sleep1_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    int a = h_connect(srv), b = h_connect(srv);
    expect_line(a, "0 slept\n", 10);
    expect_line(b, "0 slept\n", 10);
    close(a);
    close(b);
    CHECK_EQ_INT(atomic_load(&S->sleeping_max), 2);
    stop();
}

/* Timers of different lengths on one loop end in their order. */
static int timer_handle(ss_request *req)
{
    char line[32];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return -EPROTO;
    char *end;
    long idx = strtol(line, &end, 10);
    if (end == line || idx < 0 || idx >= (long)(sizeof S->t_done / sizeof S->t_done[0]))
        return -EPROTO;
    double secs = 0.2 * (double)(idx + 1);
    double t0 = h_now();
    int r = ss_wait_fd(req, g_pipe[0], POLLIN, secs);
    S->t_done[idx] = h_now();
    S->ret[idx] = r;
    S->elapsed[idx] = S->t_done[idx] - t0;
    return ss_writef(req, "%d\n", r) < 0 ? -EIO : 0;
}

TEST(timers_end_in_order)
{
    static const ss_handler h = { .handle = timer_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    int c[3];
    const char *order[3] = { "2\n", "0\n", "1\n" }; /* 0.6 s, 0.2 s, 0.4 s */
    for (int i = 0; i < 3; i++)
        c[i] = send_line(order[i]);
    char want[16];
    snprintf(want, sizeof want, "%d\n", -ETIMEDOUT);
    for (int i = 0; i < 3; i++) {
        expect_line(c[i], want, 10);
        close(c[i]);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(S->ret[i], -ETIMEDOUT);
        CHECK_GE_DBL(S->elapsed[i], 0.2 * (i + 1) - 0.05);
    }
    CHECK_LT_DBL(S->t_done[0], S->t_done[1]);
    CHECK_LT_DBL(S->t_done[1], S->t_done[2]);
    stop();
}

/* ---- Many connections on one loop ------------------------------------------ */

static int pp_handle(ss_request *req)
{
    char line[128];
    ssize_t n;
    while ((n = ss_readline(req, line, sizeof line)) > 0)
        if (ss_write(req, line, (size_t)n) < 0)
            return -EIO;
    return n < 0 ? (int)n : 0;
}

typedef struct pp_conn {
    int fd;
    char buf[64];
    size_t got;
    bool done;
} pp_conn;

/* One ping-pong round on every connection at once: send a line on each,
 * then read every answer, with poll() over all of them. */
static void pp_round(pp_conn *cs, int n, const char *word)
{
    for (int i = 0; i < n; i++) {
        char line[64];
        int len = snprintf(line, sizeof line, "%s %d\n", word, i);
        h_send_all(cs[i].fd, line, (size_t)len);
        cs[i].got = 0;
        cs[i].done = false;
    }
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    int left = n;
    double deadline = h_now() + 60;
    while (left > 0) {
        CHECK_MSG(h_now() < deadline, "%d of %d connections unanswered after 60 s", left, n);
        for (int i = 0; i < n; i++) {
            pf[i].fd = cs[i].done ? -1 : cs[i].fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        int r = poll(pf, (nfds_t)n, 1000);
        CHECK_GE(r, 0);
        for (int i = 0; i < n && r > 0; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t k = recv(cs[i].fd, cs[i].buf + cs[i].got, sizeof cs[i].buf - 1 - cs[i].got,
                             MSG_DONTWAIT);
            CHECK_MSG(k > 0 || (k < 0 && errno == EAGAIN), "connection %d: recv %zd (%s)", i, k,
                      k < 0 ? strerror(errno) : "EOF");
            if (k <= 0)
                continue;
            cs[i].got += (size_t)k;
            cs[i].buf[cs[i].got] = '\0';
            if (memchr(cs[i].buf, '\n', cs[i].got)) {
                char want[64];
                snprintf(want, sizeof want, "%s %d\n", word, i);
                CHECK_EQ_STR(cs[i].buf, want);
                cs[i].done = true;
                left--;
            }
        }
    }
    free(pf);
}

TEST_T(many_connections_one_loop, 120)
{
    enum { N = 2000 };
    static const ss_handler h = { .handle = pp_handle };
    struct rlimit rl;
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * N + 100)
        SKIP("RLIMIT_NOFILE %llu is below the %d fds this needs", (unsigned long long)rl.rlim_cur,
             2 * N + 100);
    start((ss_config){ .handler = &h, .workers = 1, .request_queue_size = 4096 });
    socklen_t alen = 0;
    const struct sockaddr *sa = ss_server_address(srv, &alen);
    pp_conn *cs = calloc(N, sizeof *cs);
    for (int i = 0; i < N; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK_GE(cs[i].fd, 0);
        int r = connect(cs[i].fd, sa, alen);
        CHECK_MSG(r == 0 || errno == EINPROGRESS, "connect %d: %s", i, strerror(errno));
    }
    /* Every connect completes. */
    for (int i = 0; i < N; i++) {
        struct pollfd p = { .fd = cs[i].fd, .events = POLLOUT };
        CHECK_EQ_INT(poll(&p, 1, 10000), 1);
        int err = 0;
        socklen_t el = sizeof err;
        CHECK_EQ_INT(getsockopt(cs[i].fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
        CHECK_MSG(err == 0, "connection %d: %s", i, strerror(err));
    }
    pp_round(cs, N, "ping");
    /* All N requests are alive at once, on the one loop. */
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, N);
    CHECK_EQ_INT(st.active, N);
    CHECK_EQ_INT(st.threads, 1);
    pp_round(cs, N, "pong");
    pp_round(cs, N, "ping again");
    for (int i = 0; i < N; i++)
        close(cs[i].fd);
    free(cs);
    CHECK_MSG(WAIT_FOR(h_stats(srv).active == 0, 30), "%u requests still active",
              h_stats(srv).active);
    st = h_stats(srv);
    CHECK_EQ_INT(st.completed, N);
    CHECK_EQ_INT(st.errors, 0);
    stop();
}

/* ---- Datagrams on several loops --------------------------------------------- */

static int dg_handle(ss_request *req)
{
    char msg[64];
    ssize_t n = ss_read(req, msg, sizeof msg - 1);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    msg[n] = '\0';
    note_tid();
    int r = ss_sleep(req, 0.005); /* a yield in the middle */
    if (r < 0)
        return r;
    return ss_writef(req, "echo:%s", msg) < 0 ? -EIO : 0;
}

static void dgram_loops_test(const char *listen)
{
    static const ss_handler h = { .handle = dg_handle };
    begin();
    start((ss_config){ .listen = listen, .handler = &h, .workers = 3 });
    CHECK_EQ_INT(h_stats(srv).threads, 3);
    enum { NC = 4, NM = 25 };
    int c[NC];
    for (int i = 0; i < NC; i++)
        c[i] = h_connect(srv);
    for (int m = 0; m < NM; m++)
        for (int i = 0; i < NC; i++) {
            char msg[32];
            int len = snprintf(msg, sizeof msg, "c%d-m%d", i, m);
            CHECK_EQ_INT(send(c[i], msg, (size_t)len, 0), len);
        }
    for (int i = 0; i < NC; i++) {
        bool seen[NM] = { false };
        for (int m = 0; m < NM; m++) {
            char reply[64];
            ssize_t n = h_recv_timeout(c[i], reply, sizeof reply - 1, 10);
            CHECK_GT(n, 0);
            reply[n] = '\0';
            char head[32]; /* "echo:c<i>-m<m>" */
            int hlen = snprintf(head, sizeof head, "echo:c%d-m", i);
            CHECK_MSG(strncmp(reply, head, (size_t)hlen) == 0, "bad reply %s", reply);
            char *end;
            long mi = strtol(reply + hlen, &end, 10);
            CHECK_MSG(*end == '\0' && end != reply + hlen && mi >= 0 && mi < NM, "bad reply %s", reply);
            CHECK_MSG(!seen[mi], "reply %s twice", reply);
            seen[mi] = true;
        }
        close(c[i]);
    }
    h_note("%d datagrams handled on %d of 3 loops", NC * NM, distinct_tids());
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 5));
    CHECK_EQ_INT(h_stats(srv).completed, NC * NM);
    stop();
}

TEST(datagram_udp_several_loops) { dgram_loops_test("udp://127.0.0.1:0"); }
TEST(datagram_unix_several_loops) { dgram_loops_test(h_url("unix-dgram:", "ev.dgram")); }

/* ---- request_timeout from the loop's timers ----------------------------------- */

static int rt_handle(ss_request *req)
{
    char line[64];
    double t0 = h_now();
    ssize_t n = ss_readline(req, line, sizeof line);
    double el = h_now() - t0;
    if (n > 0)
        return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
    atomic_store(&S->started, 1);
    S->ret[0] = (int)n;
    S->elapsed[0] = el;
    return ss_writef(req, "%zd\n", n) < 0 ? -EIO : 0;
}

/* An idle client times out with -ETIMEDOUT while the loop serves others. */
TEST(request_timeout_event)
{
    static const ss_handler h = { .handle = rt_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1, .request_timeout = 0.3 });
    int idle = h_connect(srv);
    for (int i = 0; i < 3; i++)
        h_exchange(srv, "busy\n");
    char want[16];
    snprintf(want, sizeof want, "%d\n", -ETIMEDOUT);
    expect_line(idle, want, 10);
    close(idle);
    CHECK_EQ_INT(S->ret[0], -ETIMEDOUT);
    CHECK_GE_DBL(S->elapsed[0], 0.25);
    CHECK_LT_DBL(S->elapsed[0], 5.0);
    stop();
}

/* ---- Drain, shutdown, handle_request, close ------------------------------------ */

static int blocked_reader(ss_request *req)
{
    atomic_fetch_add(&S->started, 1);
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line); /* the client never sends */
    if (n == -ECANCELED)
        atomic_fetch_add(&S->cancelled, 1);
    return n < 0 ? (int)n : 0;
}

static void drain_handle_error(ss_server *s, ss_request *req, int err)
{
    (void)s;
    (void)req;
    (void)err;
}

/* Many blocked readers on two loops: all cut short at the deadline with
 * -ECANCELED, finish runs for each, close returns. */
TEST(drain_cancels_many_blocked_readers)
{
    enum { N = 40 };
    static const ss_handler h = { .handle = blocked_reader, .finish = mark_finish };
    begin();
    start((ss_config){ .handler = &h, .workers = 2, .handle_error = drain_handle_error });
    int c[N];
    for (int i = 0; i < N; i++)
        c[i] = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started) == N, 10));
    double t0 = h_now();
    ss_server_stop(srv, 0.3);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    CHECK(WAIT_FOR(atomic_load(&S->finished) == N, 10));
    double el = h_now() - t0;
    CHECK_GE_DBL(el, 0.25);
    CHECK_EQ_INT(atomic_load(&S->cancelled), N);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.cancelled, N);
    double tc = h_now();
    ss_server_close(srv);
    srv = NULL;
    CHECK_LT_DBL(h_now() - tc, 5.0);
    for (int i = 0; i < N; i++) {
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
}

/* ss_shutdown from a handler: serve_forever returns, and the other requests
 * in flight on the loop run to their end. */
static int sd_handle(ss_request *req)
{
    char line[64];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return -EPROTO;
    if (strcmp(line, "shutdown\n") == 0) {
        ss_shutdown(ss_request_server(req));
        return ss_write(req, "bye\n", 4) < 0 ? -EIO : 0;
    }
    atomic_store(&S->started, 1);
    int r = ss_sleep(req, 0.3);
    if (r < 0)
        return r;
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

TEST(shutdown_from_handler_others_finish)
{
    static const ss_handler h = { .handle = sd_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    int slow = send_line("slow\n");
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    int s = send_line("shutdown\n");
    expect_line(s, "bye\n", 5);
    CHECK_EQ_INT(h_serve_join(&sv, 5), 0);
    expect_line(slow, "slow\n", 5);
    close(s);
    close(slow);
    ss_server_close(srv);
    srv = NULL;
}

/* ss_handle_request hands the request to a loop (in turn) and returns. */
static int hr_handle(ss_request *req)
{
    note_tid();
    atomic_store(&S->waiting, 1);
    int r = ss_wait_fd(req, g_pipe[0], POLLIN, 10);
    if (r < 0)
        return r;
    return ss_write(req, "handled\n", 8) < 0 ? -EIO : 0;
}

TEST(handle_request_hands_to_loops)
{
    static const ss_handler h = { .handle = hr_handle };
    begin();
    ss_server *s = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &h,
                                              .strategy = SS_EVENT, .workers = 2 });
    enum { N = 4 };
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = h_connect(s);
        /* Returns while the handler still waits (on the pipe): it runs on a loop. */
        CHECK_EQ_INT(ss_handle_request(s), 0);
    }
    CHECK(WAIT_FOR(atomic_load(&S->ntids) == N, 5));
    CHECK_EQ_INT(h_stats(s).active, N);
    CHECK_EQ_INT(write(g_pipe[1], "go", 2), 2); /* never read: stays readable */
    for (int i = 0; i < N; i++) {
        char buf[32];
        CHECK_GT(h_recv_line(c[i], buf, sizeof buf, 5), 0);
        CHECK_EQ_STR(buf, "handled\n");
        close(c[i]);
    }
    ss_server_close(s);
    for (int i = 0; i < N; i++)
        CHECK_NE_INT(S->tids[i], gettid());
    CHECK_EQ_INT(distinct_tids(), 2);
}

/* ss_server_close with requests in flight. */
static int inflight_handle(ss_request *req)
{
    atomic_fetch_add(&S->started, 1);
    int r = ss_sleep(req, 1.0);
    if (r < 0)
        return r;
    int w = ss_write(req, "done\n", 5) == 5 ? 0 : -EIO;
    atomic_fetch_add(&S->finished, 1);
    return w;
}

static void close_in_flight_test(bool no_block)
{
    enum { N = 20 };
    static const ss_handler h = { .handle = inflight_handle };
    begin();
    int baseline = h_thread_baseline();
    start((ss_config){ .handler = &h, .workers = 2, .no_block_on_close = no_block });
    int c[N];
    for (int i = 0; i < N; i++)
        c[i] = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started) == N, 5));
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    ss_server_close(srv);
    srv = NULL;
    int finished_at_close = atomic_load(&S->finished);
    if (no_block)
        CHECK_LT(finished_at_close, N); /* it did not wait (the handlers sleep 1 s) */
    else
        CHECK_EQ_INT(finished_at_close, N);
    for (int i = 0; i < N; i++) {
        expect_line(c[i], "done\n", 10);
        CHECK(h_wait_eof(c[i], 5));
        close(c[i]);
    }
    CHECK(WAIT_FOR(atomic_load(&S->finished) == N, 10));
    /* Wait for the loops to be gone before exiting. */
    CHECK_MSG(WAIT_FOR(h_thread_count() == baseline, 10), "%d threads after close, %d before",
              h_thread_count(), baseline);
}

TEST(close_with_requests_in_flight) { close_in_flight_test(false); }
TEST(close_with_requests_in_flight_no_block) { close_in_flight_test(true); }

/* ---- Loops ------------------------------------------------------------------- */

/* workers loops, each a thread (default: the online CPUs). */
TEST(loop_count)
{
    static const ss_handler empty = { 0 };
    int baseline = h_thread_baseline();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ss_server *s = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                              .strategy = SS_EVENT });
    CHECK_EQ_INT(h_stats(s).threads, cpus);
    CHECK_EQ_INT(h_thread_count(), baseline + cpus);
    ss_server_close(s);
    CHECK_EQ_INT(h_thread_count(), baseline);
    s = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                   .strategy = SS_EVENT, .workers = 3 });
    CHECK_EQ_INT(h_stats(s).threads, 3);
    CHECK_EQ_INT(h_thread_count(), baseline + 3);
    ss_server_close(s);
    CHECK_EQ_INT(h_thread_count(), baseline);
}

/* A handler that holds its loop (a plain blocking call, or long computing)
 * stalls that loop only: ss_shutdown still makes serve_forever return at
 * once, as under threading. */
static int hog_handle(ss_request *req)
{
    (void)req;
    atomic_store(&S->started, 1);
    h_sleep(2); /* not through the library: the loop is held */
    atomic_store(&S->finished, 1);
    return 0;
}

TEST(shutdown_while_a_handler_holds_its_loop)
{
    static const ss_handler h = { .handle = hog_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 2 });
    int c = h_connect(srv);
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    double t0 = h_now();
    ss_shutdown(srv);
    bool returned = WAIT_FOR(atomic_load(&sv.done), 1.0);
    double el = h_now() - t0;
    int held = !atomic_load(&S->finished);
    CHECK_EQ_INT(h_serve_join(&sv, 10), 0);
    ss_server_close(srv);
    srv = NULL;
    close(c);
    CHECK_MSG(returned, "serve_forever returned %.2f s after ss_shutdown, once the handler "
              "let go of its loop (held: %d)", el, held);
}

/* serve_forever started and stopped at once, then close, many times over:
 * close may only close the listener once no loop touches it any more (a
 * loop still turning accepting on or off while the fd is closed would work
 * on a closed, or reused, descriptor). Meant for TSan. */
TEST(serve_stop_close_at_once_repeatedly)
{
    enum { K = 20 };
    static const ss_handler empty = { 0 };
    int fds = h_count_fds();
    for (int round = 0; round < 5; round++) {
        ss_server *s[K];
        h_serve hs[K];
        for (int i = 0; i < K; i++)
            s[i] = h_server_new(&(ss_config){ .listen = "tcp://127.0.0.1:0", .handler = &empty,
                                              .strategy = SS_EVENT, .workers = 2 });
        for (int i = 0; i < K; i++) {
            h_serve_start(&hs[i], s[i], 0.01);
            ss_shutdown(s[i]);
        }
        for (int i = 0; i < K; i++) {
            CHECK_EQ_INT(h_serve_join(&hs[i], 10), 0);
            ss_server_close(s[i]);
        }
    }
    CHECK_EQ_INT(h_count_fds(), fds);
}

/* Once serve_forever has returned, nothing more is accepted until it is
 * called again, even when a loop was held by a handler at the time (the
 * stop and a new client then reach the loop together). */
static int hold_handle(ss_request *req)
{
    char line[32];
    ssize_t n = ss_readline(req, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    if (strcmp(line, "hold\n") == 0) {
        atomic_store(&S->started, 1);
        h_sleep(0.5); /* not through the library: the loop is held */
    }
    return ss_write(req, line, (size_t)n) < 0 ? -EIO : 0;
}

TEST(nothing_accepted_after_serve_forever_returned)
{
    static const ss_handler h = { .handle = hold_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1 });
    int held = send_line("hold\n");
    CHECK(WAIT_FOR(atomic_load(&S->started), 5));
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    int c = send_line("between\n");
    expect_line(held, "hold\n", 5);
    char buf[32];
    CHECK_EQ_INT(h_recv_line(c, buf, sizeof buf, 0.5), -ETIMEDOUT);
    CHECK_EQ_INT(h_stats(srv).accepted, 1);
    h_serve_start(&sv, srv, 0.01);
    expect_line(c, "between\n", 5);
    close(c);
    close(held);
    stop();
}

/* The same with the loop busy in the accept path itself (a slow
 * verify_request) when serve_forever returns: the rest of its accept batch
 * must not take the client that connects afterwards. */
static bool slow_verify(ss_server *s, ss_request *req)
{
    (void)s;
    (void)req;
    if (atomic_fetch_add(&S->waiting, 1) == 0)
        h_sleep(0.5);
    return true;
}

TEST(nothing_accepted_after_serve_forever_returned_slow_verify)
{
    static const ss_handler h = { .handle = hold_handle };
    begin();
    start((ss_config){ .handler = &h, .workers = 1, .verify_request = slow_verify });
    int first = send_line("first\n");
    CHECK(WAIT_FOR(atomic_load(&S->waiting) == 1, 5));
    CHECK_EQ_INT(h_serve_stop(&sv), 0);
    int c = send_line("between\n");
    expect_line(first, "first\n", 5);
    char buf[32];
    CHECK_EQ_INT(h_recv_line(c, buf, sizeof buf, 0.5), -ETIMEDOUT);
    CHECK_EQ_INT(h_stats(srv).accepted, 1);
    h_serve_start(&sv, srv, 0.01);
    expect_line(c, "between\n", 5);
    close(c);
    close(first);
    stop();
}

/* ---- max_connections ------------------------------------------------------------ */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A client leaves: shutdown first, as a forked server's children hold
 * copies of this process's descriptors. */
static void leave(int c)
{
    shutdown(c, SHUT_RDWR);
    close(c);
}

/* n clients connected and held (each echo is a request in flight): the
 * next client's connect succeeds (the backlog) but it is not accepted, and
 * nothing spins meanwhile; once one of the n leaves, it is served. Nothing
 * is accepted and closed or refused on the way. (Under sync the one
 * request in flight holds the serving thread anyway: n is 1 there.) */
static void max_connections_test(ss_strategy strategy, int n)
{
    begin();
    g_strategy = strategy;
    start((ss_config){ .handler = &h_echo_lines_handler, .max_connections = n, .workers = 2 });
    int c[8];
    for (int i = 0; i < n; i++) {
        char line[32];
        snprintf(line, sizeof line, "held %d\n", i);
        c[i] = send_line(line);
        expect_line(c[i], line, 10);
    }
    CHECK_EQ_INT(h_stats(srv).accepted, n);
    double w0 = h_now(), c0 = cpu_seconds();
    int extra = send_line("extra\n");
    char buf[32];
    CHECK_EQ_INT(h_recv_line(extra, buf, sizeof buf, 0.5), -ETIMEDOUT);
    double wall = h_now() - w0, cpu = cpu_seconds() - c0;
    h_note("%s: %.3f s of CPU in %.3f s at the limit", h_strategy_name(strategy), cpu, wall);
    CHECK_MSG(cpu < 0.5 * wall, "%.3f s of CPU in %.3f s at the limit: something spins", cpu, wall);
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, n);
    CHECK_EQ_INT(st.active, n);
    h_send_str(c[0], "still served\n"); /* those in flight go on */
    expect_line(c[0], "still served\n", 10);
    leave(c[n - 1]);
    expect_line(extra, "extra\n", 10);
    /* At the limit again: the next one waits for the next to leave. */
    int extra2 = send_line("extra2\n");
    CHECK_EQ_INT(h_recv_line(extra2, buf, sizeof buf, 0.3), -ETIMEDOUT);
    CHECK_EQ_INT(h_stats(srv).accepted, n + 1);
    leave(extra);
    expect_line(extra2, "extra2\n", 10);
    leave(extra2);
    for (int i = 0; i < n - 1; i++)
        leave(c[i]);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, n + 2);
    CHECK_EQ_INT(st.completed, n + 2);
    CHECK_EQ_INT(st.accept_errors, 0);
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.errors, 0);
    stop();
}

TEST(max_connections_event) { max_connections_test(SS_EVENT, 3); }
TEST(max_connections_pool) { max_connections_test(SS_POOL, 3); }
TEST(max_connections_threading) { max_connections_test(SS_THREADING, 3); }
TEST(max_connections_forking) { max_connections_test(SS_FORKING, 3); }
TEST(max_connections_sync) { max_connections_test(SS_SYNC, 1); }

/* Many short clients from several threads against a limit of 2: every
 * release must let a waiting client in (a wake lost between a loop's
 * "full" and a slot freeing would leave the listener dropped for good). */
static void *churn_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        h_exchange(srv, "churn\n");
    return NULL;
}

static void max_connections_churn_test(ss_strategy strategy)
{
    enum { T = 4 };
    g_strategy = strategy;
    start((ss_config){ .handler = &h_echo_line_handler, .max_connections = 2, .workers = 2 });
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, churn_thread, NULL), 0);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    CHECK(WAIT_FOR(h_stats(srv).active == 0, 10));
    ss_stats st = h_stats(srv);
    CHECK_EQ_INT(st.accepted, T * 50);
    CHECK_EQ_INT(st.completed, T * 50);
    CHECK_EQ_INT(st.accept_errors, 0);
    stop();
}

TEST(max_connections_churn_event) { max_connections_churn_test(SS_EVENT); }
TEST(max_connections_churn_pool) { max_connections_churn_test(SS_POOL); }
