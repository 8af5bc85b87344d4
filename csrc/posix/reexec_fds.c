/*
 * reexec_fds.c - descriptors across the exec (systemd's socket-activation layout)
 * and a forked child that runs the opened image; see reexec_upgrade.h.
 *
 * Placement is undoable: every descriptor that sat on a slot 3.. is kept as a
 * close-on-exec duplicate, every flag changed is remembered, so a failed exec leaves
 * the table as it was (same numbers, same files, same flags). Only async-signal-safe
 * calls (fcntl, dup2, close), so reexec_spawn's child can apply a plan after fork.
 * reexec_pidfd_id (systemd's LISTEN_PIDFDID) is here too: only syscalls, so that
 * child can name itself.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include "reexec_upgrade.h"
#include "fork_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include "linux_compat.h" /* AT_EMPTY_PATH */
#define PIDFS_MAGIC 0x50494446UL /* PID_FS_MAGIC, linux/magic.h (Linux 6.9) */
#define PIDFS_FILEID 0xfe        /* FILEID_KERNFS, linux/exportfs.h: pidfs handles (6.14) */
#endif

/* scratch layout: tmp[n] | saved[n] | flags[n] | inherit_flags[ninherit] | changed[ncloexec] */
#define TMP(p, i) ((p)->scratch[(i)])
#define SAVED(p, i) ((p)->scratch[(p)->nlisten + (i)])
#define FLAGS(p, i) ((p)->scratch[2 * (p)->nlisten + (i)])
#define INHERIT_FLAGS(p, i) ((p)->scratch[3 * (p)->nlisten + (i)])
#define CHANGED(p, i) ((p)->scratch[3 * (p)->nlisten + (p)->ninherit + (i)])

#define SLOT_UNTOUCHED (-2) /* FLAGS: not reached yet */
#define SLOT_WAS_EMPTY (-1) /* FLAGS: nothing was open there */

static void close_quietly(int fd)
{
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
}

static int dup_high(int fd, int min)
{
    int copy;
    do {
        copy = fcntl(fd, F_DUPFD_CLOEXEC, min);
    } while (copy < 0 && errno == EINTR);
    return copy;
}

static int set_fd_flags(int fd, int flags)
{
    return fcntl(fd, F_SETFD, flags) == 0 ? 0 : errno;
}

void reexec_fds_restore(reexec_fdplan *p)
{
    int i, slot;

    if (p == NULL || p->scratch == NULL)
        return;
    for (i = 0; i < p->ncloexec; i++) {
        if (CHANGED(p, i) >= 0) {
            set_fd_flags(p->cloexec[i], CHANGED(p, i));
            CHANGED(p, i) = -1;
        }
    }
    for (i = 0; i < p->ninherit; i++) {
        if (INHERIT_FLAGS(p, i) >= 0) {
            set_fd_flags(p->inherit[i], INHERIT_FLAGS(p, i));
            INHERIT_FLAGS(p, i) = -1;
        }
    }
    for (i = 0; i < p->nlisten; i++) {
        slot = REEXEC_LISTEN_FDS_START + i;
        if (FLAGS(p, i) >= 0 && SAVED(p, i) >= 0) {
            while (dup2(SAVED(p, i), slot) < 0 && errno == EINTR) {
            }
            set_fd_flags(slot, FLAGS(p, i));
            close_quietly(SAVED(p, i));
        } else if (FLAGS(p, i) == SLOT_WAS_EMPTY) {
            close_quietly(slot);
        }
        SAVED(p, i) = -1;
        FLAGS(p, i) = SLOT_UNTOUCHED;
        close_quietly(TMP(p, i));
        TMP(p, i) = -1;
    }
}

