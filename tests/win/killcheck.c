/*
 * killcheck.c - killcheck.exe TIMEOUT_MS PIDFILE LAUNCHER [ARGS...]
 * Starts the rest of its command line (a launcher that starts sleeper.exe
 * PIDFILE), waits for the sleeper's pid in PIDFILE, opens the sleeper,
 * TerminateProcess()es the launcher, and prints:
 *   child=gone      the sleeper died within TIMEOUT_MS (it was in a kill-on-close job)
 *   child=alive     it survived (then it is killed here, to clean up)
 * or "error=..." when the setup failed.
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

#include "skip_argument.h"
#include "start_process.h"

static DWORD wait_for_pid(const wchar_t *pidfile, HANDLE launcher)
{
    int tries;

    for (tries = 0; tries < 400; tries++) { /* 20 s */
        FILE *file = _wfopen(pidfile, L"r");
        unsigned long pid = 0;
        if (file) {
            int got = fscanf(file, "%lu", &pid);
            fclose(file);
            if (got == 1 && pid)
                return (DWORD)pid;
        }
        if (WaitForSingleObject(launcher, 50) == WAIT_OBJECT_0)
            return 0; /* the launcher ended before starting the sleeper */
    }
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    HANDLE child;
    DWORD pid, timeout_ms;

    if (argc < 4)
        return 2;
    timeout_ms = (DWORD)wcstoul(argv[1], NULL, 10);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!start_process(NULL, skip_argument(skip_argument(skip_argument(GetCommandLineW()))), TRUE, &si, &pi)) {
        printf("error=createprocess %lu\n", (unsigned long)GetLastError());
        return 3;
    }
    pid = wait_for_pid(argv[2], pi.hProcess);
    if (!pid) {
        printf("error=no pid\n");
        TerminateProcess(pi.hProcess, 1);
        return 3;
    }
    child = OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION,
                        FALSE, pid);
    if (!child) {
        printf("error=openprocess %lu\n", (unsigned long)GetLastError());
        TerminateProcess(pi.hProcess, 1);
        return 3;
    }
    TerminateProcess(pi.hProcess, 9);
    WaitForSingleObject(pi.hProcess, INFINITE);
    if (WaitForSingleObject(child, timeout_ms) == WAIT_OBJECT_0) {
        printf("child=gone\n");
    } else {
        printf("child=alive\n");
        TerminateProcess(child, 1);
    }
    return 0;
}
