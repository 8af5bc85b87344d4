/*
 * wait_unsupported.c - reexec_watch_* where there is no inotify (macOS, FreeBSD,
 * Windows): ENOSYS, and the Python layer's retry loop polls on a timer instead.
 * The Linux implementation is posix/reexec_wait.c.
 */
#include "reexec_upgrade.h"

#include <errno.h>
#include <stddef.h>

int reexec_watch_open(const char *dir, int *fd_out)
{
    (void)dir;
    if (fd_out != NULL)
        *fd_out = -1;
    return ENOSYS;
}

int reexec_watch_hold(int fd, int *release_out)
{
    (void)fd;
    if (release_out != NULL)
        *release_out = -1;
    return ENOSYS;
}

int reexec_watch_wait(int fd, const char *name, int timeout_ms)
{
    (void)fd;
    (void)name;
    (void)timeout_ms;
    return ENOSYS;
}
