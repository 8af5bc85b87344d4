/*
 * printargs.c - prints the arguments it received, unambiguously:
 *   clta <argc> x<hex> x<hex> ...   from CommandLineToArgvW(GetCommandLineW())
 *   crt <argc> x<hex> x<hex> ...    from the CRT's wide argv (wmain)
 *   line x<hex>                     the raw command line
 * Each argument is 'x' + its UTF-16 code units as 4 hex digits ("x" = empty).
 * Exits with argc.
 */
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>

static void print_hex(const wchar_t *text)
{
    printf(" x");
    for (; *text; text++)
        printf("%04x", (unsigned)*text);
}

static void print_list(const char *label, int argc, wchar_t **argv)
{
    int i;

    printf("%s %d", label, argc);
    for (i = 0; i < argc; i++)
        print_hex(argv[i]);
    printf("\n");
}

int wmain(int argc, wchar_t **argv)
{
    int parsed_count = 0;
    wchar_t **parsed = CommandLineToArgvW(GetCommandLineW(), &parsed_count);

    if (!parsed) {
        printf("clta-failed %lu\n", (unsigned long)GetLastError());
        return 255;
    }
    print_list("clta", parsed_count, parsed);
    print_list("crt", argc, argv);
    printf("line");
    print_hex(GetCommandLineW());
    printf("\n");
    fflush(stdout);
    LocalFree(parsed);
    return argc;
}
