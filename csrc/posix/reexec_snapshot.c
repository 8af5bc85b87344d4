/*
 * reexec_snapshot.c - a sealed copy of a program, for exec (Linux).
 *
 * A descriptor pins the inode, not its contents: a writer that rewrites the file
 * in place can leave a half-written image, and a program running from its file
 * makes in-place rewrites fail with ETXTBSY. runc answered both for its own
 * re-exec (CVE-2019-5736, libcontainer/exeseal) by executing a sealed in-memory
 * copy; this does the same, opt-in:
 *   memfd_create(MFD_CLOEXEC|MFD_ALLOW_SEALING|MFD_EXEC), copy, seal
 *   (shrink, grow, write, seal), or an O_TMPFILE file in a given directory
 *   (reopened read-only: a writable descriptor of our own would make exec ETXTBSY).
 * The copy is refused while the file is open for writing (AT_EXECVE_CHECK, 6.14+,
 * answers ETXTBSY) and when size, mtime or ctime moved during the copy (ESTALE).
 * memfd_create and execveat go through syscall(): glibc 2.17 has no wrappers.
 * Kernel headers too old to name them (SYS_memfd_create: 3.17, SYS_execveat: 3.19)
 * still compile: without SYS_memfd_create there is no memfd method (ENOSYS), and
 * without SYS_execveat no AT_EXECVE_CHECK (the stat comparison still runs).
 * Linux only: elsewhere (macOS, BSD, Windows) unsupported/snapshot_unsupported.c
 * reports ENOSYS for both calls.
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include "reexec.h"
#include "linux_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A readable descriptor on the same inode as src (O_PATH cannot be read). */
static int open_readable(const reexec_exe *src, const char *src_path, int *fd_out)
{
    char proc_path[64];
    struct stat st;
    int fd;

    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", src->fd);
    fd = open(proc_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && src_path != NULL)
        fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0 || (unsigned long long)st.st_dev != src->dev ||
        (unsigned long long)st.st_ino != src->ino) {
        close(fd);
        return ESTALE;
    }
    *fd_out = fd;
    return 0;
}

/* 0 when nobody holds the file open for writing (or the kernel cannot tell: before
 * 6.14 reexec_check answers ENOSYS, and the stat comparison still runs). */
static int check_no_writers(int fd)
{
    return reexec_check(fd) == ETXTBSY ? ETXTBSY : 0;
}

static int same_contents_stamp(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int copy_all(int dst, int src, off_t size)
{
    char buf[65536];
    off_t done = 0;
    ssize_t n;

    while (done < size) {
        n = sendfile(dst, src, NULL, (size_t)(size - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS))
            break; /* no sendfile between these two: plain copy below */
        if (n < 0)
            return errno;
        if (n == 0)
            return ESTALE; /* shorter than fstat said: it changed under us */
        done += n;
    }
    while (done < size) {
        n = pread(src, buf, sizeof buf, done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return ESTALE;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(dst, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return errno;
            off += w;
        }
        done += n;
    }
    return 0;
}

static int create_memfd(const char *src_path)
{
#ifdef SYS_memfd_create
    char name[200];
    /* (strrchr): the function, not glibc 2.43's C23 const-generic macro, which
     * -std=c99 -pedantic rejects (_Generic is C11). */
    const char *base = src_path ? (strrchr)(src_path, '/') : NULL;
    int fd;

    snprintf(name, sizeof name, "reexec-native:%s", base ? base + 1 : (src_path ? src_path : "exe"));
    fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* before 6.3 there is no MFD_EXEC; memfds are executable */
        fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
#else
    (void)src_path;
    errno = ENOSYS;
    return -1;
#endif
}

/* Turn the writable copy into the descriptor to exec. */
static int finish_memfd(int fd, mode_t mode, int *out_fd)
{
    if (fchmod(fd, mode) != 0)
        return errno;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_EXEC) != 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
        return errno;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) != 0)
        return errno;
    *out_fd = fd;
    return 0;
}

static int finish_tmpfile(int fd, mode_t mode, int *out_fd)
{
    char proc_path[64];
    int ro;

    if (fchmod(fd, mode) != 0)
        return errno;
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    ro = open(proc_path, O_RDONLY | O_CLOEXEC);
    if (ro < 0)
        return errno;
    close(fd);
    *out_fd = ro;
    return 0;
}

static int is_script(int fd)
{
    char magic[2];
    return pread(fd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!';
}

int reexec_snapshot(const reexec_exe *src, const char *src_path, int method,
                    const char *tmpdir, reexec_exe *out, int *note)
{
    struct stat before, after, copied;
    mode_t mode;
    int in = -1, tmp = -1, final = -1, err;

    if (src == NULL || out == NULL || note == NULL || src->fd < 0)
        return EINVAL;
    out->fd = -1;
    *note = REEXEC_NOTE_NONE;
    if (method == REEXEC_SNAPSHOT_TMPFILE && (tmpdir == NULL || tmpdir[0] == '\0'))
        return EINVAL;
    if (method != REEXEC_SNAPSHOT_MEMFD && method != REEXEC_SNAPSHOT_TMPFILE)
        return EINVAL;

    err = open_readable(src, src_path, &in);
    if (err)
        return err;
    if (check_no_writers(in) != 0) {
        *note = REEXEC_NOTE_OPEN_FOR_WRITING;
        err = ETXTBSY;
        goto done;
    }
    if (fstat(in, &before) != 0) {
        err = errno;
        goto done;
    }
    if (method == REEXEC_SNAPSHOT_MEMFD)
        tmp = create_memfd(src_path);
    else
        tmp = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0700);
    if (tmp < 0) {
        err = errno;
        goto done;
    }
    err = copy_all(tmp, in, before.st_size);
    if (err == 0 && (fstat(in, &after) != 0 || !same_contents_stamp(&before, &after)))
        err = ESTALE;
    if (err == 0 && check_no_writers(in) != 0)
        err = ETXTBSY; /* a writer opened it during the copy and still holds it */
    if (err) {
        if (err == ESTALE || err == ETXTBSY)
            *note = err == ETXTBSY ? REEXEC_NOTE_OPEN_FOR_WRITING : REEXEC_NOTE_CHANGED_DURING_COPY;
        goto done;
    }
    /* Read and execute bits of the original; never write, setuid or setgid. */
    mode = (before.st_mode & 0555) | 0500;
    err = method == REEXEC_SNAPSHOT_MEMFD ? finish_memfd(tmp, mode, &final)
                                          : finish_tmpfile(tmp, mode, &final);
    if (err)
        goto done;
    tmp = -1; /* now owned by `final` (or closed) */
    if (is_script(in)) {
        /* The interpreter opens its script as /dev/fd/N after exec: keep N open. */
        fcntl(final, F_SETFD, 0);
        *note = REEXEC_NOTE_SCRIPT;
    }
    if (fstat(final, &copied) != 0) {
        err = errno;
        close(final);
        goto done;
    }
    out->fd = final;
    out->dev = (unsigned long long)copied.st_dev;
    out->ino = (unsigned long long)copied.st_ino;
    out->mode = (unsigned int)copied.st_mode;
    out->size = (long long)copied.st_size;

done:
    if (tmp >= 0)
        close(tmp);
    close(in);
    return err;
}

unsigned int reexec_snapshot_methods(void)
{
#ifdef SYS_memfd_create
    return REEXEC_SNAPSHOT_MEMFD | REEXEC_SNAPSHOT_TMPFILE;
#else
    return REEXEC_SNAPSHOT_TMPFILE;
#endif
}
