/*
 * reexec_posix.c - the POSIX mechanism behind reexec.h.
 *
 * One open, one fstat, then the exec tiers in order, each one's errno kept in
 * the report. Platform differences stay here:
 *   Linux    O_PATH|O_CLOEXEC; execveat through syscall() (musl has no wrapper;
 *            glibc's wrapper would raise the manylinux floor to 2_34), fexecve of a
 *            verified ELF, path. The ELF check reads through /proc/self/fd/N.
 *   FreeBSD  O_PATH|O_EXEC|O_CLOEXEC (13.0+; O_EXEC alone before): fexecve(2) needs
 *            "a valid file descriptor open for executing" (EBADF otherwise), and
 *            FreeBSD's own tests open with O_PATH|O_EXEC for it (tests/sys/file/
 *            path_test.c, path_fexecve). The ELF check reads through
 *            openat(fd, "", O_RDONLY|O_EMPTY_PATH), which reopens the descriptor's own
 *            file (open(2), O_PATH); then fexecve, then path.
 *   macOS    no O_PATH, fexecve or execveat: O_EXEC|O_CLOEXEC (open(2): "open for
 *            execute only", so it needs the execute permission exec needs, and no
 *            read permission), then (dev, ino) check + execve(path): not atomic.
 *            O_RDONLY where a kernel refuses O_EXEC (EINVAL).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* O_PATH, syscall() */
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE
#endif

#include "reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__linux__)
#include "linux_compat.h"
#include <sys/syscall.h>
#endif
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif
#if defined(__FreeBSD__)
#include <sys/sysctl.h>
#endif

#if defined(__linux__)
#define REEXEC_OPEN_FLAGS (O_PATH | O_CLOEXEC)
#elif defined(__FreeBSD__) && defined(O_PATH)
/* O_PATH alone is not "open for executing": fexecve(2) would answer EBADF. */
#define REEXEC_OPEN_FLAGS (O_PATH | O_EXEC | O_CLOEXEC)
#elif defined(O_EXEC)
/* Execute-only: the same permission exec itself needs (and read is not needed). */
#define REEXEC_OPEN_FLAGS (O_EXEC | O_CLOEXEC)
#else
#define REEXEC_OPEN_FLAGS (O_RDONLY | O_CLOEXEC)
#endif

#if defined(__linux__) && defined(SYS_execveat)
#define REEXEC_HAVE_EXECVEAT 1
#endif

#if defined(__linux__) || defined(__FreeBSD__)
#define REEXEC_HAVE_FEXECVE 1
#endif

unsigned int reexec_supported_tiers(void)
{
    unsigned int tiers = REEXEC_TIER_PATH;
#ifdef REEXEC_HAVE_EXECVEAT
    tiers |= REEXEC_TIER_EXECVEAT;
#endif
#ifdef REEXEC_HAVE_FEXECVE
    tiers |= REEXEC_TIER_FEXECVE;
#endif
    return tiers;
}

static void fill_identity(reexec_exe *out, int fd, const struct stat *st)
{
    out->fd = fd;
    out->dev = (unsigned long long)st->st_dev;
    out->ino = (unsigned long long)st->st_ino;
    out->mode = (unsigned int)st->st_mode;
    out->size = (long long)st->st_size;
}

static int open_and_stat(const char *path, reexec_exe *out)
{
    struct stat st;
    int fd, err;

    out->fd = -1;
    do {
        fd = open(path, REEXEC_OPEN_FLAGS);
    } while (fd < 0 && errno == EINTR);
#if defined(__APPLE__)
    /* A kernel that predates O_EXEC rejects the unknown access mode. */
    if (fd < 0 && errno == EINVAL) {
        do {
            fd = open(path, O_RDONLY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
    }
#endif
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return err;
    }
    fill_identity(out, fd, &st);
    return 0;
}

int reexec_open(const char *path, reexec_exe *out)
{
    if (path == NULL || out == NULL)
        return EINVAL;
    return open_and_stat(path, out);
}

int reexec_open_self(reexec_exe *out)
{
    if (out == NULL)
        return EINVAL;
#if defined(__linux__)
    /* The magic link resolves to the running inode even after it was deleted. */
    return open_and_stat("/proc/self/exe", out);
#else
    out->fd = -1;
    return ENOSYS;
#endif
}

int reexec_close(reexec_exe *exe)
{
    int fd;

    if (exe == NULL || exe->fd < 0)
        return 0;
    fd = exe->fd;
    exe->fd = -1;
    /* Linux releases the descriptor even when close() reports EINTR: never retry. */
    if (close(fd) != 0 && errno != EINTR)
        return errno;
    return 0;
}

int reexec_current_exe(char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return EINVAL;
#if defined(__linux__)
    {
        ssize_t n = readlink("/proc/self/exe", buf, size);
        if (n < 0)
            return errno;
        if ((size_t)n >= size)
            return ERANGE;
        buf[n] = '\0';
        return 0;
    }
#elif defined(__APPLE__)
    {
        /* _NSGetExecutablePath gives the path the program was started as, which may
         * be a symlink or hold "..": realpath(3) makes it the file's real path, as
         * Linux's /proc/self/exe and FreeBSD's KERN_PROC_PATHNAME are. */
        char probe[1];
        uint32_t n = sizeof probe;
        char *given, *real;
        size_t len;

        /* Too small: it answers -1 and stores the size it needs (dyld(3)). */
        if (_NSGetExecutablePath(probe, &n) == 0)
            n = sizeof probe;
        given = malloc((size_t)n + 1u);
        if (given == NULL)
            return ENOMEM;
        if (_NSGetExecutablePath(given, &n) != 0) {
            free(given);
            return ERANGE;
        }
        real = realpath(given, NULL);
        free(given);
        if (real == NULL)
            return errno;
        len = strlen(real);
        if (len >= size) {
            free(real);
            return ERANGE;
        }
        memcpy(buf, real, len + 1);
        free(real);
        return 0;
    }
#elif defined(__FreeBSD__)
    {
        /* The kernel's own name for the text vnode: already a real path. */
        int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1};
        size_t n = size;
        if (sysctl(mib, 4, buf, &n, NULL, 0) != 0)
            return errno == ENOMEM ? ERANGE : errno;
        return 0;
    }
#else
    (void)buf;
    (void)size;
    return ENOSYS;
#endif
}

