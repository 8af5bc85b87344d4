/*
 * reexec_check.c - ask the kernel whether it would execute a descriptor, without
 * executing it: execveat(fd, "", argv, envp, AT_EMPTY_PATH | AT_EXECVE_CHECK).
 *
 * AT_EXECVE_CHECK (Linux 6.14, commit a5874fde3c08 "exec: Add a new AT_EXECVE_CHECK
 * flag to execveat(2)") runs exec's permission, noexec-mount, LSM and deny-write
 * (ETXTBSY) checks and returns; the binary format is not looked at (a truncated
 * image passes). Kernels before 6.14 refuse the unknown flag with EINVAL, reported
 * here as ENOSYS, as everywhere without execveat. What to do with the answer is the
 * Python layer's choice (reexec_native/_preflight.py). Linux only: elsewhere
 * unsupported/check_unsupported.c answers ENOSYS.
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall() */
#endif

#include "reexec.h"
#include "linux_compat.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int reexec_check(int fd)
{
#if defined(SYS_execveat)
    static char arg0[] = "";
    char *const argv[] = {arg0, NULL};
    char *const envp[] = {NULL};
    long r;

    if (fd < 0)
        return EBADF;
    do {
        r = syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH | AT_EXECVE_CHECK);
    } while (r != 0 && errno == EINTR);
    if (r == 0)
        return 0;
    return errno == EINVAL ? ENOSYS : errno;
#else
    (void)fd; /* kernel headers older than 3.19: no execveat */
    return ENOSYS;
#endif
}
