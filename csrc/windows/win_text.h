/*
 * win_text.h - text for the CreateProcessW shim: UTF-8 <-> UTF-16, Win32 error
 * -> errno, and the environment block CreateProcessW wants.
 *
 * Internal header of csrc/ (not part of the public reexec.h API); Windows only.
 * Every function that can fail returns 0 or a Win32 error code.
 */
#ifndef REEXEC_WIN_TEXT_H
#define REEXEC_WIN_TEXT_H

#include <windows.h>

#include <wchar.h>

/* reexec_open & co. return errno values on every OS. */
int reexec_win_errno_from_win32(DWORD code);

/* UTF-8 -> newly allocated UTF-16 (*out is NULL on error). */
DWORD reexec_win_utf8_to_wide(const char *text, wchar_t **out);

/* UTF-16 -> newly allocated UTF-8 (*out is NULL on error). */
DWORD reexec_win_wide_to_utf8(const wchar_t *text, char **out);

/* NULL-terminated UTF-8 list -> newly allocated NULL-terminated UTF-16 list. */
DWORD reexec_win_utf8_list_to_wide(char *const list[], wchar_t ***out);

/* Frees a list from reexec_win_utf8_list_to_wide; NULL is fine. */
void reexec_win_free_wide_list(wchar_t **list);

/* UTF-8 "NAME=VALUE" list -> newly allocated, sorted, double-NUL-terminated
 * UTF-16 block for CREATE_UNICODE_ENVIRONMENT. Entries that are not NAME=VALUE
 * are left out. */
DWORD reexec_win_environment_block(char *const envp[], wchar_t **block);

#endif /* REEXEC_WIN_TEXT_H */
