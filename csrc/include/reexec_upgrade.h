/*
 * reexec_upgrade.h - descriptors across the exec, a child that runs the opened image,
 * and waiting for a file name to come back. Plain C99, no Python.h.
 *
 * Kept beside reexec.h (not in it) so the upgrade mechanism can change on its own.
 * Every call does one syscall sequence and returns 0 or an errno; ENOSYS where the
 * platform has no such mechanism (Windows; inotify off Linux).
 */
#ifndef REEXEC_UPGRADE_H
#define REEXEC_UPGRADE_H

#include "reexec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* systemd's SD_LISTEN_FDS_START: the first passed descriptor is 3. */
#define REEXEC_LISTEN_FDS_START 3

/* What the exec should see of the descriptor table, and what to undo if it fails.
 *   listen[i]  -> placed at 3 + i, inheritable (a dup; listen[i] itself is untouched)
 *   inherit[]  -> stay at their numbers, made inheritable (pass_fds)
 *   cloexec[]  -> currently inheritable descriptors to mark close-on-exec
 * scratch holds 3 * nlisten + ninherit + ncloexec ints, owned by the caller; it is
 * the saved state reexec_fds_restore() needs. */
typedef struct reexec_fdplan {
    int nlisten;
    const int *listen;
    int ninherit;
    const int *inherit;
    int ncloexec;
    const int *cloexec;
    int *scratch;
} reexec_fdplan;

/* Apply the plan. Returns 0, or an errno (EMFILE, EBADF...) with the table as it was. */
int reexec_fds_place(reexec_fdplan *plan);

/* Put back the numbers, files and close-on-exec flags the plan changed. */
void reexec_fds_restore(reexec_fdplan *plan);

/* Where the descriptor that was at `fd` before reexec_fds_place() is now: a slot's
 * previous occupant moves to a close-on-exec duplicate; any other fd stays. */
int reexec_fds_moved(const reexec_fdplan *plan, int fd);

/* SIGCHLD as the caller had it, while the library waits for a child of its own.
 * Ignored (SIG_IGN) or with SA_NOCLDWAIT, the kernel reaps children itself and
 * waitpid() fails with ECHILD once the child is gone; a handler may reap it first.
 * So SIGCHLD is at SIG_DFL from before the fork until the child was waited for. */
#define REEXEC_SIGCHLD_DEFAULT   0 /* SIG_DFL: nothing was changed */
#define REEXEC_SIGCHLD_IGNORED   1 /* SIG_IGN */
#define REEXEC_SIGCHLD_NOCLDWAIT 2 /* SIG_DFL with SA_NOCLDWAIT */
#define REEXEC_SIGCHLD_HANDLED   3 /* a handler */
typedef struct reexec_sigchld {
    int was;              /* REEXEC_SIGCHLD_*: the caller's disposition */
    long long saved[32];  /* the caller's struct sigaction (opaque) */
} reexec_sigchld;

/* Save SIGCHLD's disposition in *state and, unless it is plain SIG_DFL, set SIG_DFL.
 * Returns 0 or an errno (the disposition unchanged); ENOSYS on Windows. */
int reexec_sigchld_default(reexec_sigchld *state);

/* Put back what reexec_sigchld_default saved. With `notify` and a handler saved,
 * SIGCHLD is raised once: children that ended meanwhile are the handler's to reap. */
void reexec_sigchld_restore(const reexec_sigchld *state, int notify);

/* The pidfd inode id of process `pid`, which systemd (v258+) passes as LISTEN_PIDFDID:
 * a pidfd from pidfd_open(pid), on pidfs (Linux 6.9+), names the process by a 64-bit
 * inode number that is never reused (a PID is). Read as systemd does: the pidfs file
 * handle (Linux 6.14+), else st_ino where that is 64 bits wide. Returns 0 with *id_out
 * set; EOPNOTSUPP where pidfds are not on pidfs (Linux 5.3-6.8) or only a 32-bit inode
 * number is available; ENOSYS without pidfd_open (older kernels or headers, off
 * Linux); or pidfd_open's errno (ESRCH, EMFILE...). Only syscalls: a forked child may
 * call it. */
int reexec_pidfd_id(int pid, unsigned long long *id_out);

/* pidfd_open(pid, 0) (Linux 5.3+): 0 with *fd_out a close-on-exec descriptor that
 * names process `pid` until it is reaped and never another (close it with close()),
 * or an errno: ENOSYS without pidfd_open (older kernels or headers, off Linux), ESRCH,
 * EMFILE... For interpreters whose os module has no pidfd_open (PyPy 7.3). */
int reexec_pidfd_open(int pid, int *fd_out);

/* pidfd_send_signal(pidfd, sig, NULL, 0) (Linux 5.1+): 0, or an errno (ESRCH: the
 * process has ended; ENOSYS as for reexec_pidfd_open). */
int reexec_pidfd_send_signal(int pidfd, int sig);

/* fork, then in the child: stdio[i] >= 0 becomes descriptor i, the plan is applied
 * (NULL: no change), the decimal PID of the child is written at pid_digits (a buffer
 * of at least 21 bytes inside one of envp's strings, or NULL), its pidfd inode id
 * (reexec_pidfd_id) at pidfdid_digits (the same kind of buffer, or NULL; ask for it
 * only where reexec_pidfd_id works for this process: if the child cannot get its own,
 * it does not run and that errno is returned), SIGCHLD goes back to what `sigchld`
 * saved (NULL: left as it is; exec keeps SIG_IGN, a handler becomes SIG_DFL),
 * SIGPIPE/SIGXFSZ go back to SIG_DFL with an empty signal mask (kept with
 * REEXEC_EXEC_KEEP_MASK in tiers), and the program runs: through
 * reexec_exec(exe, path, ..., tiers) when exe is not NULL (the same tiers, so the
 * same image, as an exec in this process), else execve(path).
 * Returns 0 with *pid_out set, or the errno with which the child could not exec
 * (the child then has been reaped). */
int reexec_spawn(const reexec_exe *exe, const char *path, char *const argv[],
                 char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                 char *pid_digits, char *pidfdid_digits, const int stdio[3],
                 const reexec_sigchld *sigchld, int *pid_out);

/* inotify watch on directory `dir` for names created, moved in, closed after
 * writing or changed in attributes. Returns 0 with *fd_out (close-on-exec,
 * non-blocking; close it with close()), or an errno; ENOSYS off Linux. */
int reexec_watch_open(const char *dir, int *fd_out);

/* Closing the last reference to an inotify instance waits for an SRCU grace period
 * (fsnotify group teardown: 1-16 ms measured here), and exec closes it (it is
 * close-on-exec) before the new program runs. This hands a reference to a holder
 * process (double fork, reparented to init; it keeps only that descriptor and a pipe)
 * which exits, paying for the teardown, once *release_out (close-on-exec) is closed:
 * at our exec, or by the caller. Returns 0 or an errno; ENOSYS off Linux. */
int reexec_watch_hold(int fd, int *release_out);

/* Wait up to timeout_ms for an event about `name` on a watch from
 * reexec_watch_open. Returns 0 when one came (or the queue overflowed: anything
 * may have happened), ETIMEDOUT, EIDRM when the directory itself went away (the
 * watch is dead), EINTR, or another errno. */
int reexec_watch_wait(int fd, const char *name, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* REEXEC_UPGRADE_H */