int reexec_fds_place(reexec_fdplan *p)
{
    int i, slot, flags, err, above;
    int total;

    if (p == NULL || p->nlisten < 0 || p->ninherit < 0 || p->ncloexec < 0)
        return EINVAL;
    total = 3 * p->nlisten + p->ninherit + p->ncloexec;
    if (total > 0 && p->scratch == NULL)
        return EINVAL;
    for (i = 0; i < p->nlisten; i++) {
        TMP(p, i) = -1;
        SAVED(p, i) = -1;
        FLAGS(p, i) = SLOT_UNTOUCHED;
    }
    for (i = 0; i < p->ninherit; i++)
        INHERIT_FLAGS(p, i) = -1;
    for (i = 0; i < p->ncloexec; i++)
        CHANGED(p, i) = -1;
    above = REEXEC_LISTEN_FDS_START + p->nlisten;

    /* 1. Copies of the sources out of the slot range: a source may sit on a slot
     *    another source goes to ([4, 3] swaps them). */
    for (i = 0; i < p->nlisten; i++) {
        TMP(p, i) = dup_high(p->listen[i], above);
        if (TMP(p, i) < 0)
            goto undo;
    }
    /* 2. Keep whatever occupies each slot, with its flags, then put the source there
     *    (dup2 clears close-on-exec on the new descriptor). */
    for (i = 0; i < p->nlisten; i++) {
        slot = REEXEC_LISTEN_FDS_START + i;
        flags = fcntl(slot, F_GETFD);
        if (flags < 0) {
            if (errno != EBADF)
                goto undo;
            FLAGS(p, i) = SLOT_WAS_EMPTY;
        } else {
            SAVED(p, i) = dup_high(slot, above);
            if (SAVED(p, i) < 0)
                goto undo;
            FLAGS(p, i) = flags;
        }
        while (dup2(TMP(p, i), slot) < 0) {
            if (errno != EINTR)
                goto undo;
        }
        close_quietly(TMP(p, i));
        TMP(p, i) = -1;
    }
    /* 3. pass_fds: inheritable where they are. */
    for (i = 0; i < p->ninherit; i++) {
        flags = fcntl(p->inherit[i], F_GETFD);
        if (flags < 0)
            goto undo;
        if ((err = set_fd_flags(p->inherit[i], flags & ~FD_CLOEXEC)) != 0) {
            errno = err;
            goto undo;
        }
        INHERIT_FLAGS(p, i) = flags;
    }
    /* 4. Everything else: close-on-exec. A descriptor closed meanwhile is skipped. */
    for (i = 0; i < p->ncloexec; i++) {
        flags = fcntl(p->cloexec[i], F_GETFD);
        if (flags < 0 || (flags & FD_CLOEXEC))
            continue;
        if ((err = set_fd_flags(p->cloexec[i], flags | FD_CLOEXEC)) != 0) {
            errno = err;
            goto undo;
        }
        CHANGED(p, i) = flags;
    }
    return 0;

undo:
    err = errno ? errno : EINVAL;
    reexec_fds_restore(p);
    return err;
}

int reexec_fds_moved(const reexec_fdplan *p, int fd)
{
    int i;

    if (p == NULL || p->scratch == NULL)
        return fd;
    i = fd - REEXEC_LISTEN_FDS_START;
    if (i >= 0 && i < p->nlisten && FLAGS(p, i) >= 0 && SAVED(p, i) >= 0)
        return SAVED(p, i);
    return fd;
}

/* ---- systemd's LISTEN_PIDFDID -------------------------------------------- */

#if defined(__linux__) && defined(SYS_pidfd_open)
/* The id as systemd's pidfd_get_inode_id_impl reads it: the 64-bit inode number in
 * the pidfs file handle, else st_ino where st_ino has 64 bits (a 32-bit one is not
 * the id systemd compares with). */
static int pidfs_inode_id(int pidfd, unsigned long long *id_out)
{
    struct stat st;
#ifdef SYS_name_to_handle_at
    struct {
        unsigned int handle_bytes; /* struct file_handle, linux/fcntl.h */
        int handle_type;
        unsigned char f_handle[16];
    } fh;
    int mount_id;

    memset(&fh, 0, sizeof fh);
    fh.handle_bytes = sizeof *id_out;
    fh.handle_type = PIDFS_FILEID;
    if (syscall(SYS_name_to_handle_at, pidfd, "", &fh, &mount_id, AT_EMPTY_PATH) == 0
        && fh.handle_bytes == sizeof *id_out) {
        memcpy(id_out, fh.f_handle, sizeof *id_out);
        return 0;
    }
#endif
    /* Linux 6.9-6.13: no pidfs handles (EOPNOTSUPP); the inode number is the id. */
    if (sizeof st.st_ino < sizeof *id_out)
        return EOPNOTSUPP;
    if (fstat(pidfd, &st) != 0)
        return errno;
    *id_out = (unsigned long long)st.st_ino;
    return 0;
}
#endif

int reexec_pidfd_id(int pid, unsigned long long *id_out)
{
#if defined(__linux__) && defined(SYS_pidfd_open)
    struct statfs fs;
    int pidfd, err;

    if (id_out == NULL || pid <= 0)
        return EINVAL;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by default */
    if (pidfd < 0)
        return errno;
    if (fstatfs(pidfd, &fs) != 0)
        err = errno;
    else if ((unsigned long)fs.f_type != PIDFS_MAGIC)
        err = EOPNOTSUPP; /* an anon inode (Linux 5.3-6.8): every pidfd has the same one */
    else
        err = pidfs_inode_id(pidfd, id_out);
    close_quietly(pidfd);
    return err;
#else
    (void)pid;
    (void)id_out;
    return ENOSYS;
#endif
}

