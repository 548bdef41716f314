/* switch_aarch64.S: the coroutine context switch for AArch64 (AAPCS64): callee-saved registers only. */
#if defined(__aarch64__)
    .text
    .globl  ss__coro_switch
    .hidden ss__coro_switch
    .type   ss__coro_switch, %function
/* void ss__coro_switch(void **save_sp, void *load_sp)
 * Save x19-x30 and d8-d15 (and FPCR) below the stack pointer, store it in
 * *save_sp, load load_sp and restore the same frame; `ret` goes to x30. */
ss__coro_switch:
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret
    .size   ss__coro_switch, .-ss__coro_switch

    .globl  ss__coro_boot
    .hidden ss__coro_boot
    .type   ss__coro_boot, %function
/* First code a new coroutine runs: x19 holds the coroutine, x20 the entry. */
ss__coro_boot:
    mov     x0, x19
    mov     x29, #0
    blr     x20
    brk     #0
    .size   ss__coro_boot, .-ss__coro_boot
#endif
    .section .note.GNU-stack,"",%progbits
