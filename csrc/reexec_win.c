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
 * Research and sources: /work/shared/notes/windows_shim.md; docs/windows.md.
 */
#ifdef _WIN32

#include "reexec.h"
#include "win_cmdline.h"

#include <windows.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void record_attempt(reexec_report *report, int tier, int err, int note)
{
    if (!report || report->count >= REEXEC_MAX_ATTEMPTS)
        return;
    report->attempts[report->count].tier = tier;
    report->attempts[report->count].err = err;
    report->attempts[report->count].note = note;
    report->count++;
}

/* reexec_open & co. return errno values on every OS. */
static int errno_from_win32(DWORD code)
{
    switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_DIRECTORY:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NO_UNICODE_TRANSLATION:
        return EILSEQ;
    case ERROR_INSUFFICIENT_BUFFER:
        return ERANGE;
    case ERROR_INVALID_PARAMETER:
        return EINVAL;
    default:
        return EIO;
    }
}

/* UTF-8 -> newly allocated UTF-16. Returns 0 or a Win32 error code. */
static DWORD utf8_to_wide(const char *text, wchar_t **out)
{
    int units;

    *out = NULL;
    units = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, NULL, 0);
    if (units <= 0)
        return GetLastError();
    *out = malloc((size_t)units * sizeof(wchar_t));
    if (!*out)
        return ERROR_NOT_ENOUGH_MEMORY;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, *out, units) <= 0) {
        DWORD err = GetLastError();
        free(*out);
        *out = NULL;
        return err;
    }
    return 0;
}

static void free_wide_list(wchar_t **list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; list[i]; i++)
        free(list[i]);
    free(list);
}