/* ---- exec tiers -------------------------------------------------------- */

/* Signal state Python changed, restored for the new program (and back on failure). */
typedef struct saved_signals {
    struct sigaction pipe_action;
    struct sigaction xfsz_action;
    sigset_t mask;
} saved_signals;

static void reset_signals_for_exec(saved_signals *saved, int keep_mask)
{
    struct sigaction dfl;
    sigset_t empty;

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigemptyset(&empty);
    sigaction(SIGPIPE, &dfl, &saved->pipe_action);
    sigaction(SIGXFSZ, &dfl, &saved->xfsz_action);
    /* sigprocmask acts on the calling thread on Linux, which is the thread that
     * execs; it avoids a libpthread dependency on old glibc. */
    sigprocmask(SIG_SETMASK, keep_mask ? NULL : &empty, &saved->mask);
}

static void restore_signals(const saved_signals *saved)
{
    sigaction(SIGPIPE, &saved->pipe_action, NULL);
    sigaction(SIGXFSZ, &saved->xfsz_action, NULL);
    sigprocmask(SIG_SETMASK, &saved->mask, NULL);
}

static void record(reexec_report *report, int tier, int err, int note)
{
    if (report->count < REEXEC_MAX_ATTEMPTS) {
        report->attempts[report->count].tier = tier;
        report->attempts[report->count].err = err;
        report->attempts[report->count].note = note;
        report->count++;
    }
}

#ifdef REEXEC_HAVE_EXECVEAT
static int try_execveat(int fd, char *const argv[], char *const envp[])
{
    do {
        syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    } while (errno == EINTR);
    return errno;
}
#endif

#ifdef REEXEC_HAVE_FEXECVE
/* A readable descriptor on the very file `fd` (which cannot be read: O_PATH, or
 * O_EXEC) refers to, not on whatever its path names now; -1 when none can be had. */
static int reopen_readable(int fd)
{
#if defined(__linux__)
    char proc_path[64];

    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    return open(proc_path, O_RDONLY | O_CLOEXEC);
#elif defined(__FreeBSD__) && defined(O_EMPTY_PATH)
    /* open(2): an O_PATH descriptor "can be opened into normal (operable) file
     * descriptor by specifying it as the fd argument to openat with empty path
     * and flag O_EMPTY_PATH". Needs read permission, as reading does. */
    return openat(fd, "", O_RDONLY | O_EMPTY_PATH | O_CLOEXEC);
#else
    (void)fd;
    errno = ENOSYS;
    return -1;
#endif
}

/* 1 when the image starts with the ELF magic, 0 when it does not, -1 when it
 * cannot be read (no /proc, no read permission): then it is not known to be ELF. */
static int image_is_elf(int fd)
{
    unsigned char magic[4];
    ssize_t n;
    int rfd = reopen_readable(fd);

    if (rfd < 0)
        return -1;
    n = pread(rfd, magic, sizeof magic, 0);
    close(rfd);
    if (n < 0)
        return -1;
    return n == 4 && memcmp(magic, "\177ELF", 4) == 0;
}

/* libc's fexecve may fall back to exec of /proc/self/fd/N, and FreeBSD's kernel
 * hands an interpreter /dev/fd/N (execve(2), CAVEATS); for a #! script with a
 * close-on-exec fd that exec *succeeds* and the interpreter then cannot open its
 * script, with nothing left to fall back to. Only hand it a verified ELF. */
