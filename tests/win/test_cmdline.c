/*
 * test_cmdline.c - unit tests of csrc/windows/win_cmdline.c against a table of vectors.
 *
 * The expected quoting of each argument is what Python's subprocess.list2cmdline
 * (the documented MSVCRT rule set) produces for it; argv[0] follows the
 * "quotes only, no escapes" rule. Portable: runs natively (gcc on Linux) and,
 * built with mingw-w64, under Wine, where every vector is also split back with
 * CommandLineToArgvW and must give the original argv.
 * Prints one line per failure and a summary; exit status 0 only if all pass.
 */
#include "win_cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#ifdef _WIN32
#include <windows.h>
#include <shellapi.h>
#endif

static int failures, checks;

static void fail_at(const char *what, int index)
{
    failures++;
    printf("not ok: %s #%d\n", what, index);
}

/* One argument after argv[0]: expected from subprocess.list2cmdline([arg]). */
static const struct { const wchar_t *arg, *quoted; } single[] = {
    { L"a", L"a" },
    { L"a b", L"\"a b\"" },
    { L"", L"\"\"" },
    { L"\t", L"\"\t\"" },
    { L"a\tb", L"\"a\tb\"" },
    { L"a\"b", L"a\\\"b" },
    { L"a\\b", L"a\\b" },
    { L"a\\\\b", L"a\\\\b" },
    { L"a\\\"b", L"a\\\\\\\"b" },
    { L"a\\\\\"b", L"a\\\\\\\\\\\"b" },
    { L"a\\", L"a\\" },
    { L"a b\\", L"\"a b\\\\\"" },
    { L"a b\\\\", L"\"a b\\\\\\\\\"" },
    { L"\"", L"\\\"" },
    { L"\"\"", L"\\\"\\\"" },
    { L"\\", L"\\" },
    { L"\\\\", L"\\\\" },
    { L" \\", L"\" \\\\\"" },
    { L"C:\\dir with space\\", L"\"C:\\dir with space\\\\\"" },
    { L"\"quoted\"", L"\\\"quoted\\\"" },
    { L"x\"\"y", L"x\\\"\\\"y" },
    { L"tab\there\"\\", L"\"tab\there\\\"\\\\\"" },
    { L"\u00e9 \u00fc", L"\"\u00e9 \u00fc\"" },
    { L"\u65e5\u672c", L"\u65e5\u672c" },
    { L"a\"b c\"d", L"\"a\\\"b c\\\"d\"" },
    { L"\\\"", L"\\\\\\\"" },
    { L" ", L"\" \"" },
    { L"ab\"c", L"ab\\\"c" },
    { L"\\\\\\\"", L"\\\\\\\\\\\\\\\"" },
};

/* Whole command lines: argv[0] always quoted and never escaped. */
static const struct { const wchar_t *argv[5]; const wchar_t *line; } whole[] = {
    { { L"prog", NULL }, L"\"prog\"" },
    { { L"C:\\Program Files\\x.exe", L"a", NULL }, L"\"C:\\Program Files\\x.exe\" a" },
    { { L"", L"", NULL }, L"\"\" \"\"" },
    { { L"C:\\dir\\", L"b\\", L"", NULL }, L"\"C:\\dir\\\" b\\ \"\"" },
    { { L"p", L"a b", L"c\"d", L"e\\", NULL }, L"\"p\" \"a b\" c\\\"d e\\" },
};

/* Batch-file detection on full paths (Windows ignores trailing dots/spaces). */
static const struct { const wchar_t *path; int batch; } batch[] = {
    { L"C:\\x\\run.bat", 1 },
    { L"C:\\x\\run.cmd", 1 },
    { L"C:\\x\\RUN.BAT", 1 },
    { L"C:\\x\\run.CmD", 1 },
    { L"C:\\x\\X.BaT. ..", 1 },
    { L"C:\\x\\run.bat.", 1 },
    { L"C:\\x\\run.cmd   ", 1 },
    { L".bat", 1 },
    { L"C:\\x\\run.exe", 0 },
    { L"C:\\x\\run.bat.exe", 0 },
    { L"C:\\x\\runbat", 0 },
    { L"C:\\x\\run.ba", 0 },
    { L"C:\\x.bat\\run.exe", 0 },
    { L"C:\\x\\run.bats", 0 },
    { L"", 0 },
    { L"bat", 0 },
};

#ifdef _WIN32
/* The command line must split back into argv exactly (CommandLineToArgvW). */
static void check_round_trip(const wchar_t *const argv[], const wchar_t *line, int index)
{
    int argc = 0, i, expected = 0;
    wchar_t **parsed = CommandLineToArgvW(line, &argc);

    while (argv[expected])
        expected++;
    checks++;
    if (!parsed || argc != expected) {
        fail_at("round trip argc", index);
    } else {
        for (i = 0; i < argc; i++)
            if (wcscmp(parsed[i], argv[i]) != 0) {
                fail_at("round trip argument", index);
                break;
            }
    }
    LocalFree(parsed);
}
#else
static void check_round_trip(const wchar_t *const argv[], const wchar_t *line, int index)
{
    (void)argv, (void)line, (void)index;
}
#endif

static void check_line(const wchar_t *const argv[], const wchar_t *expected, int index)
{
    size_t length = 0, measured = 0;
    wchar_t *line;

    checks++;
    if (reexec_win_quote_argv(argv, NULL, &measured) != 0) {
        fail_at("measure", index);
        return;
    }
    line = malloc((measured + 1) * sizeof(wchar_t));
    if (reexec_win_quote_argv(argv, line, &length) != 0 || length != measured ||
        wcslen(line) != length || wcscmp(line, expected) != 0) {
        fail_at("quote", index);
        printf("  got      '%ls'\n  expected '%ls'\n", line, expected);
    } else {
        check_round_trip(argv, line, index);
    }
    free(line);
}

static void test_single_arguments(void)
{
    size_t i;

    for (i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
        const wchar_t *argv[3] = { L"prog", single[i].arg, NULL };
        size_t n = wcslen(single[i].quoted) + 8;
        wchar_t *expected = malloc(n * sizeof(wchar_t));
        swprintf(expected, n, L"\"prog\" %ls", single[i].quoted);
        check_line(argv, expected, (int)i);
        free(expected);
    }
}

static void test_whole_lines(void)
{
    size_t i;

    for (i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
        check_line(whole[i].argv, whole[i].line, 100 + (int)i);
}

static void test_refusals(void)
{
    const wchar_t *quote_in_argv0[] = { L"a\"b", L"x", NULL };
    const wchar_t *no_argv0[] = { NULL };
    size_t length = 0;

    checks += 2;
    if (reexec_win_quote_argv(quote_in_argv0, NULL, &length) != EINVAL)
        fail_at("argv[0] with a quote is refused", 200);
    if (reexec_win_quote_argv(no_argv0, NULL, &length) != EINVAL)
        fail_at("empty argv is refused", 201);
}

static void test_batch_detection(void)
{
    size_t i;

    for (i = 0; i < sizeof(batch) / sizeof(batch[0]); i++) {
        checks++;
        if (!reexec_win_is_batch(batch[i].path) != !batch[i].batch)
            fail_at("is_batch", 300 + (int)i);
    }
}

#ifdef _WIN32
int wmain(void)
#else
int main(void)
#endif
{
    test_single_arguments();
    test_whole_lines();
    test_refusals();
    test_batch_detection();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
