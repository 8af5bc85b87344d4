/*
 * printenv.c - prints its environment block in block order, one entry a line,
 * as "env x<hex>" (UTF-16 code units, 4 hex digits each).
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(void)
{
    wchar_t *block = GetEnvironmentStringsW(), *entry;

    if (!block)
        return 1;
    for (entry = block; *entry; entry += wcslen(entry) + 1) {
        const wchar_t *p;
        printf("env x");
        for (p = entry; *p; p++)
            printf("%04x", (unsigned)*p);
        printf("\n");
    }
    FreeEnvironmentStringsW(block);
    return 0;
}
