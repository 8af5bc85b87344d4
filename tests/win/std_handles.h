/* std_handles.h - shared by the Windows test parents that start a child on their
 * own stdin/stdout/stderr. */
#ifndef STD_HANDLES_H
#define STD_HANDLES_H

#include <windows.h>
#include <string.h>

/* A STARTUPINFOW that hands the child our std handles (made inheritable). */
static void startup_info_with_our_std_handles(STARTUPINFOW *si)
{
    memset(si, 0, sizeof(*si));
    si->cb = sizeof(*si);
    si->dwFlags = STARTF_USESTDHANDLES;
    si->hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si->hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si->hStdError = GetStdHandle(STD_ERROR_HANDLE);
    SetHandleInformation(si->hStdOutput, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    SetHandleInformation(si->hStdError, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
}

#endif
