/* harness.h: a small libuv-style test harness: TEST() cases, each run in its own forked child with a timeout. */
#ifndef SS_TEST_HARNESS_H
#define SS_TEST_HARNESS_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockserv.h"

/*
 * Defining cases
 * --------------
 *   TEST(name) { ...body... }            default timeout (30 s)
 *   TEST_T(name, seconds) { ...body... } own timeout
 * Cases register themselves; the harness provides main(). A case passes when
 * its body returns (and the process exits cleanly); a failed CHECK ends the
 * case at once; SKIP() ends it as skipped, which is counted and printed apart
 * ("skip NAME (Ts): REASON", then "N passed, S skipped, F failed"). The
 * program exits 1 when a case failed, H_EXIT_SKIPPED when every case it ran
 * was skipped (ctest's SKIP_RETURN_CODE: the test shows as Skipped), 0
 * otherwise. `prog [NAME...]` runs the named cases only, `prog --list`
 * lists them. The environment variable SS_TEST_TIMEOUT_MULT multiplies every
 * timeout (for valgrind). Each case runs in its own process group with its
 * own temporary directory (h_tmpdir()), and processes it leaves behind make
 * it fail.
 */
typedef void (*h_test_fn)(void);
void h_register(const char *name, h_test_fn fn, unsigned timeout, int line);

#define H_DEFAULT_TIMEOUT 30u
/* The exit status of a program whose every case was skipped (as automake's). */
#define H_EXIT_SKIPPED 77

