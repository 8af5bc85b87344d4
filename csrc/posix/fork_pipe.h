/*
 * fork_pipe.h - a fork with a close-on-exec pipe between parent and child, and
 * reaping that child: the sequence reexec_spawn (reexec_fds.c) and reexec_watch_hold
 * (reexec_wait.c) both start with. Private to csrc/posix/, not part of the API.
 */
#ifndef REEXEC_FORK_PIPE_H
#define REEXEC_FORK_PIPE_H

#include <sys/types.h>

/* Make a close-on-exec pipe (pipe_fds[0] reads, pipe_fds[1] writes), then fork.
 * Returns 0 with *pid_out set (0 in the child, where both ends are still open), or
 * the errno of the pipe or the fork with no descriptor left open. */
int reexec_fork_with_pipe(int pipe_fds[2], pid_t *pid_out);

/* waitpid(pid) until it answers other than EINTR. Returns 0 with *status set, or errno. */
int reexec_reap(pid_t pid, int *status);

#endif /* REEXEC_FORK_PIPE_H */
