/*
 * reexec_wait.c - wait for a name to come back in a directory (inotify), so the
 * retry loop wakes when a build tool re-links the program instead of on a timer.
 * See reexec_upgrade.h. Linux only: elsewhere unsupported/wait_unsupported.c answers
 * ENOSYS (the caller polls).
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include "reexec_upgrade.h"
#include "fork_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A name appears (create, hard link, rename into the directory), is closed after
 * writing (a copy finished: ETXTBSY is over) or changes attributes (chmod +x). */
#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB \
                    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

int reexec_watch_open(const char *dir, int *fd_out)
{
    int fd, err;

    if (dir == NULL || fd_out == NULL)
        return EINVAL;
    *fd_out = -1;
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return errno;
    if (inotify_add_watch(fd, dir, WATCH_MASK) < 0) {
        err = errno;
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: an event about `name` (or an overflow), 0: none, -1: the directory is gone. */
static int scan(const char *buf, ssize_t len, const char *name)
{
    const struct inotify_event *ev;
    ssize_t off = 0;
    int found = 0;

    while (off + (ssize_t)sizeof(struct inotify_event) <= len) {
        ev = (const struct inotify_event *)(const void *)(buf + off);
        if (ev->mask & IN_Q_OVERFLOW)
            found = 1;
        else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT))
            return -1;
        else if (ev->len > 0 && strcmp(ev->name, name) == 0)
            found = 1;
        off += (ssize_t)sizeof(struct inotify_event) + (ssize_t)ev->len;
    }
    return found;
}

int reexec_watch_wait(int fd, const char *name, int timeout_ms)
{
    /* Aligned for struct inotify_event, room for several (inotify(7)). */
    union {
        struct inotify_event ev;
        char bytes[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
    } buf;
    struct pollfd pfd;
    long long deadline;
    ssize_t n;
    int rc, left, seen;

    if (fd < 0 || name == NULL)
        return EINVAL;
    deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* Drain what is queued first: events since the watch was armed count. */
        for (;;) {
            n = read(fd, buf.bytes, sizeof buf.bytes);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                return errno;
            }
            if (n == 0)
                break;
            seen = scan(buf.bytes, n, name);
            if (seen < 0)
                return EIDRM;
            if (seen > 0)
                return 0;
        }
        left = (int)(deadline - now_ms());
        if (left <= 0)
            return ETIMEDOUT;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, left);
        if (rc < 0)
            return errno;
        if (rc == 0)
            return ETIMEDOUT;
    }
}

/* Grandchild: keep `watch` referenced until `release` reads EOF, then exit. */
static void hold_until_released(int watch, int release)
{
    char byte;
    long fd, max;

    /* Only the two descriptors stay: 0 = the watch, 1 = the release pipe. */
    if (watch != 0 && dup2(watch, 0) < 0)
        _exit(1);
    if (release == 0 || dup2(release, 1) < 0)
        _exit(1);
#if defined(SYS_close_range)
    if (syscall(SYS_close_range, 2U, ~0U, 0U) != 0)
#endif
    {
        max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (fd = 2; fd < max; fd++)
            close((int)fd);
    }
    while (read(1, &byte, 1) != 0) {
        if (errno != EINTR && errno != EAGAIN)
            break;
    }
    _exit(0);
}

int reexec_watch_hold(int fd, int *release_out)
{
    int pipefd[2], status, err;
    pid_t pid;

    reexec_sigchld chld;
    int changed;

    if (fd < 0 || release_out == NULL)
        return EINVAL;
    *release_out = -1;
    /* SIGCHLD ignored by the caller would reap the first child before we wait. */
    changed = reexec_sigchld_default(&chld) == 0;
    if ((err = reexec_fork_with_pipe(pipefd, &pid)) != 0) {
        if (changed)
            reexec_sigchld_restore(&chld, 0);
        return err;
    }
    if (pid == 0) {
        /* Double fork: the holder is nobody's child here (init reaps it), so the
         * program we exec does not inherit a child it never started. */
        pid_t holder = fork();
        if (holder == 0) {
            close(pipefd[1]);
            hold_until_released(fd, pipefd[0]);
        }
        _exit(holder < 0 ? 1 : 0);
    }
    close(pipefd[0]);
    err = reexec_reap(pid, &status);
    if (changed)
        reexec_sigchld_restore(&chld, 1);
    if (err != 0) {
        close(pipefd[1]);
        return err;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(pipefd[1]);
        return ECHILD;
    }
    *release_out = pipefd[1];
    return 0;
}
