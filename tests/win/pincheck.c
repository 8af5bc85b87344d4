/*
 * pincheck.c - what reexec_open's pin holds on Windows (csrc/windows/reexec_win.c and
 * win_child.c, linked in), and what reexec_exec's identity check refuses.
 *
 *   pincheck.exe hold T          pin T; rename/replace/write/delete it from this
 *                                process ("same"), from a child ("other"), and
 *                                after reexec_close ("after")
 *   pincheck.exe probe T         the "other" process of `hold`
 *   pincheck.exe exec T ARGS...  pin T and reexec_exec it (argv = T ARGS...)
 *   pincheck.exe swapdir DIR     pin DIR\d\target.exe, rename DIR\d away, put
 *                                DIR\canary.exe in its place, reexec_exec
 *   pincheck.exe stale T NEW     open T, close it (fd -1), replace T by NEW,
 *                                reexec_exec the stale struct
 *   pincheck.exe truncate T      pin T, truncate it with CREATE_ALWAYS and no
 *                                write access, reexec_exec
 *   pincheck.exe badpin T        reexec_exec a copy of a closed struct (fd >= 0)
 *   pincheck.exe self            reexec_open_self, try renaming the own image,
 *                                reexec_exec itself as `child HANDLE`
 *   pincheck.exe child HANDLE    is HANDLE (the parent's pin) ours? can the own
 *                                image be renamed once the parent let go?
 *
 * Output: one "WHAT CODE ..." line per step (Win32 codes, 0 = succeeded), and
 * "exec-failed ret=R" + "attempt tier=T err=E note=O" lines when reexec_exec
 * returns (exit 126).
 */
#include "reexec.h"
#include "win_child.h"
#include "std_handles.h"

#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static char *utf8(const wchar_t *text)
{
    int bytes = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
    char *out = malloc((size_t)bytes);

    WideCharToMultiByte(CP_UTF8, 0, text, -1, out, bytes, NULL, NULL);
    return out;
}

static void step(const char *who, const char *what, BOOL ok)
{
    printf("%s %s %lu\n", who, what, ok ? 0ul : (unsigned long)GetLastError());
    fflush(stdout);
}

static void suffixed(wchar_t *out, const wchar_t *path, const wchar_t *suffix)
{
    swprintf(out, 1024, L"%ls%ls", path, suffix);
}

/* Each operation puts things back when it succeeds, so the next one starts
 * from the same file. */
static void operations(const char *who, const wchar_t *t)
{
    wchar_t other[1024];
    HANDLE h;
    BOOL ok;

    suffixed(other, t, L".moved");
    ok = MoveFileExW(t, other, 0);
    step(who, "rename", ok);
    if (ok)
        MoveFileExW(other, t, 0);

    suffixed(other, t, L".new");
    CopyFileW(t, other, FALSE); /* reading is allowed while pinned */
    ok = MoveFileExW(other, t, MOVEFILE_REPLACE_EXISTING);
    step(who, "replace", ok);
    if (!ok)
        DeleteFileW(other);

    h = CreateFileW(t, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, 0, NULL);
    step(who, "write", h != INVALID_HANDLE_VALUE);
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);

    suffixed(other, t, L".keep");
    CopyFileW(t, other, FALSE);
    ok = DeleteFileW(t);
    step(who, "delete", ok);
    if (ok)
        MoveFileExW(other, t, 0);
    else
        DeleteFileW(other);
}