#define TEST_T(name, secs)                                                    \
    static void test_##name(void);                                            \
    __attribute__((constructor)) static void h_register_##name(void)          \
    {                                                                         \
        h_register(#name, test_##name, (secs), __LINE__);                     \
    }                                                                         \
    static void test_##name(void)
#define TEST(name) TEST_T(name, H_DEFAULT_TIMEOUT)
/* A case run in each strategy: TEST_EACH_STRATEGY(name, set) { body }
 * defines name, name_threading, name_forking, name_pool and name_event,
 * each calling set(its strategy) and then the body. */
#define TEST_EACH_STRATEGY(name, set)                                         \
    static void body_##name(void);                                            \
    TEST(name) { set(SS_SYNC); body_##name(); }                               \
    TEST(name##_threading) { set(SS_THREADING); body_##name(); }              \
    TEST(name##_forking) { set(SS_FORKING); body_##name(); }                  \
    TEST(name##_pool) { set(SS_POOL); body_##name(); }                        \
    TEST(name##_event) { set(SS_EVENT); body_##name(); }                      \
    static void body_##name(void)

/* ---- Failing and skipping ---------------------------------------------- */

/* Report a failure (file:line: message) and end the process (a case, or a
 * library child running a handler, which the runner notices too). */
void h_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* End the case as skipped (counted apart from the passed ones), printing the reason. */
void h_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Text of an integer, with the errno name when it looks like -errno. */
const char *h_int_text(long long v, char *buf, size_t size);
/* A note printed to stderr, prefixed with the case's name. */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define SKIP(...) h_skip(__VA_ARGS__)
#define FAIL(...) h_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            h_fail(__FILE__, __LINE__, "CHECK(%s) is false", #cond);          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                  \
    do {                                                                      \
        if (!(cond))                                                          \
            h_fail(__FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)

#define H_CHECK_CMP(a, op, b, name)                                           \
    do {                                                                      \
        long long h_a_ = (long long)(a), h_b_ = (long long)(b);               \
        if (!(h_a_ op h_b_)) {                                                \
            char h_ta_[96], h_tb_[96];                                        \
            h_fail(__FILE__, __LINE__, "%s(%s, %s): %s vs %s", name, #a, #b,  \
                   h_int_text(h_a_, h_ta_, sizeof h_ta_),                     \
                   h_int_text(h_b_, h_tb_, sizeof h_tb_));                    \
        }                                                                     \
    } while (0)

#define CHECK_EQ_INT(a, b) H_CHECK_CMP(a, ==, b, "CHECK_EQ_INT")
#define CHECK_NE_INT(a, b) H_CHECK_CMP(a, !=, b, "CHECK_NE_INT")
#define CHECK_LT(a, b) H_CHECK_CMP(a, <, b, "CHECK_LT")
#define CHECK_LE(a, b) H_CHECK_CMP(a, <=, b, "CHECK_LE")
#define CHECK_GT(a, b) H_CHECK_CMP(a, >, b, "CHECK_GT")
#define CHECK_GE(a, b) H_CHECK_CMP(a, >=, b, "CHECK_GE")

#define CHECK_LT_DBL(a, b)                                                    \
    do {                                                                      \
        double h_a_ = (a), h_b_ = (b);                                        \
        if (!(h_a_ < h_b_))                                                   \
            h_fail(__FILE__, __LINE__, "CHECK_LT_DBL(%s, %s): %.3f vs %.3f",  \
                   #a, #b, h_a_, h_b_);                                       \
    } while (0)
#define CHECK_GE_DBL(a, b)                                                    \
    do {                                                                      \
        double h_a_ = (a), h_b_ = (b);                                        \
        if (!(h_a_ >= h_b_))                                                  \
            h_fail(__FILE__, __LINE__, "CHECK_GE_DBL(%s, %s): %.3f vs %.3f",  \
                   #a, #b, h_a_, h_b_);                                       \
    } while (0)

/* The negative-errno convention: ret >= 0, else print ss_strerror(ret). */
#define CHECK_OK(ret)                                                         \
    do {                                                                      \
        long long h_r_ = (long long)(ret);                                    \
        if (h_r_ < 0) {                                                       \
            char h_t_[96];                                                    \
            h_fail(__FILE__, __LINE__, "CHECK_OK(%s): %s: %s", #ret,          \
                   h_int_text(h_r_, h_t_, sizeof h_t_),                       \
                   ss_strerror((int)h_r_));                                   \
        }                                                                     \
    } while (0)

/* errno must be e (prints both with their names). */
#define CHECK_ERRNO(e)                                                        \
    do {                                                                      \
        int h_e_ = errno, h_w_ = (e);                                         \
        if (h_e_ != h_w_) {                                                   \
            const char *h_n1_ = strerrorname_np(h_e_), *h_n2_ = strerrorname_np(h_w_); \
            h_fail(__FILE__, __LINE__, "CHECK_ERRNO(%s): errno is %d (%s), expected %d (%s)", \
                   #e, h_e_, h_n1_ ? h_n1_ : "?", h_w_, h_n2_ ? h_n2_ : "?");  \
        }                                                                     \
    } while (0)

/* A pointer result that must not be NULL (prints errno). */
#define CHECK_NOT_NULL(p)                                                     \
    do {                                                                      \
        if ((p) == NULL) {                                                    \
            int h_e_ = errno;                                                 \
            h_fail(__FILE__, __LINE__, "CHECK_NOT_NULL(%s): NULL, errno %d (%s)", \
                   #p, h_e_, strerror(h_e_));                                 \
        }                                                                     \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                    \
    do {                                                                      \
        const char *h_a_ = (a), *h_b_ = (b);                                  \
        if (!((h_a_ == NULL && h_b_ == NULL) ||                               \
              (h_a_ != NULL && h_b_ != NULL && strcmp(h_a_, h_b_) == 0)))     \
            h_fail(__FILE__, __LINE__, "CHECK_EQ_STR(%s, %s): \"%s\" vs \"%s\"", \
                   #a, #b, h_a_ ? h_a_ : "(null)", h_b_ ? h_b_ : "(null)");   \
    } while (0)

/* Memory equality: on failure, prints the first differing offset and bytes. */
void h_check_mem(const char *file, int line, const char *ea, const char *eb,
                 const void *a, const void *b, size_t n);
#define CHECK_EQ_MEM(a, b, n) h_check_mem(__FILE__, __LINE__, #a, #b, (a), (b), (n))

/* ---- Time ------------------------------------------------------------- */

double h_now(void);             /* monotonic seconds */
void h_sleep(double seconds);

/* Poll `cond` every 2 ms for up to `secs` seconds; evaluates to its last value. */
#define WAIT_FOR(cond, secs)                                                  \
    __extension__({                                                           \
        double h_deadline_ = h_now() + (secs);                                \
        bool h_ok_;                                                           \
        while (!(h_ok_ = (cond)) && h_now() < h_deadline_)                    \
            h_sleep(0.002);                                                   \
        h_ok_;                                                                \
    })

/* ---- Files and paths -------------------------------------------------- */

/* The case's own temporary directory (removed by the runner afterwards). */
const char *h_tmpdir(void);
/* h_tmpdir()/name, in one of a few rotating static buffers. */
const char *h_path(const char *name);
/* prefix + h_path(name), e.g. h_url("unix:", "s.sock"), rotating buffers. */
const char *h_url(const char *prefix, const char *name);
/* A random name: prefix followed by 12 hex digits. */
void h_random_name(char *buf, size_t size, const char *prefix);
/* Append a string with one O_APPEND write (safe across processes). */
void h_append_file(const char *path, const char *text);
/* Read a whole (small) file, NUL-terminated; returns its length or -1. */
ssize_t h_read_file(const char *path, char *buf, size_t size);
bool h_exists(const char *path);

/* ---- Server helpers --------------------------------------------------- */

/* ss_server_new() that fails the case on NULL. */
ss_server *h_server_new(const ss_config *cfg);

/* ss_serve_forever() on its own thread. */
typedef struct h_serve {
    pthread_t thread;
    ss_server *srv;
    double poll_interval;
    int rc;
    atomic_int done;
    bool started;
} h_serve;
void h_serve_start(h_serve *s, ss_server *srv, double poll_interval);
/* Join, failing the case if serve_forever does not return within `timeout`
 * seconds; returns serve_forever's result. */
int h_serve_join(h_serve *s, double timeout);
/* ss_shutdown() then h_serve_join(s, 10). */
int h_serve_stop(h_serve *s);

ss_stats h_stats(const ss_server *srv);
/* Same socket address? (family, then port+address, or the Unix path/name) */
bool h_addr_equal(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b, socklen_t blen);
/* Fails the case unless ss_server_address() matches getsockname() of ss_server_fd(). */
void h_check_server_address(const ss_server *srv);

/* SO_TYPE of the server's socket. */
int h_server_socktype(const ss_server *srv);
/* The port of a TCP/UDP server, from ss_server_address(). */
int h_server_port(const ss_server *srv);

/* The echo handler of CPython's tests: read one line, write it back
 * (stream: over the connection; datagram: from the packet into the reply). */
extern const ss_handler h_echo_line_handler;
/* Echo every line until end of input. */
extern const ss_handler h_echo_lines_handler;

/* ---- Client helpers --------------------------------------------------- */

/* A client connected to the server's address (stream or datagram; a Unix
 * datagram client is autobound to an abstract name so replies reach it). */
int h_connect(const ss_server *srv);
/* Same, to an explicit address. */
int h_connect_addr(const struct sockaddr *sa, socklen_t len, int type);
/* A client connected to IP ("127.0.0.1", "::1", ...) and port (fails the case on error). */
int h_connect_ip(const char *ip, int port, int type);
/* send() everything (fails the case on error). */
void h_send_all(int fd, const void *buf, size_t n);
void h_send_str(int fd, const char *s);
/* One recv() after waiting up to `timeout`: n > 0, 0 at EOF, -ETIMEDOUT, or -errno. */
ssize_t h_recv_timeout(int fd, void *buf, size_t n, double timeout);
/* Receive exactly n bytes (fewer only at EOF) within `timeout` overall;
 * returns the count, or -ETIMEDOUT / -errno when nothing more could be read. */
ssize_t h_recv_exact(int fd, void *buf, size_t n, double timeout);
/* Receive up to and including '\n' (or EOF), NUL-terminated, within timeout. */
ssize_t h_recv_line(int fd, char *buf, size_t size, double timeout);
/* Read and discard until EOF (or a reset); true when it came within timeout. */
bool h_wait_eof(int fd, double timeout);
/* Exchange one line with a server (send, receive the answer line); fails the case
 * if the answer differs. */
void h_exchange(const ss_server *srv, const char *line);
/* Connect n clients, each sending "client I\n" (I its index), into fds[]. */
void h_connect_clients(const ss_server *srv, int *fds, int n);

/* Put 200 KiB of locals on the calling stack (a handler's: a thread's or a
 * coroutine's), touching every page; returns a sum of them, the same every
 * time (h_big_stack_sum() without the stack). */
unsigned h_use_big_stack(void);
unsigned h_big_stack_sum(void);

/* ---- Process helpers -------------------------------------------------- */

int h_count_fds(void);
/* Is fd open? / close-on-exec? */
bool h_fd_open(int fd);
bool h_is_cloexec(int fd);
/* Children of this process (up to max pids into out, may be NULL); returns the count. */
int h_children(pid_t *out, int max);
/* State letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), 0 when gone. */
char h_proc_state(pid_t pid);
/* True when waitpid(-1, WNOHANG) says this process has no child at all. */
bool h_no_children_left(void);
long h_vmrss_kb(void);
/* Threads of this process (the "Threads:" line of /proc/self/status). */
int h_thread_count(void);
/* Zeroed memory shared with forked children (MAP_SHARED). */
void *h_shared_alloc(size_t n);
void h_shared_free(void *p, size_t n);
/* Can this machine bind the IPv6 loopback? */
bool h_have_ipv6(void);
/* Built with a sanitizer (ASan or TSan)? */
bool h_sanitized(void);

/* ---- Strategies ------------------------------------------------------- */

/* A strategy's name ("sync", ..., "event"), or "?" for a value that is no
 * strategy. The list is the library's: a case visits every strategy with
 * for (ss_strategy s = 0; ss_strategy_name(s); s++), as sockserv.h says. */
const char *h_strategy_name(ss_strategy s);
/* Threads of this process once a first extra thread has come and gone (so a
 * sanitizer's own background thread is counted): a baseline to return to. */
int h_thread_baseline(void);
/* Entries of /proc/self/task. */
int h_task_count(void);

#endif /* SS_TEST_HARNESS_H */
