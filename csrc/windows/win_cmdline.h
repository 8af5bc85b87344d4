/*
 * win_cmdline.h - Windows command-line building for the CreateProcessW shim.
 *
 * Internal header of csrc/ (not part of the public reexec.h API). Pure C99 over
 * wchar_t, no windows.h: on Windows wchar_t is a UTF-16 code unit, on Linux it is
 * wider, and the rules below do not care, so the same code is unit-tested natively
 * with gcc and under Wine. This file is the one source of truth for quoting.
 */
#ifndef REEXEC_WIN_CMDLINE_H
#define REEXEC_WIN_CMDLINE_H

#include <stddef.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Build the command line that CommandLineToArgvW and the MSVCRT argv parser split
 * back into exactly argv[0..]:
 *  - argv[0] is always wrapped in quotes and copied verbatim: the parsers treat
 *    argv[0] without escapes (quotes only), as Rust's make_command_line does;
 *    an argv[0] containing '"' cannot be expressed, so it is refused (EINVAL).
 *  - every other argument is quoted when it is empty or contains a space or tab;
 *    '"' is written as \" with the backslashes before it doubled, and the
 *    backslashes before a closing quote are doubled (subprocess.list2cmdline,
 *    Rust append_arg). `""` is never used as an escape (Wine's msvcrt.dll and
 *    Windows' disagree on it, see docs/windows.md).
 * argv is NULL-terminated and must have at least argv[0] (else EINVAL).
 * `out` may be NULL to measure; otherwise it must hold *length + 1 units.
 * *length receives the number of units without the terminating NUL.
 * Returns 0 or EINVAL.
 */
int reexec_win_quote_argv(const wchar_t *const argv[], wchar_t *out, size_t *length);

/*
 * Nonzero when `path` names a batch file: it ends in ".bat" or ".cmd" (any case)
 * once trailing dots and spaces are ignored, as Windows ignores them when it opens
 * the file ("x.BAT. ." runs x.bat: CVE-2024-43402). cmd.exe re-parses a batch
 * file's arguments with its own rules (BatBadBut, CVE-2024-24576), so the shim
 * refuses such targets. Call it on the full path (GetFullPathNameW).
 */
int reexec_win_is_batch(const wchar_t *path);

#ifdef __cplusplus
}
#endif

#endif /* REEXEC_WIN_CMDLINE_H */