/* Runs `pincheck probe T` sharing our stdout, waits for it. */
static void run_probe(const wchar_t *t)
{
    wchar_t self[MAX_PATH], line[3 * 1024];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;

    GetModuleFileNameW(NULL, self, MAX_PATH);
    swprintf(line, 3 * 1024, L"\"%ls\" probe \"%ls\"", self, t);
    startup_info_with_our_std_handles(&si);
    if (!CreateProcessW(self, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        step("other", "createprocess", FALSE);
        return;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
}

static int open_or_fail(const wchar_t *t, reexec_exe *exe)
{
    char *path = utf8(t);
    int err = reexec_open(path, exe);

    printf("open %d fd=%d pinned=%d\n", err, exe->fd, reexec_win_pin_handle(exe->fd) != NULL);
    fflush(stdout);
    free(path);
    return err;
}

/* reexec_exec(exe, t, [t, extra...]); returns only on failure. */
static int exec_it(const reexec_exe *exe, const wchar_t *t, int extra_count, wchar_t **extra)
{
    char *argv[16];
    char *path = utf8(t);
    reexec_report report;
    int i, err;

    argv[0] = path;
    for (i = 0; i < extra_count && i < 14; i++)
        argv[i + 1] = utf8(extra[i]);
    argv[i + 1] = NULL;
    fflush(stdout);
    err = reexec_exec(exe, path, argv, NULL, REEXEC_TIER_CREATEPROCESS, &report);
    printf("exec-failed ret=%d\n", err);
    for (i = 0; i < report.count; i++)
        printf("attempt tier=%d err=%d note=%d\n", report.attempts[i].tier,
               report.attempts[i].err, report.attempts[i].note);
    fflush(stdout);
    return 126;
}

static int hold(const wchar_t *t)
{
    reexec_exe exe;

    int closed;

    if (open_or_fail(t, &exe))
        return 2;
    operations("same", t);
    run_probe(t);
    printf("close %d\n", reexec_close(&exe));
    closed = reexec_close(&exe);
    printf("close-again %d fd=%d\n", closed, exe.fd);
    operations("after", t);
    return 0;
}

static int swapdir(const wchar_t *dir)
{
    wchar_t d[1024], old[1024], t[1024], canary[1024];
    reexec_exe exe;

    swprintf(d, 1024, L"%ls\\d", dir);
    swprintf(old, 1024, L"%ls\\d.old", dir);
    swprintf(t, 1024, L"%ls\\d\\target.exe", dir);
    swprintf(canary, 1024, L"%ls\\canary.exe", dir);
    if (open_or_fail(t, &exe))
        return 2;
    step("swap", "rename-dir", MoveFileExW(d, old, 0));
    step("swap", "mkdir", CreateDirectoryW(d, NULL));
    step("swap", "copy", CopyFileW(canary, t, FALSE));
    return exec_it(&exe, t, 0, NULL);
}

static int stale(const wchar_t *t, const wchar_t *replacement)
{
    reexec_exe exe;

    int closed;

    if (open_or_fail(t, &exe))
        return 2;
    closed = reexec_close(&exe); /* dev/ino/size stay: a path-only struct */
    printf("close %d fd=%d\n", closed, exe.fd);
    step("swap", "replace", MoveFileExW(replacement, t, MOVEFILE_REPLACE_EXISTING));
    return exec_it(&exe, t, 0, NULL);
}

static int truncate_pinned(const wchar_t *t)
{
    reexec_exe exe;
    HANDLE h;

    if (open_or_fail(t, &exe))
        return 2;
    h = CreateFileW(t, FILE_READ_ATTRIBUTES,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, CREATE_ALWAYS, 0, NULL);
    step("swap", "truncate", h != INVALID_HANDLE_VALUE);
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    return exec_it(&exe, t, 0, NULL);
}

static int badpin(const wchar_t *t)
{
    reexec_exe exe, copy;
    int code;

    if (open_or_fail(t, &exe))
        return 2;
    copy = exe; /* still says fd >= 0 once exe is closed */
    printf("close %d\n", reexec_close(&exe));
    code = exec_it(&copy, t, 0, NULL);
    printf("close-copy %d\n", reexec_close(&copy));
    return code;
}

static int self_pin(void)
{
    wchar_t self[MAX_PATH], moved[1024], value[32];
    wchar_t *extra[2];
    reexec_exe exe;
    BOOL ok;
    int err = reexec_open_self(&exe);

    printf("open-self %d pinned=%d\n", err, reexec_win_pin_handle(exe.fd) != NULL);
    if (err)
        return 2;
    GetModuleFileNameW(NULL, self, MAX_PATH);
    suffixed(moved, self, L".moved");
    ok = MoveFileExW(self, moved, 0);
    step("self", "rename", ok);
    if (ok)
        MoveFileExW(moved, self, 0);
    swprintf(value, 32, L"%llx",
             (unsigned long long)(ULONG_PTR)reexec_win_pin_handle(exe.fd));
    extra[0] = L"child";
    extra[1] = value;
    return exec_it(&exe, self, 2, extra);
}

static int child(const wchar_t *value)
{
    HANDLE theirs = (HANDLE)(ULONG_PTR)wcstoull(value, NULL, 16);
    BY_HANDLE_FILE_INFORMATION mine, got;
    wchar_t self[MAX_PATH], moved[1024];
    HANDLE h;
    int tries;
    BOOL ok = FALSE;

    GetModuleFileNameW(NULL, self, MAX_PATH);
    h = CreateFileW(self, FILE_READ_ATTRIBUTES,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                    OPEN_EXISTING, 0, NULL);
    GetFileInformationByHandle(h, &mine);
    CloseHandle(h);
    /* A handle value means nothing in another process unless it was inherited
     * (same value); if it names something here, it must not be our image. */
    if (!GetFileInformationByHandle(theirs, &got))
        printf("child handle-invalid %lu\n", (unsigned long)GetLastError());
    else if (got.dwVolumeSerialNumber == mine.dwVolumeSerialNumber &&
             got.nFileIndexHigh == mine.nFileIndexHigh && got.nFileIndexLow == mine.nFileIndexLow)
        printf("child handle-inherited 1\n");
    else
        printf("child handle-other-object 0\n");
    /* The parent releases its pin right after starting us: retry a little. */
    suffixed(moved, self, L".moved");
    for (tries = 1; tries <= 100; tries++) {
        ok = MoveFileExW(self, moved, 0);
        if (ok)
            break;
        Sleep(20);
    }
    printf("child self-rename %lu tries=%d\n", ok ? 0ul : (unsigned long)GetLastError(), tries);
    if (ok)
        MoveFileExW(moved, self, 0);
    fflush(stdout);
    return 7;
}

int wmain(int argc, wchar_t **argv)
{
    reexec_exe exe;

    if (argc == 3 && wcscmp(argv[1], L"hold") == 0)
        return hold(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"probe") == 0) {
        operations("other", argv[2]);
        return 0;
    }
    if (argc >= 3 && wcscmp(argv[1], L"exec") == 0) {
        if (open_or_fail(argv[2], &exe))
            return 2;
        return exec_it(&exe, argv[2], argc - 3, argv + 3);
    }
    if (argc == 3 && wcscmp(argv[1], L"swapdir") == 0)
        return swapdir(argv[2]);
    if (argc == 4 && wcscmp(argv[1], L"stale") == 0)
        return stale(argv[2], argv[3]);
    if (argc == 3 && wcscmp(argv[1], L"truncate") == 0)
        return truncate_pinned(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"badpin") == 0)
        return badpin(argv[2]);
    if (argc == 2 && wcscmp(argv[1], L"self") == 0)
        return self_pin();
    if (argc == 3 && wcscmp(argv[1], L"child") == 0)
        return child(argv[2]);
    fputs("usage: pincheck.exe hold|probe|exec|swapdir|stale|truncate|badpin|self|child ...\n",
          stderr);
    return 2;
}
