/*
 * snapshot_unsupported.c - reexec_snapshot where there is neither memfd_create nor
 * O_TMPFILE (macOS, FreeBSD, Windows): no methods, and a snapshot is refused with
 * ENOSYS and REEXEC_NOTE_UNSUPPORTED. The Linux implementation is
 * posix/reexec_snapshot.c.
 */
#include "reexec.h"

#include <errno.h>
#include <stddef.h>

unsigned int reexec_snapshot_methods(void)
{
    return 0;
}

int reexec_snapshot(const reexec_exe *src, const char *src_path, int method,
                    const char *tmpdir, reexec_exe *out, int *note)
{
    (void)src;
    (void)src_path;
    (void)method;
    (void)tmpdir;
    if (out != NULL)
        out->fd = -1;
    if (note != NULL)
        *note = REEXEC_NOTE_UNSUPPORTED;
    return ENOSYS;
}
