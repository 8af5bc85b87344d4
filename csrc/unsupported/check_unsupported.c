/*
 * check_unsupported.c - reexec_check where there is no execveat(AT_EXECVE_CHECK)
 * (macOS, FreeBSD, Windows): ENOSYS, "this kernel cannot tell", as reexec.h says.
 * The Linux implementation is posix/reexec_check.c.
 */
#include "reexec.h"

#include <errno.h>

int reexec_check(int fd)
{
    (void)fd;
    return ENOSYS;
}
