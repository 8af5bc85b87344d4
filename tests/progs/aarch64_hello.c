/* aarch64_hello: a tiny aarch64 Linux program without libc (write, exit), cross-built
 * with `python -m ziglang cc -target aarch64-linux-musl -nostdlib -static` for the
 * pre-exec machine check (tests/test_preflight.py). */
static const char msg[] = "hello-aarch64\n";
void _start(void)
{
    register long x0 __asm__("x0") = 1;
    register const char *x1 __asm__("x1") = msg;
    register long x2 __asm__("x2") = sizeof msg - 1;
    register long x8 __asm__("x8") = 64; /* write */
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x8) : "memory");
    x0 = 0;
    x8 = 93; /* exit */
    __asm__ volatile("svc 0" : : "r"(x0), "r"(x8));
    for (;;) {}
}