/* NULL-terminated UTF-8 list -> NULL-terminated UTF-16 list. */
static DWORD utf8_list_to_wide(char *const list[], wchar_t ***out)
{
    size_t count = 0, i;
    wchar_t **wide;

    while (list[count])
        count++;
    wide = calloc(count + 1, sizeof(*wide));
    if (!wide)
        return ERROR_NOT_ENOUGH_MEMORY;
    for (i = 0; i < count; i++) {
        DWORD err = utf8_to_wide(list[i], &wide[i]);
        if (err) {
            free_wide_list(wide);
            return err;
        }
    }
    *out = wide;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Opening and identity                                                */

/* Fills `out` from a handle-less look at the file; returns 0 or a Win32 code. */
static DWORD stat_wide(const wchar_t *path, reexec_exe *out)
{
    BY_HANDLE_FILE_INFORMATION info;
    HANDLE file;
    DWORD err = 0;

    /* FILE_READ_ATTRIBUTES with full sharing does not lock the file against a
     * rebuild; BACKUP_SEMANTICS lets a directory open so we can say EISDIR. */
    file = CreateFileW(path, FILE_READ_ATTRIBUTES,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return GetLastError();
    if (!GetFileInformationByHandle(file, &info)) {
        err = GetLastError();
    } else {
        out->dev = info.dwVolumeSerialNumber;
        out->ino = ((unsigned long long)info.nFileIndexHigh << 32) | info.nFileIndexLow;
        out->size = (long long)(((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow);
        out->mode = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? 0040755u : 0100755u;
    }
    CloseHandle(file);
    return err;
}

/* On failure GetLastError() still holds the Win32 code, for callers that want it. */
static int open_wide(const wchar_t *path, reexec_exe *out)
{
    DWORD err = stat_wide(path, out);

    if (err) {
        SetLastError(err);
        return errno_from_win32(err);
    }
    if ((out->mode & 0170000u) == 0040000u) {
        SetLastError(ERROR_ACCESS_DENIED); /* what CreateProcessW says for a directory */
        return EISDIR;
    }
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

int reexec_open(const char *path, reexec_exe *out)
{
    wchar_t *wide;
    DWORD err;
    int result;

    if (!out)
        return EINVAL;
    memset(out, 0, sizeof(*out));
    out->fd = -1; /* nothing is held open on Windows */
    if (!path)
        return EINVAL;
    err = utf8_to_wide(path, &wide);
    if (err) {
        SetLastError(err);
        return errno_from_win32(err);
    }
    result = open_wide(wide, out);
    err = GetLastError();
    free(wide);
    SetLastError(result ? err : 0);
    return result;
}

int reexec_open_self(reexec_exe *out)
{
    wchar_t *self;
    DWORD err;
    int result;

    if (!out)
        return EINVAL;
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    err = module_path(&self);
    if (err) {
        SetLastError(err);
        return errno_from_win32(err);
    }
    result = open_wide(self, out);
    err = GetLastError();
    free(self);
    SetLastError(result ? err : 0);
    return result;
}

int reexec_close(reexec_exe *exe)
{
    if (exe)
        exe->fd = -1;
    return 0;
}

int reexec_current_exe(char *buf, size_t size)
{
    wchar_t *self;
    DWORD err;
    int bytes;

    if (!buf)
        return EINVAL;
    err = module_path(&self);
    if (err)
        return errno_from_win32(err);
    bytes = WideCharToMultiByte(CP_UTF8, 0, self, -1, NULL, 0, NULL, NULL);
    if (bytes <= 0) {
        err = GetLastError();
        free(self);
        return errno_from_win32(err);
    }
    if ((size_t)bytes > size) {
        free(self);
        return ERANGE;
    }
    WideCharToMultiByte(CP_UTF8, 0, self, -1, buf, bytes, NULL, NULL);
    free(self);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Environment block                                                   */

/* Length of the variable name; a leading '=' belongs to the name ("=C:"). */
static size_t env_name_length(const wchar_t *entry)
{
    const wchar_t *eq = wcschr(entry + (entry[0] == L'=' ? 1 : 0), L'=');
    return eq ? (size_t)(eq - entry) : wcslen(entry);
}

/* CreateProcess wants the block sorted by name, case-insensitively, in
 * Unicode ordinal order, not by locale (as CPython's _winapi and Rust do). */
static int compare_env_entries(const void *a, const void *b)
{
    const wchar_t *x = *(const wchar_t *const *)a;
    const wchar_t *y = *(const wchar_t *const *)b;
    int order = CompareStringOrdinal(x, (int)env_name_length(x),
                                     y, (int)env_name_length(y), TRUE);
    return order - CSTR_EQUAL;
}

/* UTF-8 "NAME=VALUE" list -> sorted, double-NUL-terminated UTF-16 block. */
static DWORD build_environment_block(char *const envp[], wchar_t **block)
{
    wchar_t **entries, **sorted;
    size_t count = 0, kept = 0, units = 1, i, pos = 0;
    DWORD err;

    err = utf8_list_to_wide(envp, &entries);
    if (err)
        return err;
    while (entries[count])
        count++;
    sorted = calloc(count + 1, sizeof(*sorted));
    if (!sorted) {
        free_wide_list(entries);
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    for (i = 0; i < count; i++) {
        size_t name = env_name_length(entries[i]);
        if (name == 0 || entries[i][name] != L'=')
            continue; /* not NAME=VALUE: Windows would misread the block */
        sorted[kept++] = entries[i];
        units += wcslen(entries[i]) + 1;
    }
    qsort(sorted, kept, sizeof(*sorted), compare_env_entries);
    if (kept == 0)
        units = 2; /* an empty block is two NULs */
    *block = malloc(units * sizeof(wchar_t));
    if (*block) {
        for (i = 0; i < kept; i++) {
            size_t n = wcslen(sorted[i]) + 1;
            memcpy(*block + pos, sorted[i], n * sizeof(wchar_t));
            pos += n;
        }
        if (kept == 0)
            (*block)[pos++] = L'\0';
        (*block)[pos] = L'\0';
    }
    free(sorted);
    free_wide_list(entries);
    return *block ? 0 : ERROR_NOT_ENOUGH_MEMORY;
}

/* ------------------------------------------------------------------ */
/* Console control, job object, standard handles                       */

static HANDLE g_child_job;

/*
 * While the child runs, the parent ignores console events: the child shares the
 * console process group, so the console delivers Ctrl+C/Break to it directly and
 * it decides (CPython ctrl_c_handler, uv install_ctrl_handler, eryksun in
 * pip#10444). Never SetConsoleCtrlHandler(NULL, TRUE): that "ignore Ctrl+C"
 * attribute is inherited by the child. On close/logoff/shutdown this process
 * is terminated after the handler anyway; like distlib's control_key_handler we
 * then drop KILL_ON_JOB_CLOSE so the child may finish its own cleanup.
 */
static BOOL WINAPI ignore_console_event(DWORD event)
{
    if ((event == CTRL_CLOSE_EVENT || event == CTRL_LOGOFF_EVENT ||
         event == CTRL_SHUTDOWN_EVENT) && g_child_job) {
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
        memset(&info, 0, sizeof(info));
        if (QueryInformationJobObject(g_child_job, JobObjectExtendedLimitInformation,
                                      &info, sizeof(info), NULL)) {
            info.BasicLimitInformation.LimitFlags &= ~(DWORD)JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            SetInformationJobObject(g_child_job, JobObjectExtendedLimitInformation,
                                    &info, sizeof(info));
        }
    }
    return TRUE;
}

static void warn(const char *what, DWORD err)
{
    fprintf(stderr, "reexec: warning: %s (Win32 error %lu); the child may outlive "
                    "this process if it is killed\n", what, (unsigned long)err);
}

/*
 * A job that kills the child when this process dies (its last handle closes on
 * exit; we never close it ourselves). SILENT_BREAKAWAY_OK lets the child's own
 * children leave it, as py.exe, distlib and uv do. Query, OR, Set keeps any limit
 * already there. A failure only warns: the hand-over itself still works.
 */
static HANDLE create_kill_on_close_job(void)
{
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    HANDLE job = CreateJobObjectW(NULL, NULL);

    if (!job) {
        warn("could not create a job object", GetLastError());
        return NULL;
    }
    memset(&info, 0, sizeof(info));
    if (!QueryInformationJobObject(job, JobObjectExtendedLimitInformation,
                                   &info, sizeof(info), NULL)) {
        warn("could not query the job object", GetLastError());
        CloseHandle(job);
        return NULL;
    }
    info.BasicLimitInformation.LimitFlags |=
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation,
                                 &info, sizeof(info))) {
        warn("could not configure the job object", GetLastError());
        CloseHandle(job);
        return NULL;
    }
    return job;
}

/* hStdInput doubles as a hotkey / monitor handle with these flags (distlib,
 * pip#10444); 0x400 is STARTF_HOLOGRAPHIC / "monitor", not in older headers. */
#define STARTF_OVERLOADS_STDIN (STARTF_USEHOTKEY | 0x00000400)

/* An inheritable duplicate of a std handle (CPython _safeDuplicateHandle), so
 * this process's own handles stay as they were if the hand-over fails. An
 * invalid or absent handle is passed on as it is. */
static HANDLE inheritable_std_handle(DWORD which)
{
    HANDLE original = GetStdHandle(which), copy = NULL;

    if (original == NULL || original == INVALID_HANDLE_VALUE)
        return original;
    if (!DuplicateHandle(GetCurrentProcess(), original, GetCurrentProcess(), &copy,
                         0, TRUE, DUPLICATE_SAME_ACCESS))
        return original;
    return copy;
}

typedef struct std_handles {
    HANDLE copies[3];
    int count;
} std_handles;

/* The caller's STARTUPINFO (title, window state... bpo-32560) with the std
 * handles made inheritable and passed explicitly (STARTF_USESTDHANDLES). */
static void prepare_startup_info(STARTUPINFOW *si, std_handles *dups)
{
    static const DWORD which[3] = { STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE };
    HANDLE *slots[3];
    int i;

    memset(si, 0, sizeof(*si));
    si->cb = sizeof(*si);
    GetStartupInfoW(si);
    /* lpReserved2 carries the CRT's inherited fd table of *our* start; the
     * child must not see a stale copy of it. */
    si->lpReserved = NULL;
    si->cbReserved2 = 0;
    si->lpReserved2 = NULL;
    dups->count = 0;
    if (si->dwFlags & STARTF_OVERLOADS_STDIN)
        return;
    slots[0] = &si->hStdInput;
    slots[1] = &si->hStdOutput;
    slots[2] = &si->hStdError;
    for (i = 0; i < 3; i++) {
        HANDLE h = inheritable_std_handle(which[i]);
        *slots[i] = h;
        if (h && h != INVALID_HANDLE_VALUE && h != GetStdHandle(which[i]))
            dups->copies[dups->count++] = h;
    }
    si->dwFlags |= STARTF_USESTDHANDLES;
}

static void close_std_handles(std_handles *dups)
{
    int i;

    for (i = 0; i < dups->count; i++)
        CloseHandle(dups->copies[i]);
    dups->count = 0;
}

/* ------------------------------------------------------------------ */
/* The hand-over                                                       */

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
    err = utf8_list_to_wide((argv && argv[0]) ? argv : fallback, &wide);
    if (err)
        return err;
    if (reexec_win_quote_argv((const wchar_t *const *)wide, NULL, &length) != 0) {
        free_wide_list(wide);
        return ERROR_INVALID_PARAMETER; /* '"' in argv[0] cannot be expressed */
    }
    if (length >= 32767) {
        free_wide_list(wide);
        return ERROR_FILENAME_EXCED_RANGE; /* CreateProcessW's own limit */
    }
    *out = malloc((length + 1) * sizeof(wchar_t));
    if (*out)
        reexec_win_quote_argv((const wchar_t *const *)wide, *out, &length);
    free_wide_list(wide);
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
    err = utf8_to_wide(path, &wide_path);
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
        err = build_environment_block(envp, &plan->environment);
    return err;
}

/* Starts the child suspended, puts it in the job, lets it run. Returns 0 or a
 * Win32 error; the child does not exist on error. */
static DWORD start_child(const launch_plan *plan, HANDLE job, PROCESS_INFORMATION *pi)
{
    STARTUPINFOW si;
    std_handles dups;
    DWORD err = 0;
    BOOL created;

    prepare_startup_info(&si, &dups);
    /* CREATE_SUSPENDED: in the job before it runs a single instruction (swift
     * TSC exec, libuv PR #4152). No CREATE_NEW_PROCESS_GROUP: it disables
     * Ctrl+C in the child. */
    created = CreateProcessW(plan->application, plan->command_line, NULL, NULL,
                             TRUE, CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT,
                             plan->environment, NULL, &si, pi);
    if (!created)
        err = GetLastError();
    close_std_handles(&dups); /* the child has its own copies now */
    if (!created)
        return err;
    /* Assignment can fail for good reasons (a non-nestable parent job before
     * Windows 8): uv PR #18168 and libuv make it non-fatal. */
    if (job && !AssignProcessToJobObject(job, pi->hProcess))
        warn("could not assign the child to the job object", GetLastError());
    if (ResumeThread(pi->hThread) == (DWORD)-1) {
        err = GetLastError();
        TerminateProcess(pi->hProcess, 1);
        WaitForSingleObject(pi->hProcess, INFINITE);
        CloseHandle(pi->hThread);
        CloseHandle(pi->hProcess);
        return err;
    }
    CloseHandle(pi->hThread);
    return 0;
}

/* Waits for the child and exits with its exit code; returns only if the wait
 * itself fails, which leaves no sane state: the child is killed first. */
static DWORD wait_and_exit(PROCESS_INFORMATION *pi)
{
    DWORD code;

    /* Read the code only after the wait: 259 (STILL_ACTIVE) is a legal exit code. */
    if (WaitForSingleObject(pi->hProcess, INFINITE) == WAIT_OBJECT_0 &&
        GetExitCodeProcess(pi->hProcess, &code))
        ExitProcess(code); /* full 32-bit DWORD, e.g. 0xC0000005 */
    code = GetLastError();
    TerminateProcess(pi->hProcess, 1);
    CloseHandle(pi->hProcess);
    return code ? code : ERROR_GEN_FAILURE;
}

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

int reexec_exec(const reexec_exe *exe, const char *path,
                char *const argv[], char *const envp[],
                unsigned int tiers, reexec_report *report)
{
    PROCESS_INFORMATION pi;
    launch_plan plan;
    DWORD err;

    (void)exe; /* nothing is held open on Windows; the path is what runs */
    if (report)
        report->count = 0;
    if (!(tiers & REEXEC_TIER_CREATEPROCESS))
        return unsupported_tiers(tiers, report);

    err = make_plan(path, argv, envp, &plan);
    if (!err) {
        g_child_job = create_kill_on_close_job();
        /* Registered before the child starts (py.exe order), so no Ctrl+C can
         * reach only the default handler in between. */
        SetConsoleCtrlHandler(ignore_console_event, TRUE);
        err = start_child(&plan, g_child_job, &pi);
        if (!err)
            err = wait_and_exit(&pi);
        SetConsoleCtrlHandler(ignore_console_event, FALSE);
        if (g_child_job)
            CloseHandle(g_child_job);
        g_child_job = NULL;
    }
    free_plan(&plan);
    record_attempt(report, REEXEC_TIER_CREATEPROCESS, (int)err, REEXEC_NOTE_WIN32);
    SetLastError(err);
    return (int)err;
}

#else
/* Keeps ISO C happy (no empty translation unit) when a POSIX build compiles every csrc file. */
typedef int reexec_win_not_built_here;
#endif /* _WIN32 */
