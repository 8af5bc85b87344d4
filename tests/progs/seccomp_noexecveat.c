/* seccomp_noexecveat: run a program with execveat(2) refused by a seccomp filter.
 *
 *   seccomp_noexecveat [-e ERRNO] PROGRAM ARGS...
 *
 * Installs a classic-BPF seccomp filter (PR_SET_NO_NEW_PRIVS + PR_SET_SECCOMP) that
 * makes __NR_execveat fail with ERRNO (default ENOSYS: what an old kernel or an
 * "overzealous" container profile gives), then execvp()s PROGRAM. The filter is
 * inherited across exec and fork, so PROGRAM and everything it runs see it.
 * Exit 120 when the kernel refuses the filter (the test skips), 127 when PROGRAM
 * cannot be run. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_I386
#else
#error "add this architecture's AUDIT_ARCH_* here"
#endif

int main(int argc, char **argv)
{
    int err = ENOSYS;
    int first = 1;

    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        err = atoi(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-e ERRNO] PROGRAM ARGS...\n", argv[0]);
        return 2;
    }
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("seccomp_noexecveat: PR_SET_NO_NEW_PRIVS");
        return 120;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp_noexecveat: PR_SET_SECCOMP");
        return 120;
    }
    execvp(argv[first], argv + first);
    perror("seccomp_noexecveat: execvp");
    return 127;
}
