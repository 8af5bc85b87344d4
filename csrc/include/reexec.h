/*
 * reexec.h - the C core of reexec-native: one small API on every OS.
 *
 * Plain C99, no Python.h: the CFFI module (reexec_native._native) and the C tests
 * link the same code. Each call does one syscall sequence and reports errno (or,
 * on Windows, the Win32 error code); what to try, in what order and what to log is
 * decided by the Python layer.
 *
 * Strings are UTF-8 (Windows converts to UTF-16 internally; POSIX passes bytes).
 */
#ifndef REEXEC_H
#define REEXEC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exec tiers, as bits of a mask, tried in this order. */
#define REEXEC_TIER_EXECVEAT      0x01 /* syscall(SYS_execveat, fd, "", AT_EMPTY_PATH) */
#define REEXEC_TIER_FEXECVE       0x02 /* libc fexecve(fd), only for a verified ELF image */
#define REEXEC_TIER_PATH          0x04 /* execve(path) after re-checking (dev, ino) */
#define REEXEC_TIER_CREATEPROCESS 0x08 /* Windows: CreateProcessW + job + wait + ExitProcess */
/* Not a tier: in reexec_exec's (and reexec_spawn's) `tiers`, leave the signal mask as
 * it is instead of clearing it (the command line's exec: the mask is the caller's). */
#define REEXEC_EXEC_KEEP_MASK     0x100

