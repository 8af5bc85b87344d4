/*
 * fds_unsupported.c - descriptor placement and reexec_spawn on Windows, which has
 * no descriptor inheritance by number and no fork: ENOSYS (reexec_fds_moved: the
 * descriptor did not move), and no pidfds. The POSIX implementation is
 * posix/reexec_fds.c.
 */
#include "reexec_upgrade.h"

#include <errno.h>
#include <stddef.h>

int reexec_fds_place(reexec_fdplan *plan)
{
    (void)plan;
    return ENOSYS;
}

void reexec_fds_restore(reexec_fdplan *plan)
{
    (void)plan;
}

int reexec_fds_moved(const reexec_fdplan *plan, int fd)
{
    (void)plan;
    return fd;
}

int reexec_pidfd_id(int pid, unsigned long long *id_out)
{
    (void)pid;
    (void)id_out;
    return ENOSYS;
}

int reexec_spawn(const reexec_exe *exe, const char *path, char *const argv[],
                 char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                 char *pid_digits, char *pidfdid_digits, const int stdio[3], int *pid_out)
{
    (void)exe;
    (void)path;
    (void)argv;
    (void)envp;
    (void)tiers;
    (void)plan;
    (void)pid_digits;
    (void)pidfdid_digits;
    (void)stdio;
    if (pid_out != NULL)
        *pid_out = -1;
    return ENOSYS;
}
