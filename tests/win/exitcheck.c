/*
 * exitcheck.c - a Windows parent that reports full 32-bit exit codes
 * (Wine's Unix exit status keeps only 8 bits).
 *
 *   exitcheck.exe COMMAND LINE...
 *       runs the rest of its own command line verbatim (as py.exe passes its
 *       tail on) and prints "exit=<code>" from GetExitCodeProcess. Also the
 *       plain, job-less launcher of the kill test's control case.
 *   exitcheck.exe --codes C1,C2,... COMMAND LINE...
 *       runs "COMMAND LINE Ci" for each code, one "exit=<code>" line each.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "skip_argument.h"
#include "start_process.h"

static int run_and_report(wchar_t *command_line)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code;

    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!start_process(NULL, command_line, TRUE, &si, &pi)) {
        printf("createprocess-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    CloseHandle(pi.hThread);
    WaitForSingleObject(pi.hProcess, INFINITE);
    if (!GetExitCodeProcess(pi.hProcess, &code)) {
        printf("getexitcode-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    CloseHandle(pi.hProcess);
    printf("exit=%lu\n", (unsigned long)code);
    fflush(stdout);
    return 0;
}

static int run_each_code(wchar_t *codes, const wchar_t *tail)
{
    size_t size = wcslen(tail) + wcslen(codes) + 2;
    wchar_t *line = malloc(size * sizeof(wchar_t));
    wchar_t *code = codes, *comma;
    int result = 0;

    for (; code && result == 0; code = comma ? comma + 1 : NULL) {
        comma = wcschr(code, L',');
        if (comma)
            *comma = L'\0';
        swprintf(line, size, L"%ls %ls", tail, code);
        result = run_and_report(line);
    }
    free(line);
    return result;
}

int wmain(int argc, wchar_t **argv)
{
    wchar_t *tail = skip_argument(GetCommandLineW());

    if (argc > 2 && wcscmp(argv[1], L"--codes") == 0)
        return run_each_code(argv[2], skip_argument(skip_argument(tail)));
    return run_and_report(tail);
}
