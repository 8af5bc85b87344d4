/*
 * win_child.c - the child that stands in for exec on Windows (see win_child.h).
 *
 * As CPython's py.exe (PC/launcher2.c launchEnvironment), uv's trampoline
 * (bounce.rs) and distlib's launcher (PC/launcher.c run_child) do: the child runs
 * in a kill-on-close job, owns the console's Ctrl+C, inherits our std handles,
 * and its full 32-bit exit code becomes ours. Research and sources: docs/windows.md.
 */
#include "win_child.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Pins                                                                */

/*
 * reexec_open's handles live here, not behind CRT descriptors
 * (_open_osfhandle), for two reasons:
 *  - the hand-over releases the pin once the child runs (see
 *    reexec_win_hand_over) while the caller's reexec_exe, const in
 *    reexec_exec, still holds the number; a released slot stays allocated until
 *    reexec_close frees it, so nothing ever points at a closed or reused
 *    descriptor (the UCRT fast-fails on _close of a stale one: its default
 *    invalid-parameter handler, which a CFFI module cannot expect the host to
 *    have replaced);
 *  - a CRT descriptor belongs to the CRT the module was linked with
 *    (msvcrt.dll for mingw-w64, ucrtbase for MSVC/CPython), so it would not be
 *    a descriptor the caller's own CRT knows anyway.
 * Numbers start at REEXEC_WIN_PIN_BASE, above any CRT descriptor (UCRT: 8192),
 * so one is never mistaken for a live descriptor. Slots are claimed with
 * interlocked operations: reexec_open may run on several threads.
 */
#define PIN_SLOTS 256

enum { PIN_FREE = 0, PIN_HELD = 1, PIN_RELEASED = 2, PIN_BUSY = 3 };

static volatile LONG g_pin_state[PIN_SLOTS];
static HANDLE g_pin_handle[PIN_SLOTS];

static int pin_slot(int pin)
{
    int slot = pin - REEXEC_WIN_PIN_BASE;

    return (pin >= REEXEC_WIN_PIN_BASE && slot < PIN_SLOTS) ? slot : -1;
}

int reexec_win_pin_store(HANDLE handle)
{
    int slot;

    for (slot = 0; slot < PIN_SLOTS; slot++) {
        if (InterlockedCompareExchange(&g_pin_state[slot], PIN_BUSY, PIN_FREE) == PIN_FREE) {
            g_pin_handle[slot] = handle;
            InterlockedExchange(&g_pin_state[slot], PIN_HELD);
            return REEXEC_WIN_PIN_BASE + slot;
        }
    }
    CloseHandle(handle);
    SetLastError(ERROR_TOO_MANY_OPEN_FILES);
    return -1;
}

HANDLE reexec_win_pin_handle(int pin)
{
    int slot = pin_slot(pin);

    if (slot < 0 || g_pin_state[slot] != PIN_HELD)
        return NULL;
    return g_pin_handle[slot];
}

/* Closes the handle behind `pin` but keeps the number allocated, so the caller's
 * reexec_exe stays valid until reexec_close frees it. No-op if not pinned. */
static void pin_release(int pin)
{
    int slot = pin_slot(pin);

    if (slot < 0 ||
        InterlockedCompareExchange(&g_pin_state[slot], PIN_BUSY, PIN_HELD) != PIN_HELD)
        return;
    CloseHandle(g_pin_handle[slot]);
    g_pin_handle[slot] = NULL;
    InterlockedExchange(&g_pin_state[slot], PIN_RELEASED);
}

DWORD reexec_win_pin_free(int pin)
{
    int slot = pin_slot(pin);

    if (slot < 0)
        return ERROR_INVALID_HANDLE;
    if (InterlockedCompareExchange(&g_pin_state[slot], PIN_BUSY, PIN_HELD) == PIN_HELD) {
        CloseHandle(g_pin_handle[slot]);
    } else if (InterlockedCompareExchange(&g_pin_state[slot], PIN_BUSY, PIN_RELEASED)
               != PIN_RELEASED) {
        return ERROR_INVALID_HANDLE;
    }
    g_pin_handle[slot] = NULL;
    InterlockedExchange(&g_pin_state[slot], PIN_FREE);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Console control and job object                                      */

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

/* ------------------------------------------------------------------ */
/* Standard handles and STARTUPINFO                                    */

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
/* Which handles the child inherits                                    */

/*
 * Only the std handles: the child gets them and no other inheritable handle of
 * this process (a library's pipe, a listening socket, a log file), as CPython's
 * subprocess does since 3.7 (close_fds=True with std handles: _execute_child,
 * _filter_handle_list; _winapi.c getattributelist). CreateProcessW fails with
 * ERROR_INVALID_PARAMETER on a list that holds the same handle twice, a handle
 * that is not inheritable, or a console pseudo-handle (Windows 7: low bits 11,
 * a character device; the console gives those to the child itself), so each is
 * left out. The reexec API hands no other handle over on Windows (listen_fds and
 * pass_fds are POSIX only).
 */
static void inherit_only(inherit_list *list, HANDLE h)
{
    DWORD flags;
    int i;

    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return;
    if (((ULONG_PTR)h & 3) == 3 && GetFileType(h) == FILE_TYPE_CHAR)
        return;
    if (!GetHandleInformation(h, &flags) || !(flags & HANDLE_FLAG_INHERIT))
        return;
    for (i = 0; i < list->count; i++) {
        if (list->handles[i] == h)
            return;
    }
    list->handles[list->count++] = h;
}

void reexec_win_inherit_list(const STARTUPINFOW *si, inherit_list *list)
{
    list->count = 0;
    if (si->dwFlags & STARTF_USESTDHANDLES) {
        inherit_only(list, si->hStdInput);
        inherit_only(list, si->hStdOutput);
        inherit_only(list, si->hStdError);
    } else {
        /* hStdInput is a hotkey or monitor here: the child finds our std handles
         * at their numbers, which needs them inherited. */
        inherit_only(list, GetStdHandle(STD_INPUT_HANDLE));
        inherit_only(list, GetStdHandle(STD_OUTPUT_HANDLE));
        inherit_only(list, GetStdHandle(STD_ERROR_HANDLE));
    }
}

/* A PROC_THREAD_ATTRIBUTE_LIST with `list` as its HANDLE_LIST (which must stay
 * alive until CreateProcessW), or NULL with the Win32 error in *err. */
static LPPROC_THREAD_ATTRIBUTE_LIST handle_list_attribute(inherit_list *list, DWORD *err)
{
    LPPROC_THREAD_ATTRIBUTE_LIST attrs;
    SIZE_T size = 0;

    InitializeProcThreadAttributeList(NULL, 1, 0, &size); /* ERROR_INSUFFICIENT_BUFFER */
    attrs = (LPPROC_THREAD_ATTRIBUTE_LIST)HeapAlloc(GetProcessHeap(), 0, size);
    if (attrs == NULL) {
        *err = ERROR_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    if (!InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
        *err = GetLastError();
        HeapFree(GetProcessHeap(), 0, attrs);
        return NULL;
    }
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list->handles,
                                   (SIZE_T)list->count * sizeof(HANDLE), NULL, NULL)) {
        *err = GetLastError();
        DeleteProcThreadAttributeList(attrs);
        HeapFree(GetProcessHeap(), 0, attrs);
        return NULL;
    }
    return attrs;
}

