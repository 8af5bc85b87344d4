/*
 * reexec_win.c - the Windows implementation of reexec.h.
 *
 * Windows has no exec. reexec_exec "hands over" the way CPython's py.exe
 * (PC/launcher2.c launchEnvironment), uv's trampoline (bounce.rs) and distlib's
 * launcher (PC/launcher.c run_child) do: start the program as a child in a
 * kill-on-close job, let it own the console, wait, and ExitProcess() with its
 * full 32-bit exit code. Wide (W) APIs only: the A APIs are exposed to the
 * "WorstFit" best-fit conversion attack (uv PR #11049). Never the CRT's
 * _wexecv: it spawns and exits at once with status 0 (cpython#101191).
 *
 * This file holds the API entry points and the launch plan (full path, batch
 * refusal, command line, environment block). The pieces it ties together:
 * win_text.c (UTF-8/UTF-16, errno mapping, environment block), win_cmdline.c
 * (quoting, batch-file detection), win_child.c (the pins reexec_open keeps;
 * job, console handler, std handles, start, wait, exit).
 *
 * Research and sources: docs/windows.md.
 */
#include "reexec.h"
#include "win_child.h"
#include "win_cmdline.h"
#include "win_text.h"

#include <windows.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Report                                                              */

static void record_attempt(reexec_report *report, int tier, int err, int note)
{
    if (!report || report->count >= REEXEC_MAX_ATTEMPTS)
        return;
    report->attempts[report->count].tier = tier;
    report->attempts[report->count].err = err;
    report->attempts[report->count].note = note;
    report->count++;
}

/* ------------------------------------------------------------------ */
/* Opening and identity                                                */

/*
 * What is pinned. reexec_open keeps a handle whose share mode is FILE_SHARE_READ
 * only: while it is open, every later open that asks for write or delete access
 * fails with ERROR_SHARING_VIOLATION, in this process and in every other one, so
 * the file cannot be written, renamed, replaced or deleted (CreateFileW,
 * dwShareMode: "If this flag is not specified, but the file ... has been opened
 * for write/delete access, the function fails" and the reverse;
 * learn.microsoft.com/windows/win32/fileio/creating-and-opening-files).
 * CreateProcessW still works: the loader opens the image for read/execute
 * access, which FILE_SHARE_READ admits (checked under Wine: the pinned program
 * runs; docs/windows.md, "What is pinned").
 * The handle must ask for data access (FILE_READ_DATA, or FILE_EXECUTE when
 * reading is denied): an open for attributes only takes no part in sharing
 * (IoCheckShareAccess checks read/write/execute/delete access only), so it
 * would pin nothing. Created with no SECURITY_ATTRIBUTES: never inherited.
 */
static HANDLE open_pin(const wchar_t *path)
{
    /* BACKUP_SEMANTICS only so that a directory opens and can be told apart
     * (EISDIR); it changes nothing for a file without backup privilege. */
    HANDLE file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                              FILE_FLAG_BACKUP_SEMANTICS, NULL);

    if (file == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED)
        file = CreateFileW(path, FILE_EXECUTE | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                           FILE_SHARE_READ, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    return file;
}

