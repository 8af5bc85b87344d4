/*
 * win_cmdline.c - MSVCRT / CommandLineToArgvW quoting and batch-file detection.
 * Portable C99 (see win_cmdline.h): compiled into the Windows shim and, natively,
 * into the quoting unit tests.
 */
#include "win_cmdline.h"

#include <errno.h>

/* Appends one unit when there is an output buffer; always counts it. */
static void put(wchar_t *out, size_t *pos, wchar_t c)
{
    if (out)
        out[*pos] = c;
    (*pos)++;
}

static void put_backslashes(wchar_t *out, size_t *pos, size_t count)
{
    while (count-- > 0)
        put(out, pos, L'\\');
}

static int needs_quotes(const wchar_t *arg)
{
    if (*arg == L'\0')
        return 1; /* an empty argument would vanish unquoted */
    for (; *arg; arg++)
        if (*arg == L' ' || *arg == L'\t')
            return 1;
    return 0;
}

/* argv[0] is parsed with quotes only, no escapes: "..." copied verbatim. */
static int append_program_name(const wchar_t *name, wchar_t *out, size_t *pos)
{
    const wchar_t *p;

    for (p = name; *p; p++)
        if (*p == L'"')
            return EINVAL;
    put(out, pos, L'"');
    for (p = name; *p; p++)
        put(out, pos, *p);
    put(out, pos, L'"');
    return 0;
}

/*
 * One argument after argv[0], by the MSVCRT rules (2n backslashes + quote ->
 * n backslashes + delimiter; 2n+1 + quote -> n + literal quote; other
 * backslashes are literal). Same algorithm as subprocess.list2cmdline.
 */
static void append_argument(const wchar_t *arg, wchar_t *out, size_t *pos)
{
    int quoted = needs_quotes(arg);
    size_t backslashes = 0;

    if (quoted)
        put(out, pos, L'"');
    for (; *arg; arg++) {
        if (*arg == L'\\') {
            backslashes++;
            continue;
        }
        if (*arg == L'"') {
            put_backslashes(out, pos, 2 * backslashes + 1);
            put(out, pos, L'"');
        } else {
            put_backslashes(out, pos, backslashes);
            put(out, pos, *arg);
        }
        backslashes = 0;
    }
    if (quoted) {
        /* doubled, so the last backslash cannot escape the closing quote */
        put_backslashes(out, pos, 2 * backslashes);
        put(out, pos, L'"');
    } else {
        put_backslashes(out, pos, backslashes);
    }
}

int reexec_win_quote_argv(const wchar_t *const argv[], wchar_t *out, size_t *length)
{
    size_t pos = 0;
    int err;

    if (!argv || !argv[0] || !length)
        return EINVAL;
    err = append_program_name(argv[0], out, &pos);
    if (err)
        return err;
    for (argv++; *argv; argv++) {
        put(out, &pos, L' ');
        append_argument(*argv, out, &pos);
    }
    if (out)
        out[pos] = L'\0';
    *length = pos;
    return 0;
}

static wchar_t ascii_lower(wchar_t c)
{
    return (c >= L'A' && c <= L'Z') ? (wchar_t)(c - L'A' + L'a') : c;
}

/* Does the text ending just before `end` finish with `suffix` (ASCII, any case)? */
static int ends_with_nocase(const wchar_t *start, const wchar_t *end, const char *suffix)
{
    size_t n = 0, i;

    while (suffix[n])
        n++;
    if ((size_t)(end - start) < n)
        return 0;
    for (i = 0; i < n; i++)
        if (ascii_lower(end[(ptrdiff_t)i - (ptrdiff_t)n]) != (wchar_t)suffix[i])
            return 0;
    return 1;
}

int reexec_win_is_batch(const wchar_t *path)
{
    const wchar_t *end;

    if (!path)
        return 0;
    end = path + wcslen(path);
    /* Win32 path normalisation drops trailing dots and spaces: "x.bat. ." is x.bat */
    while (end > path && (end[-1] == L'.' || end[-1] == L' '))
        end--;
    return ends_with_nocase(path, end, ".bat") || ends_with_nocase(path, end, ".cmd");
}
