/* Guest entry. The monitor enters here in 64-bit mode at CPL 3 with
 * RDI = boot-info gpa and RSP = FOLDVM_STACK_TOP. We only rely on RDI and
 * a usable RSP; everything else is set up here. */
    .section .text.start, "ax"
    .globl _start
    .type _start, @function
_start:
    mov     %rdi, %r12          /* boot info; r12 survives the calls below */
    and     $-16, %rsp          /* SysV: 16-byte aligned at each call */
    xor     %ebp, %ebp          /* terminate frame-pointer chains */
    cld

    /* Zero .bss ourselves: the monitor may only copy the file image. */
    lea     __bss_start(%rip), %rdi
    lea     __bss_end(%rip), %rcx
    sub     %rdi, %rcx
    xor     %eax, %eax
    rep stosb

    mov     %r12, %rdi
    call    rt_init             /* -> rax = cmdline */
    mov     %rax, %r13
    call    rt_bootinfo         /* validated boot info (may be a copy) */
    mov     %rax, %rdi
    mov     %r13, %rsi
    call    main
    mov     %eax, %edi
    call    rt_exit
    ud2                         /* not reached: rt_exit does not return */
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
