/* exitwith.c - exitwith.exe CODE: ExitProcess(CODE), CODE in C notation (0x.. ok). */
#include <windows.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc < 2)
        return 2;
    ExitProcess((UINT)wcstoul(argv[1], NULL, 0));
}