/* dev = volume serial, ino = file index, size and mode of an open handle. */
static DWORD identify(HANDLE file, reexec_exe *out)
{
    BY_HANDLE_FILE_INFORMATION info;

    if (!GetFileInformationByHandle(file, &info))
        return GetLastError();
    out->dev = info.dwVolumeSerialNumber;
    out->ino = ((unsigned long long)info.nFileIndexHigh << 32) | info.nFileIndexLow;
    out->size = (long long)(((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow);
    out->mode = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? 0040755u : 0100755u;
    return 0;
}

/* What `path` names now, without a pin: FILE_READ_ATTRIBUTES with full sharing
 * takes no part in sharing, so it neither fails on our own pin nor locks the
 * file. Returns 0 or a Win32 code. */
static DWORD stat_wide(const wchar_t *path, reexec_exe *out)
{
    HANDLE file;
    DWORD err;

    file = CreateFileW(path, FILE_READ_ATTRIBUTES,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return GetLastError();
    err = identify(file, out);
    CloseHandle(file);
    return err;
}

/* Opens and pins `path` into `out` (fd = the pin number). On failure out->fd
 * is -1 and GetLastError() still holds the Win32 code, for callers that want it. */
static int open_wide(const wchar_t *path, reexec_exe *out)
{
    HANDLE file = open_pin(path);
    DWORD err;

    if (file == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        return reexec_win_errno_from_win32(err); /* last error kept */
    }
    err = identify(file, out);
    if (!err && (out->mode & 0170000u) == 0040000u) {
        CloseHandle(file);
        SetLastError(ERROR_ACCESS_DENIED); /* what CreateProcessW says for a directory */
        return EISDIR;
    }
    if (err) {
        CloseHandle(file);
        SetLastError(err);
        return reexec_win_errno_from_win32(err);
    }
    out->fd = reexec_win_pin_store(file);
    if (out->fd < 0)
        return EMFILE; /* last error: ERROR_TOO_MANY_OPEN_FILES */
    return 0;
}

/*
 * Does `application` (the full path CreateProcessW will open) still name the
 * file `exe` describes? With a pin the file itself cannot change, but the path
 * can still lead elsewhere (a parent directory renamed, a junction retargeted);
 * without one (fd -1: closed, or a hand-made struct) anything may have happened.
 * Compares volume serial, file index and size (an in-place truncation keeps the
 * index). A mismatch is ERROR_FILE_INVALID (1006, "the opened file is no longer
 * valid"): the Win32 counterpart of the ESTALE the POSIX path tier returns.
 */
static DWORD check_identity(const reexec_exe *exe, const wchar_t *application)
{
    reexec_exe now;
    DWORD err;

    if (exe->fd >= 0 && !reexec_win_pin_handle(exe->fd))
        return ERROR_INVALID_HANDLE; /* closed or never a pin: like EBADF */
    memset(&now, 0, sizeof(now));
    err = stat_wide(application, &now);
    if (err)
        return err; /* gone (ERROR_FILE_NOT_FOUND...): nothing to run */
    if (now.dev != exe->dev || now.ino != exe->ino || now.size != exe->size)
        return ERROR_FILE_INVALID;
    return 0;
}

/* GetModuleFileNameW into a growing buffer (paths may exceed MAX_PATH). */
static DWORD module_path(wchar_t **out)
{
    DWORD capacity = MAX_PATH;

    for (;;) {
        wchar_t *buf = malloc(capacity * sizeof(wchar_t));
        DWORD n;

        if (!buf)
            return ERROR_NOT_ENOUGH_MEMORY;
        n = GetModuleFileNameW(NULL, buf, capacity);
        if (n == 0) {
            DWORD err = GetLastError();
            free(buf);
            return err;
        }
        if (n < capacity) {
            *out = buf;
            return 0;
        }
        free(buf);
        if (capacity >= 32768)
            return ERROR_FILENAME_EXCED_RANGE;
        capacity *= 2;
    }
}

unsigned int reexec_supported_tiers(void)
{
    return REEXEC_TIER_CREATEPROCESS;
}

/* open_wide on a path just made (wide, owned, freed here) or the Win32 error of
 * making it; GetLastError() afterwards still holds the Win32 code of a failure. */
static int open_made_path(DWORD make_err, wchar_t *wide, reexec_exe *out)
{
    DWORD err;
    int result;

    if (make_err) {
        SetLastError(make_err);
        return reexec_win_errno_from_win32(make_err);
    }
    result = open_wide(wide, out);
    err = GetLastError();
    free(wide);
    SetLastError(result ? err : 0);
    return result;
}

int reexec_open(const char *path, reexec_exe *out)
{
    wchar_t *wide = NULL;
    DWORD err;

    if (!out)
        return EINVAL;
    memset(out, 0, sizeof(*out));
    out->fd = -1; /* the pin number once open_wide succeeds */
    if (!path)
        return EINVAL;
    err = reexec_win_utf8_to_wide(path, &wide); /* before `wide` is passed on */
    return open_made_path(err, wide, out);
}

int reexec_open_self(reexec_exe *out)
{
    wchar_t *self = NULL;
    DWORD err;

    if (!out)
        return EINVAL;
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    err = module_path(&self); /* before `self` is passed on */
    return open_made_path(err, self, out);
}

int reexec_close(reexec_exe *exe)
{
    DWORD err = 0;

    if (!exe || exe->fd < 0)
        return 0;
    err = reexec_win_pin_free(exe->fd);
    exe->fd = -1;
    return err ? EBADF : 0;
}

int reexec_current_exe(char *buf, size_t size)
{
    wchar_t *self;
    char *utf8;
    DWORD err;
    size_t bytes;

    if (!buf)
        return EINVAL;
    err = module_path(&self);
    if (err)
        return reexec_win_errno_from_win32(err);
    err = reexec_win_wide_to_utf8(self, &utf8);
    free(self);
    if (err)
        return reexec_win_errno_from_win32(err);
    bytes = strlen(utf8) + 1;
    if (bytes > size) {
        free(utf8);
        return ERANGE;
    }
    memcpy(buf, utf8, bytes);
    free(utf8);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The launch plan                                                     */

/* What CreateProcessW needs, all UTF-16. */
typedef struct launch_plan {
    wchar_t *application; /* full path: no PATH search, no cmd.exe */
    wchar_t *command_line;
    wchar_t *environment; /* NULL: inherit ours */
} launch_plan;

static void free_plan(launch_plan *plan)
{
    free(plan->application);
    free(plan->command_line);
    free(plan->environment);
}

static DWORD full_path(const wchar_t *path, wchar_t **out)
{
    DWORD units = GetFullPathNameW(path, 0, NULL, NULL), n;

    if (units == 0)
        return GetLastError();
    *out = malloc(units * sizeof(wchar_t));
    if (!*out)
        return ERROR_NOT_ENOUGH_MEMORY;
    n = GetFullPathNameW(path, units, *out, NULL);
    if (n == 0 || n >= units) {
        DWORD err = n == 0 ? GetLastError() : ERROR_INSUFFICIENT_BUFFER;
        free(*out);
        *out = NULL;
        return err;
    }
    return 0;
}

static DWORD build_command_line(const char *path, char *const argv[], wchar_t **out)
{
    char *const fallback[2] = { (char *)path, NULL };
    wchar_t **wide;
    size_t length;
    DWORD err;

    /* An empty argv (legal for execve) gets the path as argv[0]. */
    err = reexec_win_utf8_list_to_wide((argv && argv[0]) ? argv : fallback, &wide);
    if (err)
        return err;
    if (reexec_win_quote_argv((const wchar_t *const *)wide, NULL, &length) != 0) {
        reexec_win_free_wide_list(wide);
        return ERROR_INVALID_PARAMETER; /* '"' in argv[0] cannot be expressed */
    }
    if (length >= 32767) {
        reexec_win_free_wide_list(wide);
        return ERROR_FILENAME_EXCED_RANGE; /* CreateProcessW's own limit */
    }
    *out = malloc((length + 1) * sizeof(wchar_t));
    if (*out)
        reexec_win_quote_argv((const wchar_t *const *)wide, *out, &length);
    reexec_win_free_wide_list(wide);
    return *out ? 0 : ERROR_NOT_ENOUGH_MEMORY;
}

static DWORD make_plan(const char *path, char *const argv[], char *const envp[],
                       launch_plan *plan)
{
    wchar_t *wide_path;
    DWORD err;

    memset(plan, 0, sizeof(*plan));
    if (!path)
        return ERROR_INVALID_PARAMETER;
    err = reexec_win_utf8_to_wide(path, &wide_path);
    if (err)
        return err;
    err = full_path(wide_path, &plan->application);
    free(wide_path);
    if (err)
        return err;
    /* Refused, not escaped: CreateProcessW would run it through cmd.exe, which
     * re-parses arguments by its own rules (BatBadBut). Checked on the full
     * path, trailing dots and spaces included (CVE-2024-43402). */
    if (reexec_win_is_batch(plan->application))
        return ERROR_BAD_EXE_FORMAT;
    err = build_command_line(path, argv, &plan->command_line);
    if (!err && envp)
        err = reexec_win_environment_block(envp, &plan->environment);
    return err;
}

/* ------------------------------------------------------------------ */
/* exec                                                                */

static int unsupported_tiers(unsigned int tiers, reexec_report *report)
{
    static const int posix_tiers[3] = {
        REEXEC_TIER_EXECVEAT, REEXEC_TIER_FEXECVE, REEXEC_TIER_PATH
    };
    int i;

    for (i = 0; i < 3; i++)
        if (tiers & (unsigned int)posix_tiers[i])
            record_attempt(report, posix_tiers[i], ENOSYS, REEXEC_NOTE_UNSUPPORTED);
    return ENOSYS;
}

/* reexec_exec and reexec_win_run: plan, identity check, hand-over. */
static int launch(const reexec_exe *exe, const char *path, char *const argv[],
                  char *const envp[], reexec_report *report, unsigned long *exit_code)
{
    launch_plan plan;
    DWORD err;

    err = make_plan(path, argv, envp, &plan);
    /* What was opened (and logged) is what runs: NULL `exe` is a path-only launch. */
    if (!err && exe)
        err = check_identity(exe, plan.application);
    if (!err) /* without exit_code, returns only on failure: on success this process
               * exits here; the pin stays held until the child runs, then is released */
        err = reexec_win_hand_over(plan.application, plan.command_line, plan.environment,
                                   exe ? exe->fd : -1, exit_code);
    free_plan(&plan);
    if (err || !exit_code)
        record_attempt(report, REEXEC_TIER_CREATEPROCESS, (int)err, REEXEC_NOTE_WIN32);
    SetLastError(err);
    return (int)err;
}

int reexec_exec(const reexec_exe *exe, const char *path,
                char *const argv[], char *const envp[],
                unsigned int tiers, reexec_report *report)
{
    if (report)
        report->count = 0;
    if (!(tiers & REEXEC_TIER_CREATEPROCESS))
        return unsupported_tiers(tiers, report);
    return launch(exe, path, argv, envp, report, NULL);
}

int reexec_win_run(const reexec_exe *exe, const char *path,
                   char *const argv[], char *const envp[],
                   reexec_report *report, unsigned long *exit_code)
{
    if (report)
        report->count = 0;
    if (!exit_code)
        return ERROR_INVALID_PARAMETER;
    return launch(exe, path, argv, envp, report, exit_code);
}
