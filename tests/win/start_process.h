/* start_process: CreateProcessW (no security attributes, no flags, our environment and
 * directory) for a test program's own starts, tried again when Wine answers
 * ERROR_INTERNAL_ERROR (1359), which Wine 8 does now and then under load (seen in the
 * harness's and killcheck's set-up starts, never from the code under test); any other
 * error at once. GetLastError() is the last try's on FALSE. */
#ifndef START_PROCESS_H
#define START_PROCESS_H

#include <windows.h>

static BOOL start_process(const wchar_t *application, wchar_t *command_line, BOOL inherit,
                          STARTUPINFOW *si, PROCESS_INFORMATION *pi)
{
    int tries;

    for (tries = 1;; tries++) {
        if (CreateProcessW(application, command_line, NULL, NULL, inherit, 0, NULL, NULL, si, pi))
            return TRUE;
        if (GetLastError() != ERROR_INTERNAL_ERROR || tries == 5)
            return FALSE;
        Sleep(100 * tries);
    }
}

#endif
