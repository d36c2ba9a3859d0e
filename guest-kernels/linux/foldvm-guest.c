// foldvm-guest: the L2 initramfs's port-I/O helper (freestanding, raw syscalls,
// no libc). Built by build-initramfs with the host gcc.
//
//   foldvm-guest mark [VALUE]   boot marker: writes VALUE (default 123) to port 0x600
//   foldvm-guest exit STATUS    exit port: writes STATUS (0-255) to port 0x601
//   foldvm-guest outb PORT VAL  any port (decimal or 0x hex), e.g. isa-debug-exit
//
// Under foldvm the exit write ends the VM, so `exit` does not return there.
// Elsewhere (QEMU) the ports are unassigned and the writes are ignored;
// the program then exits 0 and the caller falls back to `reboot -f`.
// Exit status: 0 written, 1 ioperm refused, 2 usage, 3 the port write faulted
// (seen under nested TCG SVM once the hypervisor rewrote TR as a busy TSS: the
// TSS I/O bitmap is then ignored) -- reported quietly, without a core.

typedef unsigned long u64;

#define SYS_write 1
#define SYS_rt_sigaction 13
#define SIGSEGV 11
#define SA_RESTORER 0x04000000
#define SYS_ioperm 173
#define SYS_exit_group 231

static long sys3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static long sys4(long nr, long a, long b, long c, long d) {
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static u64 len(const char* s) {
    u64 n = 0;
    while (s[n])
        ++n;
    return n;
}

static void say(const char* s) {
    sys3(SYS_write, 2, (long)s, (long)len(s));
}

static __attribute__((noreturn)) void quit(int status) {
    for (;;)
        sys3(SYS_exit_group, status, 0, 0);
}

static __attribute__((noreturn)) void usage(void) {
    say("usage: foldvm-guest mark [VALUE] | exit STATUS | outb PORT VALUE\n");
    quit(2);
}

// Parses decimal or 0x-prefixed hex; returns -1 on junk or overflow past max.
static long number(const char* s, long max) {
    long v = 0, base = 10;
    if (!s || !*s) return -1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s) return -1;
    }
    for (; *s; ++s) {
        long d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return -1;
        v = v * base + d;
        if (v > max) return -1;
    }
    return v;
}

static void on_fault(int sig) {
    (void)sig;
    say("foldvm-guest: port write faulted (no I/O permission)\n");
    quit(3);
}

struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static void restorer(void) {
    quit(3);
} // never used: on_fault does not return

static void outb(long port, long value) {
    struct kernel_sigaction sa = {on_fault, SA_RESTORER, restorer, 0};
    sys4(SYS_rt_sigaction, SIGSEGV, (long)&sa, 0, sizeof sa.mask);

    if (sys3(SYS_ioperm, port, 1, 1) != 0) {
        say("foldvm-guest: ioperm failed (not root?)\n");
        quit(1);
    }
    __asm__ volatile("outb %b0, %w1" : : "a"(value), "Nd"(port));
}

static int streq(const char* a, const char* b) {
    while (*a && *a == *b)
        ++a, ++b;
    return *a == *b;
}

int main_c(long argc, char** argv) {
    if (argc < 2) usage();
    const char* cmd = argv[1];
    if (streq(cmd, "mark")) {
        long v = argc > 2 ? number(argv[2], 255) : 123;
        if (v < 0) usage();
        outb(0x600, v);
    } else if (streq(cmd, "exit")) {
        long v = argc > 2 ? number(argv[2], 255) : -1;
        if (v < 0) usage();
        outb(0x601, v);
    } else if (streq(cmd, "outb")) {
        long port = argc > 2 ? number(argv[2], 0xffff) : -1;
        long v = argc > 3 ? number(argv[3], 255) : -1;
        if (port < 0 || v < 0) usage();
        outb(port, v);
    } else {
        usage();
    }
    return 0;
}

__asm__(".globl _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov (%rsp), %rdi\n"
        "  lea 8(%rsp), %rsi\n"
        "  and $-16, %rsp\n"
        "  call main_c\n"
        "  mov %eax, %edi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "  hlt\n");
