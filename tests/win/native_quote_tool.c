/*
 * native_quote_tool.c - Linux helper for the differential quoting test.
 *
 * Reads lines from stdin; each line is one argv: space-separated hex strings of
 * code points, each prefixed by 'x' (so "x" is the empty argument). Prints, per
 * line, the command line reexec_win_quote_argv builds, as 'x' + hex code points,
 * or "EINVAL". pytest compares it with subprocess.list2cmdline.
 */
#include "win_cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define MAX_ARGS 256

static wchar_t *parse_hex_arg(const char *token)
{
    size_t digits = strlen(token + 1), i;
    wchar_t *arg = malloc((digits / 6 + 1) * sizeof(wchar_t));

    /* 6 hex digits per code point */
    for (i = 0; i < digits / 6; i++) {
        char unit[7];
        memcpy(unit, token + 1 + 6 * i, 6);
        unit[6] = '\0';
        arg[i] = (wchar_t)strtoul(unit, NULL, 16);
    }
    arg[digits / 6] = L'\0';
    return arg;
}

static void quote_line(char *line)
{
    const wchar_t *argv[MAX_ARGS + 1];
    int argc = 0, i;
    size_t length, k;
    wchar_t *out;
    char *token;

    for (token = strtok(line, " \n"); token && argc < MAX_ARGS; token = strtok(NULL, " \n"))
        argv[argc++] = parse_hex_arg(token);
    argv[argc] = NULL;
    if (reexec_win_quote_argv(argv, NULL, &length) != 0) {
        puts("EINVAL");
    } else {
        out = malloc((length + 1) * sizeof(wchar_t));
        reexec_win_quote_argv(argv, out, &length);
        putchar('x');
        for (k = 0; k < length; k++)
            printf("%06lx", (unsigned long)out[k]);
        putchar('\n');
        free(out);
    }
    for (i = 0; i < argc; i++)
        free((void *)argv[i]);
}

int main(void)
{
    static char line[1 << 20];

    while (fgets(line, sizeof(line), stdin))
        quote_line(line);
    return 0;
}
