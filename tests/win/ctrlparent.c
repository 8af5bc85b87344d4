/*
 * ctrlparent.c - ctrlparent.exe READYFILE LAUNCHER [ARGS...]
 * Runs the launcher (reexec_run.exe ctrlchild.exe READYFILE), waits for
 * READYFILE, sends CTRL_C_EVENT to the whole console group (itself included; it
 * ignores it), and prints "exit=<code>" of the launcher. Needs a console: under
 * Wine, run it in a pty (script(1)); prints "no-console" otherwise.
 * Expected with a correct shim: exit=5 (the shim ignored Ctrl+C, the child got
 * it and its exit code was forwarded).
 */
#include <windows.h>
#include <stdio.h>

static BOOL WINAPI ignore_event(DWORD event)
{
    (void)event;
    return TRUE;
}

#include "skip_argument.h"
#include "start_process.h"

int wmain(int argc, wchar_t **argv)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 0, mode;
    int tries;

    if (argc < 3)
        return 2;
    if (!GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mode)) {
        printf("no-console\n");
        return 0;
    }
    SetConsoleCtrlHandler(ignore_event, TRUE);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!start_process(NULL, skip_argument(skip_argument(GetCommandLineW())), FALSE, &si, &pi)) {
        printf("createprocess-failed=%lu\n", (unsigned long)GetLastError());
        return 3;
    }
    for (tries = 0; tries < 400 && GetFileAttributesW(argv[1]) == INVALID_FILE_ATTRIBUTES;
         tries++)
        Sleep(50);
    Sleep(200); /* the child's handler is installed before READYFILE exists */
    if (!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) {
        printf("generate-failed=%lu\n", (unsigned long)GetLastError());
        TerminateProcess(pi.hProcess, 1);
        return 3;
    }
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &code);
    printf("exit=%lu\n", (unsigned long)code);
    return 0;
}
