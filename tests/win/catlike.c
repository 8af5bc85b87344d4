/*
 * catlike.c - copies its stdin to stdout byte for byte (raw handles, no CRT text
 * mode), then writes "stderr:<byte count>\n" to stderr and exits with 42.
 */
#include <windows.h>
#include <stdio.h>

int wmain(void)
{
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
    char buffer[4096], note[64];
    unsigned long total = 0;
    DWORD got, put;
    int n;

    while (ReadFile(in, buffer, sizeof(buffer), &got, NULL) && got > 0) {
        if (!WriteFile(out, buffer, got, &put, NULL) || put != got)
            return 3;
        total += got;
    }
    n = snprintf(note, sizeof(note), "stderr:%lu\n", total);
    WriteFile(err, note, (DWORD)n, &put, NULL);
    return 42;
}