static int try_fexecve(int fd, char *const argv[], char *const envp[], int *note)
{
    int elf = image_is_elf(fd);

    if (elf != 1) {
        *note = REEXEC_NOTE_NOT_ELF;
        return elf == 0 ? ENOENT : EACCES;
    }
    do {
        fexecve(fd, argv, envp);
    } while (errno == EINTR);
    return errno;
}
#endif

/* The path tier is only as good as the check before it: exec the path only
 * while it still names the file the descriptor was opened on. */
static int try_path(const reexec_exe *exe, const char *path, char *const argv[],
                    char *const envp[], int *note)
{
    struct stat st;

    if (path == NULL || path[0] == '\0')
        return ENOENT;
    if (stat(path, &st) != 0)
        return errno;
    if ((unsigned long long)st.st_dev != exe->dev || (unsigned long long)st.st_ino != exe->ino) {
        *note = REEXEC_NOTE_IDENTITY_CHANGED;
        return ESTALE;
    }
    do {
        execve(path, argv, envp);
    } while (errno == EINTR);
    if (errno == ENOENT) {
        /* ENOENT although the file is there: what is missing is its interpreter
         * (the #! line's program, or the ELF loader). Unlike a path caught
         * mid-swap by a build tool, waiting will not bring it back. */
        int err = errno;
        if (stat(path, &st) == 0 && (unsigned long long)st.st_dev == exe->dev
            && (unsigned long long)st.st_ino == exe->ino)
            *note = REEXEC_NOTE_NEEDS_INTERPRETER;
        return err;
    }
    return errno;
}

#if defined(REEXEC_HAVE_EXECVEAT) || defined(REEXEC_HAVE_FEXECVE)
static int fd_tier_unavailable(int err)
{
    /* Old kernel, or a seccomp filter refusing the call: try the next tier. */
    return err == ENOSYS || err == EPERM;
}

/* The descriptor tiers in `tiers`. Returns 1 when the path tier should run next
 * (each fd tier was unavailable, or the image needs its path: a script), 0 when
 * the last errno (*err) is the answer. */
static int try_fd_tiers(const reexec_exe *exe, char *const argv[], char *const envp[],
                        unsigned int tiers, reexec_report *report, int *err)
{
    int note;

    if (exe->fd < 0)
        return 1;
#ifdef REEXEC_HAVE_EXECVEAT
    if (tiers & REEXEC_TIER_EXECVEAT) {
        *err = try_execveat(exe->fd, argv, envp);
        note = *err == ENOENT ? REEXEC_NOTE_NEEDS_INTERPRETER : REEXEC_NOTE_NONE;
        record(report, REEXEC_TIER_EXECVEAT, *err, note);
        if (*err == ENOENT)
            return 1;
        if (!fd_tier_unavailable(*err))
            return 0;
    }
#endif
#ifdef REEXEC_HAVE_FEXECVE
    if (tiers & REEXEC_TIER_FEXECVE) {
        note = REEXEC_NOTE_NONE;
        *err = try_fexecve(exe->fd, argv, envp, &note);
        if (*err == ENOENT && note == REEXEC_NOTE_NONE)
            note = REEXEC_NOTE_NEEDS_INTERPRETER;
        record(report, REEXEC_TIER_FEXECVE, *err, note);
        if (*err != ENOENT && note != REEXEC_NOTE_NOT_ELF && !fd_tier_unavailable(*err))
            return 0;
    }
#endif
    return 1;
}
#endif

int reexec_exec(const reexec_exe *exe, const char *path, char *const argv[],
                char *const envp[], unsigned int tiers, reexec_report *report)
{
    saved_signals saved;
    int err = ENOSYS;
    int note;

    if (report == NULL)
        return EINVAL;
    report->count = 0;
    if (exe == NULL || argv == NULL || argv[0] == NULL || envp == NULL)
        return EINVAL;

    reset_signals_for_exec(&saved, (tiers & REEXEC_EXEC_KEEP_MASK) != 0);
    tiers &= ~(unsigned int)REEXEC_EXEC_KEEP_MASK;
#if defined(REEXEC_HAVE_EXECVEAT) || defined(REEXEC_HAVE_FEXECVE)
    if (!try_fd_tiers(exe, argv, envp, tiers, report, &err)) {
        restore_signals(&saved);
        return err;
    }
#endif
    if (tiers & REEXEC_TIER_PATH) {
        note = REEXEC_NOTE_NONE;
        err = try_path(exe, path, argv, envp, &note);
        record(report, REEXEC_TIER_PATH, err, note);
    }
    if (report->count == 0) {
        err = ENOSYS;
        record(report, (int)tiers, err, REEXEC_NOTE_UNSUPPORTED);
    }
    restore_signals(&saved);
    return err;
}
