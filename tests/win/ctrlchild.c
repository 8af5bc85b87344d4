/*
 * ctrlchild.c - ctrlchild.exe READYFILE: installs a console-control handler,
 * creates READYFILE, and waits up to 20 s for Ctrl+C. Exits with 5 when its
 * handler saw CTRL_C_EVENT (so Ctrl+C reached it and was not disabled by an
 * inherited "ignore Ctrl+C" attribute), 6 otherwise. It exits 3 s after the
 * event, so a launcher that the same Ctrl+C kills is gone well before: whether the
 * launcher survived the event then decides the exit code seen, not a race.
 */
#include <windows.h>
#include <stdio.h>

static HANDLE got_ctrl_c;

static BOOL WINAPI on_console_event(DWORD event)
{
    if (event == CTRL_C_EVENT)
        SetEvent(got_ctrl_c);
    return TRUE;
}

int wmain(int argc, wchar_t **argv)
{
    FILE *ready;

    if (argc < 2)
        return 2;
    got_ctrl_c = CreateEventW(NULL, TRUE, FALSE, NULL);
    SetConsoleCtrlHandler(on_console_event, TRUE);
    ready = _wfopen(argv[1], L"w");
    if (!ready)
        return 3;
    fclose(ready);
    if (WaitForSingleObject(got_ctrl_c, 20000) != WAIT_OBJECT_0)
        return 6;
    Sleep(3000);
    return 5;
}
