/* switch_x86_64.S: the coroutine context switch for x86-64 (System V): callee-saved registers only. */
#if defined(__x86_64__)
    .text
    .globl  ss__coro_switch
    .hidden ss__coro_switch
    .type   ss__coro_switch, @function
/* void ss__coro_switch(void **save_sp, void *load_sp)
 * Push the callee-saved registers and the x87/SSE control words on the
 * current stack, store the stack pointer in *save_sp, switch to load_sp and
 * pop the same frame from there; `ret` continues the other side. */
ss__coro_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   ss__coro_switch, .-ss__coro_switch

    .globl  ss__coro_boot
    .hidden ss__coro_boot
    .type   ss__coro_boot, @function
/* First code a new coroutine runs: its frame put the coroutine in r12 and
 * the entry function in r13. The entry never returns. */
ss__coro_boot:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   ss__coro_boot, .-ss__coro_boot
#endif
    .section .note.GNU-stack,"",@progbits
