/*
 * win_child.h - supervising the child that stands in for exec on Windows.
 *
 * Internal header of csrc/ (not part of the public reexec.h API); Windows only.
 */
#ifndef REEXEC_WIN_CHILD_H
#define REEXEC_WIN_CHILD_H

#include <windows.h>

#include <wchar.h>

/*
 * Pins: the handles reexec_open keeps (share mode FILE_SHARE_READ only, so the
 * file cannot be renamed, deleted or written while pinned), by number. The
 * number is what reexec_exe.fd holds on Windows: REEXEC_WIN_PIN_BASE + a slot,
 * never a CRT descriptor (see win_child.c for why).
 */
#define REEXEC_WIN_PIN_BASE 0x10000

/* Takes ownership of `handle` (not inheritable) and returns its pin number, or
 * -1 with ERROR_TOO_MANY_OPEN_FILES in GetLastError() (the handle is then closed). */
int reexec_win_pin_store(HANDLE handle);

/* The pinned handle behind `pin`, or NULL when `pin` is not a pin that still
 * holds its file (never stored, released, or freed). */
HANDLE reexec_win_pin_handle(int pin);

/* Frees `pin` (closing its handle if still held). 0, or ERROR_INVALID_HANDLE
 * when `pin` is not an allocated pin number. */
DWORD reexec_win_pin_free(int pin);

/*
 * The handles the child inherits, and only those (PROC_THREAD_ATTRIBUTE_HANDLE_LIST):
 * the std handles `si` passes (or, without STARTF_USESTDHANDLES, ours), each once,
 * leaving out those CreateProcessW refuses in the list (not inheritable, console
 * pseudo-handles, NULL/INVALID_HANDLE_VALUE). An empty list means inherit nothing.
 */
typedef struct inherit_list {
    HANDLE handles[3];
    int count;
} inherit_list;

void reexec_win_inherit_list(const STARTUPINFOW *si, inherit_list *list);

/*
 * Runs `application` (a full path) as a child in a kill-on-close job, with the
 * console-control handler registered and this process's std handles inherited
 * (no other handle: see reexec_win_inherit_list),
 * waits for it and ExitProcess()es with its full 32-bit exit code. Returns only
 * if the hand-over fails, with the Win32 error: the child then does not run
 * (or was killed) and the handler is removed again. `environment` is a
 * CREATE_UNICODE_ENVIRONMENT block or NULL to inherit ours. `pin` (or -1) is
 * released once the child runs: its image section holds the file from then on,
 * and the child may rename its own program (self-update) while we wait.
 * With `exit_code` not NULL it does not exit: it stores the child's exit code
 * there and returns 0 (the handler is removed, the job closed; the child is gone).
 */
DWORD reexec_win_hand_over(const wchar_t *application, wchar_t *command_line,
                           wchar_t *environment, int pin, unsigned long *exit_code);

#endif /* REEXEC_WIN_CHILD_H */