/* Why a tier did not run the program, beyond its errno. */
#define REEXEC_NOTE_NONE              0
#define REEXEC_NOTE_NOT_ELF           1 /* fexecve skipped: image not known to be ELF */
#define REEXEC_NOTE_IDENTITY_CHANGED  2 /* path tier skipped: path no longer names the fd's file */
#define REEXEC_NOTE_NEEDS_INTERPRETER 3 /* fd tier gave ENOENT: a #! script or binfmt_misc image;
                                          path tier gave ENOENT with the file still there:
                                          its interpreter (#! or ELF loader) is missing */
#define REEXEC_NOTE_UNSUPPORTED       4 /* tier does not exist on this platform */
#define REEXEC_NOTE_WIN32             5 /* err is a Win32 error code, not an errno */
#define REEXEC_NOTE_OPEN_FOR_WRITING  6 /* snapshot refused: a writer holds the file (ETXTBSY) */
#define REEXEC_NOTE_CHANGED_DURING_COPY 7 /* snapshot refused: size/mtime/ctime moved (ESTALE) */
#define REEXEC_NOTE_SCRIPT            8 /* snapshot of a #! script: its fd is left inheritable */

/* Where reexec_snapshot puts the copy (bits of a mask). */
#define REEXEC_SNAPSHOT_MEMFD   0x01 /* sealed memfd_create() file */
#define REEXEC_SNAPSHOT_TMPFILE 0x02 /* O_TMPFILE file in a given directory */

#define REEXEC_MAX_ATTEMPTS 8

/* An opened program: the descriptor and the identity fstat saw at open time. */
typedef struct reexec_exe {
    int fd;                       /* POSIX: the descriptor. Windows: a pin number (a handle
                                   * held share-read only, so the file cannot be swapped
                                   * until exec; see docs/windows.md), not a CRT fd */
    unsigned long long dev;
    unsigned long long ino;
    unsigned int mode;            /* st_mode */
    long long size;
} reexec_exe;

typedef struct reexec_attempt {
    int tier;                     /* one REEXEC_TIER_* bit */
    int err;                      /* errno (or Win32 code when note == REEXEC_NOTE_WIN32) */
    int note;                     /* REEXEC_NOTE_* */
} reexec_attempt;

/* What reexec_exec tried, in order, when it returns. */
typedef struct reexec_report {
    int count;
    reexec_attempt attempts[REEXEC_MAX_ATTEMPTS];
} reexec_report;

/* Tiers this build can try at all (a mask of REEXEC_TIER_*). */
unsigned int reexec_supported_tiers(void);

/* Open `path` for exec and fstat it: O_PATH|O_CLOEXEC on Linux, O_PATH|O_EXEC|O_CLOEXEC
 * on FreeBSD (what its fexecve needs), O_EXEC|O_CLOEXEC on macOS (execute permission
 * only, as exec itself), O_RDONLY|O_CLOEXEC elsewhere; see reexec_posix.c.
 * Returns 0, or an errno; on error out->fd is -1. */
int reexec_open(const char *path, reexec_exe *out);

/* Open the running program's own image (Linux: /proc/self/exe, which keeps
 * the exact inode even once the file was deleted). ENOSYS where unsupported. */
int reexec_open_self(reexec_exe *out);

/* Close what reexec_open made; safe to call twice. Returns 0 or errno. */
int reexec_close(reexec_exe *exe);

/* Write the running program's real path (NUL-terminated) into buf: Linux
 * /proc/self/exe, FreeBSD KERN_PROC_PATHNAME, macOS _NSGetExecutablePath + realpath.
 * Linux keeps the kernel's " (deleted)" suffix; stripping it is policy, left to the caller.
 * Returns 0, ERANGE when buf is too small, or another errno. */
int reexec_current_exe(char *buf, size_t size);

/* Point vec[0..count-1] at the `count` NUL-terminated strings packed back to back
 * in buf[0..len) and set vec[count] to NULL: one buffer and one pointer vector for
 * exec's argv or envp, however many strings (no allocation per string).
 * Returns 0, or EINVAL when buf does not hold exactly `count` strings (for none:
 * an empty buffer or a lone NUL). */
int reexec_vector(char *buf, size_t len, char **vec, size_t count);

/* The strings in buf[0..len), separated by single NULs (the last one unterminated, as
 * b"\0".join writes them): returns how many there are, and sets *longest to the length
 * of the longest. Exec's size limits (ARG_MAX, MAX_ARG_STRLEN) are checked on these
 * two numbers before anything is opened, without a pass per string in Python. */
size_t reexec_strings(const char *buf, size_t len, size_t *longest);

/* Replace the process with the program behind `exe` (`path` is what it was
 * opened as, used by the path tier and for Windows). Tries the tiers in `tiers`
 * in order; just before each exec, SIGPIPE and SIGXFSZ go back to SIG_DFL and
 * the signal mask is cleared (unless REEXEC_EXEC_KEEP_MASK); both are restored if
 * every tier fails.
 * On Windows the "exec" runs the program as a child in a kill-on-close job,
 * waits, and ExitProcess()es with its full 32-bit exit code.
 * Returns only on failure: the errno of the last attempt (report has each one). */
int reexec_exec(const reexec_exe *exe, const char *path,
                char *const argv[], char *const envp[],
                unsigned int tiers, reexec_report *report);

#ifdef _WIN32
/* Windows only: reexec_exec's hand-over (same plan, refusals, identity check, job,
 * console handler, std handles), but it returns once the child has exited, with
 * its full 32-bit exit code in *exit_code and 0; or the Win32 error of the
 * failure (report has it) when the child could not start. For a caller that
 * must say something after the child ends (the cargo fallback's log line). */
int reexec_win_run(const reexec_exe *exe, const char *path,
                   char *const argv[], char *const envp[],
                   reexec_report *report, unsigned long *exit_code);
#endif

/* Snapshot methods this build has (a mask of REEXEC_SNAPSHOT_*; 0 off Linux). */
unsigned int reexec_snapshot_methods(void);

/* Copy the program behind `src` (opened by reexec_open; `src_path` is what it was
 * opened as) into a sealed anonymous file made by `method` (`tmpdir` names the
 * directory for REEXEC_SNAPSHOT_TMPFILE) and describe that copy in `out`, ready
 * for reexec_exec with path NULL. Refused while the file is open for writing
 * (ETXTBSY) or when it changed during the copy (ESTALE); *note says which, or
 * REEXEC_NOTE_SCRIPT when out->fd was left inheritable for an interpreter.
 * Returns 0 or an errno. */
int reexec_snapshot(const reexec_exe *src, const char *src_path, int method,
                    const char *tmpdir, reexec_exe *out, int *note);

/* Would the kernel execute `fd`? execveat(AT_EMPTY_PATH|AT_EXECVE_CHECK), Linux 6.14+:
 * 0, the errno exec would give (EACCES, ETXTBSY, ...), or ENOSYS where the kernel
 * has no such check (older kernels, other systems). Nothing is executed. */
int reexec_check(int fd);

#ifdef __cplusplus
}
#endif

#endif /* REEXEC_H */