int reexec_pidfd_open(int pid, int *fd_out)
{
    if (fd_out == NULL || pid <= 0)
        return EINVAL;
    *fd_out = -1;
#if defined(__linux__) && defined(SYS_pidfd_open)
    {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by default */
        if (fd < 0)
            return errno;
        *fd_out = fd;
        return 0;
    }
#else
    return ENOSYS;
#endif
}

int reexec_pidfd_send_signal(int pidfd, int sig)
{
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) != 0)
        return errno;
    return 0;
#else
    (void)pidfd;
    (void)sig;
    return ENOSYS;
#endif
}

/* ---- a child that runs the program ------------------------------------- */

static void write_decimal(char *out, unsigned long long value)
{
    char digits[24];
    int n = 0;

    if (value == 0) {
        digits[n++] = '0';
    }
    while (value > 0 && n < (int)sizeof digits) {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    }
    while (n > 0)
        *out++ = digits[--n];
    *out = '\0';
}

static void child_signals(unsigned int tiers)
{
    struct sigaction dfl;
    sigset_t empty;

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGXFSZ, &dfl, NULL);
    if (!(tiers & REEXEC_EXEC_KEEP_MASK)) {
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
    }
}

static void child_fail(int report_fd, int err)
{
    ssize_t n;
    do {
        n = write(report_fd, &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

static void run_child(const reexec_exe *exe, const char *path, char *const argv[],
                      char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                      char *pid_digits, char *pidfdid_digits, const int stdio[3],
                      const reexec_sigchld *sigchld,
                      int report_fd)
{
    int i, err, above;
    unsigned long long pidfdid;
    reexec_report report;

    /* The error pipe must not sit where a listen descriptor goes. */
    above = REEXEC_LISTEN_FDS_START + (plan ? plan->nlisten : 0);
    if (report_fd < above) {
        int moved = dup_high(report_fd, above);
        if (moved < 0)
            _exit(127);
        report_fd = moved;
    }
    if (stdio != NULL) {
        for (i = 0; i < 3; i++) {
            if (stdio[i] >= 0 && stdio[i] != i && dup2(stdio[i], i) < 0)
                child_fail(report_fd, errno);
        }
    }
    if (plan != NULL && (err = reexec_fds_place(plan)) != 0)
        child_fail(report_fd, err);
    if (pid_digits != NULL)
        write_decimal(pid_digits, (unsigned long long)getpid());
    if (pidfdid_digits != NULL) {
        if ((err = reexec_pidfd_id((int)getpid(), &pidfdid)) != 0)
            child_fail(report_fd, err);
        write_decimal(pidfdid_digits, pidfdid);
    }
    /* The program gets SIGCHLD as the caller had it (SIG_IGN stays ignored). */
    reexec_sigchld_restore(sigchld, 0);
    if (exe != NULL) {
        /* reexec_exec resets the signals itself, as for an exec in place. */
        err = reexec_exec(exe, path, argv, envp, tiers, &report);
    } else {
        child_signals(tiers);
        do {
            execve(path, argv, envp);
        } while (errno == EINTR);
        err = errno;
    }
    child_fail(report_fd, err);
}

int reexec_spawn(const reexec_exe *exe, const char *path, char *const argv[],
                 char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                 char *pid_digits, char *pidfdid_digits, const int stdio[3],
                 const reexec_sigchld *sigchld, int *pid_out)
{
    int pipefd[2];
    int child_err = 0, status, err;
    ssize_t n;
    pid_t pid;

    if (pid_out == NULL || argv == NULL || argv[0] == NULL || envp == NULL
        || (exe == NULL && path == NULL))
        return EINVAL;
    *pid_out = -1;
    if ((err = reexec_fork_with_pipe(pipefd, &pid)) != 0)
        return err;
    if (pid == 0) {
        close(pipefd[0]);
        run_child(exe, path, argv, envp, tiers, plan, pid_digits, pidfdid_digits, stdio, sigchld,
                  pipefd[1]);
        _exit(127); /* not reached */
    }
    close(pipefd[1]);
    /* The write end closes at the child's exec: EOF means the program runs. */
    do {
        n = read(pipefd[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof child_err) {
        reexec_reap(pid, &status);
        return child_err ? child_err : ECHILD;
    }
    *pid_out = (int)pid;
    return 0;
}
