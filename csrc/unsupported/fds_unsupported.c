/*
 * fds_unsupported.c - descriptor placement and reexec_spawn on Windows, which has
 * no descriptor inheritance by number and no fork: ENOSYS (reexec_fds_moved: the
 * descriptor did not move), no pidfds, nor SIGCHLD: reexec_sigchld_default answers
 * ENOSYS. The POSIX implementation is posix/reexec_fds.c.
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

int reexec_pidfd_open(int pid, int *fd_out)
{
    (void)pid;
    if (fd_out != NULL)
        *fd_out = -1;
    return ENOSYS;
}

int reexec_pidfd_send_signal(int pidfd, int sig)
{
    (void)pidfd;
    (void)sig;
    return ENOSYS;
}

int reexec_spawn(const reexec_exe *exe, const char *path, char *const argv[],
                 char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                 char *pid_digits, char *pidfdid_digits, const int stdio[3],
                 const reexec_sigchld *sigchld, int *pid_out)
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
    (void)sigchld;
    if (pid_out != NULL)
        *pid_out = -1;
    return ENOSYS;
}

int reexec_sigchld_default(reexec_sigchld *state)
{
    if (state != NULL)
        state->was = REEXEC_SIGCHLD_DEFAULT;
    return ENOSYS;
}

void reexec_sigchld_restore(const reexec_sigchld *state, int notify)
{
    (void)state;
    (void)notify;
}
