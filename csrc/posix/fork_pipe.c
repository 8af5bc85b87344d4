/*
 * fork_pipe.c - see fork_pipe.h; and SIGCHLD held at SIG_DFL while the library
 * waits for a child of its own (reexec_sigchld_*, see reexec_upgrade.h).
 *
 * Linux makes the pipe close-on-exec atomically (pipe2, O_CLOEXEC), so a thread
 * that execs meanwhile cannot inherit it; macOS has no pipe2, so elsewhere the flag
 * is set right after pipe().
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pipe2 */
#endif

#include "fork_pipe.h"
#include "reexec_upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
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

/* The caller's struct sigaction must fit in reexec_sigchld.saved. */
typedef char reexec_sigaction_fits[sizeof(struct sigaction) <= sizeof(((reexec_sigchld *)0)->saved) ? 1 : -1];

int reexec_sigchld_default(reexec_sigchld *state)
{
    struct sigaction old, dfl;

    if (state == NULL)
        return EINVAL;
    memset(state, 0, sizeof *state);
    if (sigaction(SIGCHLD, NULL, &old) != 0)
        return errno;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN)
        state->was = REEXEC_SIGCHLD_IGNORED;
    else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
        state->was = (old.sa_flags & SA_NOCLDWAIT) ? REEXEC_SIGCHLD_NOCLDWAIT : REEXEC_SIGCHLD_DEFAULT;
    else
        state->was = REEXEC_SIGCHLD_HANDLED;
    if (state->was == REEXEC_SIGCHLD_DEFAULT)
        return 0;
    memcpy(state->saved, &old, sizeof old);
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGCHLD, &dfl, NULL) != 0) {
        int err = errno;
        state->was = REEXEC_SIGCHLD_DEFAULT;
        return err;
    }
    return 0;
}

void reexec_sigchld_restore(const reexec_sigchld *state, int notify)
{
    struct sigaction old;

    if (state == NULL || state->was == REEXEC_SIGCHLD_DEFAULT)
        return;
    memcpy(&old, state->saved, sizeof old);
    sigaction(SIGCHLD, &old, NULL);
    if (notify && state->was == REEXEC_SIGCHLD_HANDLED)
        kill(getpid(), SIGCHLD);
}
