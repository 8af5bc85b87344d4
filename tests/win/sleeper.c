/*
 * sleeper.c - sleeper.exe PIDFILE [SECONDS]: writes its process id to PIDFILE
 * (to a temporary name, then renamed, so a reader never sees half of it) and
 * sleeps SECONDS (default 60).
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    wchar_t temp[MAX_PATH + 8];
    DWORD seconds = argc > 2 ? (DWORD)wcstoul(argv[2], NULL, 10) : 60;
    FILE *file;

    if (argc < 2)
        return 2;
    swprintf(temp, MAX_PATH + 8, L"%ls.tmp", argv[1]);
    file = _wfopen(temp, L"w");
    if (!file)
        return 3;
    fprintf(file, "%lu\n", (unsigned long)GetCurrentProcessId());
    fclose(file);
    if (!MoveFileExW(temp, argv[1], MOVEFILE_REPLACE_EXISTING))
        return 4;
    Sleep(seconds * 1000);
    return 0;
}
