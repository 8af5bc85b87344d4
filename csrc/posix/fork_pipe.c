/*
 * fork_pipe.c - see fork_pipe.h.
 *
 * Linux makes the pipe close-on-exec atomically (pipe2, O_CLOEXEC), so a thread
 * that execs meanwhile cannot inherit it; macOS has no pipe2, so elsewhere the flag
 * is set right after pipe().
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pipe2 */
#endif

#include "fork_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int cloexec_pipe(int pipe_fds[2])
{
#if defined(__linux__)
    return pipe2(pipe_fds, O_CLOEXEC) == 0 ? 0 : errno;
#else
    int err;

    if (pipe(pipe_fds) != 0)
        return errno;
    if (fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC) == 0)
        return 0;
    err = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return err;
#endif
}

int reexec_fork_with_pipe(int pipe_fds[2], pid_t *pid_out)
{
    int err = cloexec_pipe(pipe_fds);
    pid_t pid;

    if (err != 0)
        return err;
    pid = fork();
    if (pid < 0) {
        err = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return err;
    }
    *pid_out = pid;
    return 0;
}

int reexec_reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}
