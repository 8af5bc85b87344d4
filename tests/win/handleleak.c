/*
 * handleleak.c - does an inheritable handle of the shim leak into its child?
 *
 *   handleleak.exe parent FILE LAUNCHER...
 *       opens FILE for writing as an inheritable handle H, then runs
 *       "LAUNCHER... handleleak.exe child H" inheriting it (so the launcher has H
 *       at the same value), waits, and prints "launcher-exit=<code>".
 *   handleleak.exe child H
 *       writes "leaked" through the handle value H: prints "handle=usable" when
 *       that worked (H reached this process), else "handle=unusable err=<Win32
 *       error>"; and "stdout=ok" on its stdout, "stderr=ok" on its stderr (the
 *       std handles still arrive).
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "start_process.h"

static int child(const wchar_t *value)
{
    HANDLE handle = (HANDLE)(ULONG_PTR)wcstoull(value, NULL, 16);
    DWORD put;

    if (WriteFile(handle, "leaked", 6, &put, NULL))
        printf("handle=usable\n");
    else
        printf("handle=unusable err=%lu\n", (unsigned long)GetLastError());
    printf("stdout=ok\n");
    fflush(stdout);
    fprintf(stderr, "stderr=ok\n");
    return 0;
}

static int parent(const wchar_t *file, int argc, wchar_t **argv)
{
    SECURITY_ATTRIBUTES inheritable = { sizeof(inheritable), NULL, TRUE };
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    wchar_t line[4096];
    size_t used = 0;
    DWORD code;
    HANDLE handle;
    int i;

    handle = CreateFileW(file, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &inheritable,
                         CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (handle == INVALID_HANDLE_VALUE) {
        printf("createfile-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    for (i = 0; i < argc; i++)
        used += (size_t)swprintf(line + used, 4096 - used, L"%ls ", argv[i]);
    swprintf(line + used, 4096 - used, L"handleleak.exe child %llx",
             (unsigned long long)(ULONG_PTR)handle);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!start_process(NULL, line, TRUE, &si, &pi)) {
        printf("createprocess-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    CloseHandle(pi.hThread);
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(handle);
    printf("launcher-exit=%lu\n", (unsigned long)code);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 3 && wcscmp(argv[1], L"child") == 0)
        return child(argv[2]);
    if (argc >= 4 && wcscmp(argv[1], L"parent") == 0)
        return parent(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: handleleak.exe parent FILE LAUNCHER... | child HANDLE\n");
    return 2;
}
