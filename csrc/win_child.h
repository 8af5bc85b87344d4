/*
 * win_child.h - supervising the child that stands in for exec on Windows.
 *
 * Internal header of csrc/ (not part of the public reexec.h API); Windows only.
 */
#ifndef REEXEC_WIN_CHILD_H
#define REEXEC_WIN_CHILD_H

#ifdef _WIN32

#include <windows.h>

#include <wchar.h>

/*
 * Runs `application` (a full path) as a child in a kill-on-close job, with the
 * console-control handler registered and this process's std handles inherited,
 * waits for it and ExitProcess()es with its full 32-bit exit code. Returns only
 * if the hand-over fails, with the Win32 error: the child then does not run
 * (or was killed) and the handler is removed again. `environment` is a
 * CREATE_UNICODE_ENVIRONMENT block or NULL to inherit ours.
 */
DWORD reexec_win_hand_over(const wchar_t *application, wchar_t *command_line,
                           wchar_t *environment);

#endif /* _WIN32 */

#endif /* REEXEC_WIN_CHILD_H */
