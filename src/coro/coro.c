/* coro.c: stackful coroutines: mmap'd stacks above a 64 KiB PROT_NONE guard region, switched by switch_<arch>.S. */
#include "coro/coro.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SS_TSAN 1
#endif
#endif

#ifdef SS_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif
#ifdef SS_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h> /* macros only: no run-time dependency */
#define SS_VALGRIND 1
#endif
#endif

void ss__coro_switch(void **save_sp, void *load_sp);
void ss__coro_boot(void);

struct ss__coro {
    void *sp;                 /* saved stack pointer while suspended */
    void *caller_sp;          /* the resumer's, while running */
    char *map;                /* guard + stack */
    size_t map_size, guard;
    void (*fn)(void *);
    void *arg;
    bool done;
    void *parked;             /* the frames while parked (ss__coro_park), or NULL */
    size_t parked_len;
#ifdef SS_VALGRIND
    unsigned vg_stack;        /* the stack as registered with valgrind */
#endif
#ifdef SS_ASAN
    void *fake_stack;
    const void *caller_bottom;
    size_t caller_size;
#endif
#ifdef SS_TSAN
    void *fiber, *caller_fiber;
#endif
};

static _Thread_local ss__coro *current;

static size_t page_size(void)
{
    static atomic_size_t page; /* loops on several threads ask */
    size_t p = atomic_load_explicit(&page, memory_order_relaxed);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page, p, memory_order_relaxed);
    }
    return p;
}

/* Called on the coroutine's stack (from ss__coro_boot). */
static void coro_main(ss__coro *co)
{
#ifdef SS_ASAN
    __sanitizer_finish_switch_fiber(NULL, &co->caller_bottom, &co->caller_size);
#endif
    co->fn(co->arg);
    co->done = true;
#ifdef SS_ASAN
    __sanitizer_start_switch_fiber(NULL, co->caller_bottom, co->caller_size);
#endif
#ifdef SS_TSAN
    __tsan_switch_to_fiber(co->caller_fiber, 0);
#endif
    ss__coro_switch(&co->sp, co->caller_sp);
    abort(); /* a finished coroutine is never resumed */
}

void ss__coro_reset(ss__coro *co, void (*fn)(void *), void *arg)
{
    char *top = co->map + co->map_size; /* page-aligned, so 16-byte aligned */
    co->fn = fn;
    co->arg = arg;
    co->done = false;
#if defined(__x86_64__)
    /* The frame ss__coro_switch pops: control words, r15, r14, r13 (entry),
     * r12 (coroutine), rbx, rbp, return address. */
    uint64_t *frame = (uint64_t *)(void *)(top - 64);
    frame[0] = 0x1F80u | ((uint64_t)0x037F << 32); /* MXCSR, x87 control word */
    frame[1] = frame[2] = 0;
    frame[3] = (uint64_t)(uintptr_t)coro_main;
    frame[4] = (uint64_t)(uintptr_t)co;
    frame[5] = frame[6] = 0;
    frame[7] = (uint64_t)(uintptr_t)ss__coro_boot;
    co->sp = frame;
#elif defined(__aarch64__)
    uint64_t *frame = (uint64_t *)(void *)(top - 176);
    for (int i = 0; i < 22; i++)
        frame[i] = 0;
    frame[0] = (uint64_t)(uintptr_t)co;        /* x19 */
    frame[1] = (uint64_t)(uintptr_t)coro_main; /* x20 */
    frame[11] = (uint64_t)(uintptr_t)ss__coro_boot; /* x30 */
    co->sp = frame;
#else
#error "sockserv's coroutines need x86-64 or AArch64"
#endif
#ifdef SS_TSAN
    if (!co->fiber)
        co->fiber = __tsan_create_fiber(0);
#endif
}

