/*
 * exitcheck.c - exitcheck.exe COMMAND LINE...
 * A Windows parent: runs the rest of its own command line (verbatim, as py.exe
 * passes its tail on) with CreateProcessW, waits, and prints "exit=<code>" with
 * the full 32-bit GetExitCodeProcess value (Wine's Unix status keeps 8 bits).
 * Also a plain, job-less launcher for the control case of the kill test.
 */
#include <windows.h>
#include <stdio.h>

/* The command line after argv[0] (argv[0] has no escapes: quotes only). */
static wchar_t *command_tail(wchar_t *line)
{
    int quoted = 0;

    for (; *line; line++) {
        if (*line == L'"')
            quoted = !quoted;
        else if (!quoted && (*line == L' ' || *line == L'\t'))
            break;
    }
    while (*line == L' ' || *line == L'\t')
        line++;
    return line;
}

int wmain(void)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code;

    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!CreateProcessW(NULL, command_tail(GetCommandLineW()), NULL, NULL, TRUE, 0,
                        NULL, NULL, &si, &pi)) {
        printf("createprocess-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    if (!GetExitCodeProcess(pi.hProcess, &code)) {
        printf("getexitcode-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    printf("exit=%lu\n", (unsigned long)code);
    return 0;
}
