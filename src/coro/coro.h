/* coro.h: stackful coroutines, the tasks of the event loops (event and pool strategies; internal). */
#ifndef SS_CORO_H
#define SS_CORO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ss__coro ss__coro;

/* The PROT_NONE region below each stack: costs address space only. */
#define SS__CORO_GUARD ((size_t)64 * 1024)

/* A coroutine with a stack of stack_size bytes (rounded up to pages) above a
 * PROT_NONE guard of SS__CORO_GUARD bytes, that will run fn(arg) when first resumed. NULL with
 * errno set on failure. */
ss__coro *ss__coro_new(size_t stack_size, void (*fn)(void *), void *arg);
/* Make a finished coroutine run fn(arg) afresh on the same stack. */
void ss__coro_reset(ss__coro *co, void (*fn)(void *), void *arg);
/* Run co until it yields or returns; back in the caller afterwards. */
void ss__coro_resume(ss__coro *co);
/* From inside a coroutine: go back to whoever resumed it. */
void ss__coro_yield(void);
/* A suspended coroutine's stack pages below its frames go back to the
 * system (they hold nothing live; touched again, they come back zeroed):
 * an idle coroutine then holds only the stack it uses now, not the most
 * it ever used. */
void ss__coro_trim(ss__coro *co);
/* More than trimmed: a suspended coroutine's frames (at most a page) are
 * copied to the heap and its whole stack goes back to the system, until
 * ss__coro_resume copies them back to the same addresses. An idle
 * coroutine then holds the few hundred bytes its frames take, not a page.
 * Only for a coroutine whose stack nobody reads or writes while it is
 * suspended (no other thread or coroutine holds a pointer into it). False,
 * and nothing done, when its frames take more than a page, memory is
 * short, or under AddressSanitizer. */
bool ss__coro_park(ss__coro *co);
/* The coroutine running on this thread, or NULL. */
ss__coro *ss__coro_current(void);
bool ss__coro_done(const ss__coro *co);
void ss__coro_free(ss__coro *co);

#endif