ss__coro *ss__coro_new(size_t stack_size, void (*fn)(void *), void *arg)
{
    size_t page = page_size();
    size_t guard = SS__CORO_GUARD > page ? SS__CORO_GUARD : page;
    size_t size = (stack_size + page - 1) / page * page + guard;
    ss__coro *co = calloc(1, sizeof *co);
    if (!co)
        return NULL;
    co->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (co->map == MAP_FAILED) {
        free(co);
        return NULL;
    }
    /* The lowest pages fault: an overflow crashes instead of corrupting,
     * even from a frame of up to SS__CORO_GUARD bytes that skips a page. */
    if (mprotect(co->map, guard, PROT_NONE) < 0) {
        int err = errno;
        munmap(co->map, size);
        free(co);
        errno = err;
        return NULL;
    }
    co->map_size = size;
    co->guard = guard;
#ifdef SS_VALGRIND
    co->vg_stack = VALGRIND_STACK_REGISTER(co->map + guard, co->map + size);
#endif
    ss__coro_reset(co, fn, arg);
    return co;
}

/* A parked coroutine's frames go back where they were (the same
 * addresses: pointers into them stay right). */
static void unpark(ss__coro *co)
{
    memcpy(co->sp, co->parked, co->parked_len);
    free(co->parked);
    co->parked = NULL;
}

void ss__coro_resume(ss__coro *co)
{
    if (co->parked)
        unpark(co);
    ss__coro *prev = current;
    current = co;
#ifdef SS_ASAN
    void *fake;
    __sanitizer_start_switch_fiber(&fake, co->map + co->guard, co->map_size - co->guard);
#endif
#ifdef SS_TSAN
    co->caller_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->fiber, 0);
#endif
    ss__coro_switch(&co->caller_sp, co->sp);
#ifdef SS_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    current = prev;
}

void ss__coro_yield(void)
{
    ss__coro *co = current;
#ifdef SS_ASAN
    __sanitizer_start_switch_fiber(&co->fake_stack, co->caller_bottom, co->caller_size);
#endif
#ifdef SS_TSAN
    __tsan_switch_to_fiber(co->caller_fiber, 0);
#endif
    ss__coro_switch(&co->sp, co->caller_sp);
#ifdef SS_ASAN
    __sanitizer_finish_switch_fiber(co->fake_stack, &co->caller_bottom, &co->caller_size);
#endif
}

void ss__coro_trim(ss__coro *co)
{
    char *base = co->map + co->guard;
    char *sp = (char *)co->sp;
    if (co->done || co == current || sp <= base)
        return;
    size_t below = (size_t)(sp - base);
    below -= below % page_size(); /* the page holding sp stays */
    if (below > 0)
        madvise(base, below, MADV_DONTNEED);
}

bool ss__coro_park(ss__coro *co)
{
#ifdef SS_ASAN
    /* Its frames' red zones stay poisoned while it is away: copying them
     * back would be reported. Trimmed instead. */
    (void)co;
    return false;
#else
    char *base = co->map + co->guard;
    char *top = co->map + co->map_size;
    char *sp = (char *)co->sp;
    if (co->done || co == current || co->parked || sp <= base || sp >= top)
        return false;
    size_t used = (size_t)(top - sp);
    if (used > page_size() || !(co->parked = malloc(used)))
        return false;
    memcpy(co->parked, sp, used);
    co->parked_len = used;
    madvise(base, (size_t)(top - base), MADV_DONTNEED);
    return true;
#endif
}

ss__coro *ss__coro_current(void)
{
    return current;
}

bool ss__coro_done(const ss__coro *co)
{
    return co->done;
}

void ss__coro_free(ss__coro *co)
{
    if (!co)
        return;
#ifdef SS_TSAN
    if (co->fiber)
        __tsan_destroy_fiber(co->fiber);
#endif
#ifdef SS_VALGRIND
    VALGRIND_STACK_DEREGISTER(co->vg_stack);
#endif
    munmap(co->map, co->map_size);
    free(co->parked);
    free(co);
}
