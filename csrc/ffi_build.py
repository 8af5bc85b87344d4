"""CFFI (API mode) build script for ``reexec_native._native``.

setup.py names it in ``cffi_modules``; the C core in this folder is compiled into
the extension as it is. Which C file is platform code is decided here, as psutil's
setup.py does; everything else about platforms stays inside csrc/.
"""

import os
import sys
import sysconfig

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
#define REEXEC_TIER_EXECVEAT ...
#define REEXEC_TIER_FEXECVE ...
#define REEXEC_TIER_PATH ...
#define REEXEC_TIER_CREATEPROCESS ...
#define REEXEC_NOTE_NONE ...
#define REEXEC_NOTE_NOT_ELF ...
#define REEXEC_NOTE_IDENTITY_CHANGED ...
#define REEXEC_NOTE_NEEDS_INTERPRETER ...
#define REEXEC_NOTE_UNSUPPORTED ...
#define REEXEC_NOTE_WIN32 ...
#define REEXEC_NOTE_OPEN_FOR_WRITING ...
#define REEXEC_NOTE_CHANGED_DURING_COPY ...
#define REEXEC_NOTE_SCRIPT ...
#define REEXEC_SNAPSHOT_MEMFD ...
#define REEXEC_SNAPSHOT_TMPFILE ...
#define REEXEC_MAX_ATTEMPTS ...

typedef struct reexec_exe {
    int fd;
    unsigned long long dev;
    unsigned long long ino;
    unsigned int mode;
    long long size;
} reexec_exe;

typedef struct reexec_attempt {
    int tier;
    int err;
    int note;
} reexec_attempt;

typedef struct reexec_report {
    int count;
    reexec_attempt attempts[...];
} reexec_report;

unsigned int reexec_supported_tiers(void);
int reexec_open(const char *path, reexec_exe *out);
int reexec_open_self(reexec_exe *out);
int reexec_close(reexec_exe *exe);
int reexec_current_exe(char *buf, size_t size);
int reexec_exec(const reexec_exe *exe, const char *path,
                char *const argv[], char *const envp[],
                unsigned int tiers, reexec_report *report);
unsigned int reexec_snapshot_methods(void);
int reexec_snapshot(const reexec_exe *src, const char *src_path, int method,
                    const char *tmpdir, reexec_exe *out, int *note);
int reexec_check(int fd);
"""

# Windows only (csrc/reexec_win.c): the hand-over that returns the child's exit code.
WIN32_CDEF = """
int reexec_win_run(const reexec_exe *exe, const char *path,
                   char *const argv[], char *const envp[],
                   reexec_report *report, unsigned long *exit_code);
"""

# reexec_upgrade.h: descriptors across the exec, the verify child, the inotify wait.
CDEF_UPGRADE = """
#define REEXEC_LISTEN_FDS_START ...
typedef struct reexec_fdplan {
    int nlisten;
    const int *listen;
    int ninherit;
    const int *inherit;
    int ncloexec;
    const int *cloexec;
    int *scratch;
} reexec_fdplan;
int reexec_fds_place(reexec_fdplan *plan);
void reexec_fds_restore(reexec_fdplan *plan);
int reexec_fds_moved(const reexec_fdplan *plan, int fd);
int reexec_spawn(const reexec_exe *exe, const char *path, char *const argv[],
                 char *const envp[], unsigned int tiers, reexec_fdplan *plan,
                 char *pid_digits, const int stdio[3], int *pid_out);
int reexec_watch_open(const char *dir, int *fd_out);
int reexec_watch_wait(int fd, const char *name, int timeout_ms);
int reexec_watch_hold(int fd, int *release_out);
"""


def sources(platform=sys.platform):
    """The C files the extension compiles for ``platform`` (a sys.platform value);
    scripts/portability-gate cross-compiles the same lists."""
    if platform == "win32":
        names = ["reexec_win.c", "win_text.c", "win_child.c", "win_cmdline.c",
                 "reexec_snapshot.c", "reexec_check.c"]
    else:
        names = ["reexec_posix.c", "reexec_snapshot.c", "reexec_check.c"]
    names += ["reexec_fds.c", "reexec_wait.c"]
    return [os.path.join("csrc", name) for name in names]


def _limited_api():
    # cffi compiles with Py_LIMITED_API; free-threaded builds have no limited API.
    return not sysconfig.get_config_var("Py_GIL_DISABLED")


ffi = FFI()
ffi.cdef(CDEF + (WIN32_CDEF if sys.platform == "win32" else ""))
ffi.cdef(CDEF_UPGRADE)
ffi.set_source(
    "reexec_native._native",
    '#include "reexec.h"\n#include "reexec_upgrade.h"',
    sources=sources(),
    include_dirs=[HERE],
    libraries=["kernel32"] if sys.platform == "win32" else [],
    extra_compile_args=[] if sys.platform == "win32" else ["-std=c99"],
    py_limited_api=_limited_api(),
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