static void free_attribute_list(LPPROC_THREAD_ATTRIBUTE_LIST attrs)
{
    if (attrs != NULL) {
        DeleteProcThreadAttributeList(attrs);
        HeapFree(GetProcessHeap(), 0, attrs);
    }
}

/* ------------------------------------------------------------------ */
/* Start, wait, exit                                                   */

/* Starts the child suspended, puts it in the job, lets it run. Returns 0 or a
 * Win32 error; the child does not exist on error. */
static DWORD start_child(const wchar_t *application, wchar_t *command_line,
                         wchar_t *environment, HANDLE job, PROCESS_INFORMATION *pi)
{
    STARTUPINFOEXW six;
    std_handles dups;
    inherit_list inherit;
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    DWORD err = 0, flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT;
    BOOL created;

    memset(&six, 0, sizeof(six));
    prepare_startup_info(&six.StartupInfo, &dups);
    reexec_win_inherit_list(&six.StartupInfo, &inherit);
    if (inherit.count > 0) {
        attrs = handle_list_attribute(&inherit, &err);
        if (attrs == NULL) {
            close_std_handles(&dups);
            return err;
        }
        six.StartupInfo.cb = sizeof(six);
        six.lpAttributeList = attrs;
        flags |= EXTENDED_STARTUPINFO_PRESENT;
    }
    /* CREATE_SUSPENDED: in the job before it runs a single instruction (swift
     * TSC exec, libuv PR #4152). No CREATE_NEW_PROCESS_GROUP: it disables
     * Ctrl+C in the child. bInheritHandles: only the listed handles (an empty
     * list: none, as CPython passes close_fds). */
    created = CreateProcessW(application, command_line, NULL, NULL, inherit.count > 0, flags,
                             environment, NULL, &six.StartupInfo, pi);
    if (!created)
        err = GetLastError();
    free_attribute_list(attrs);
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

/* Waits for the child and exits with its exit code (or, given `exit_code`,
 * stores it there and returns 0); a failed wait leaves no sane state: the child
 * is killed first and the Win32 error returned. */
static DWORD wait_and_exit(PROCESS_INFORMATION *pi, unsigned long *exit_code)
{
    DWORD code;

    /* Read the code only after the wait: 259 (STILL_ACTIVE) is a legal exit code. */
    if (WaitForSingleObject(pi->hProcess, INFINITE) == WAIT_OBJECT_0 &&
        GetExitCodeProcess(pi->hProcess, &code)) {
        if (!exit_code)
            ExitProcess(code); /* full 32-bit DWORD, e.g. 0xC0000005 */
        *exit_code = code;
        CloseHandle(pi->hProcess);
        return 0;
    }
    code = GetLastError();
    TerminateProcess(pi->hProcess, 1);
    CloseHandle(pi->hProcess);
    return code ? code : ERROR_GEN_FAILURE;
}

DWORD reexec_win_hand_over(const wchar_t *application, wchar_t *command_line,
                           wchar_t *environment, int pin, unsigned long *exit_code)
{
    PROCESS_INFORMATION pi;
    DWORD err;

    g_child_job = create_kill_on_close_job();
    /* Registered before the child starts (py.exe order), so no Ctrl+C can
     * reach only the default handler in between. */
    SetConsoleCtrlHandler(ignore_console_event, TRUE);
    err = start_child(application, command_line, environment, g_child_job, &pi);
    if (!err) {
        /* The child's image section now holds the file (it cannot be deleted or
         * written while mapped); holding the pin for the whole wait would only
         * stop the child from renaming its own program (self-update). */
        pin_release(pin);
        err = wait_and_exit(&pi, exit_code);
    }
    SetConsoleCtrlHandler(ignore_console_event, FALSE);
    if (g_child_job)
        CloseHandle(g_child_job);
    g_child_job = NULL;
    return err;
}
