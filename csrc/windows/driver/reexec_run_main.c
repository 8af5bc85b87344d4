/*
 * reexec_run_main.c - reexec_run.exe PROGRAM [ARGS...]
 *
 * The C equivalent of reexec() on Windows without the cargo tier: open PROGRAM,
 * hand over to it with REEXEC_TIER_CREATEPROCESS (argv = [PROGRAM, ARGS...], the
 * current environment, passed explicitly so the environment-block code runs),
 * and exit with its full 32-bit exit code. On failure: a message naming the
 * path, the tier and the Win32 error on stderr, and exit 127 (not found) or 126.
 */
#include "reexec.h"
#include "../win_cmdline.h"
#include "../win_text.h"

#include <windows.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_NOT_FOUND 127
#define EXIT_CANNOT_RUN 126

static char *wide_to_utf8(const wchar_t *text)
{
    char *out;

    return reexec_win_wide_to_utf8(text, &out) == 0 ? out : NULL;
}

/* argv[first..argc) as a NULL-terminated UTF-8 list. */
static char **utf8_arguments(int argc, wchar_t **argv, int first)
{
    char **list = calloc((size_t)(argc - first + 1), sizeof(*list));
    int i;

    if (!list)
        return NULL;
    for (i = first; i < argc; i++)
        if (!(list[i - first] = wide_to_utf8(argv[i])))
            return NULL;
    return list;
}

/* The current environment (GetEnvironmentStringsW) as UTF-8 "NAME=VALUE". */
static char **utf8_environment(void)
{
    wchar_t *block = GetEnvironmentStringsW(), *entry;
    size_t count = 0, i = 0;
    char **list;

    if (!block)
        return NULL;
    for (entry = block; *entry; entry += wcslen(entry) + 1)
        count++;
    list = calloc(count + 1, sizeof(*list));
    for (entry = block; list && *entry; entry += wcslen(entry) + 1)
        if (!(list[i++] = wide_to_utf8(entry)))
            list = NULL;
    FreeEnvironmentStringsW(block);
    return list;
}

/* The system's text for a Win32 error, UTF-8, without the trailing newline. */
static void print_win32_message(DWORD code)
{
    wchar_t text[512];
    char *utf8;
    size_t n;

    if (!FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                        NULL, code, 0, text, 512, NULL))
        return;
    n = wcslen(text);
    while (n > 0 && (text[n - 1] == L'\n' || text[n - 1] == L'\r' || text[n - 1] == L' '))
        text[--n] = L'\0';
    utf8 = wide_to_utf8(text);
    if (utf8)
        fprintf(stderr, ": %s", utf8);
    free(utf8);
}

static int is_not_found(DWORD code)
{
    return code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND ||
           code == ERROR_INVALID_NAME || code == ERROR_BAD_NETPATH;
}

static int fail(const char *step, const char *path, DWORD win32, int errnum)
{
    fprintf(stderr, "reexec_run: cannot %s '%s' (tier createprocess): Win32 error %lu",
            step, path, (unsigned long)win32);
    print_win32_message(win32);
    if (errnum)
        fprintf(stderr, " [errno %d: %s]", errnum, strerror(errnum));
    fputc('\n', stderr);
    return (errnum == ENOENT || (!errnum && is_not_found(win32)))
               ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

static void explain_batch_refusal(const char *path)
{
    fprintf(stderr, "reexec_run: refusing to run the batch file '%s': .bat/.cmd "
                    "targets run through cmd.exe, which re-parses arguments by its own "
                    "rules (BatBadBut, CVE-2024-24576); run an .exe instead\n", path);
}

int wmain(int argc, wchar_t **argv)
{
    char **args, **env;
    reexec_exe exe;
    reexec_report report;
    int err;

    if (argc < 2) {
        fputs("usage: reexec_run PROGRAM [ARGS...]\n", stderr);
        return 2;
    }
    args = utf8_arguments(argc, argv, 1);
    env = utf8_environment();
    if (!args || !env) {
        fputs("reexec_run: out of memory or invalid UTF-16 in arguments/environment\n", stderr);
        return EXIT_CANNOT_RUN;
    }
    err = reexec_open(args[0], &exe);
    if (err)
        return fail("open", args[0], GetLastError(), err);
    err = reexec_exec(&exe, args[0], args, env, REEXEC_TIER_CREATEPROCESS, &report);
    reexec_close(&exe);
    if ((DWORD)err == ERROR_BAD_EXE_FORMAT && reexec_win_is_batch(argv[1]))
        explain_batch_refusal(args[0]);
    return fail("run", args[0], (DWORD)err, 0);
}
