"""Print, as one JSON line, how this process's command line was split: by
CommandLineToArgvW (shell32) and by the CRT (sys.orig_argv, python.exe's wmain argv)."""

import ctypes
import json
import sys
from ctypes import wintypes

kernel32 = ctypes.WinDLL("kernel32")
shell32 = ctypes.WinDLL("shell32")
kernel32.GetCommandLineW.restype = wintypes.LPCWSTR
shell32.CommandLineToArgvW.restype = ctypes.POINTER(wintypes.LPWSTR)
shell32.CommandLineToArgvW.argtypes = [wintypes.LPCWSTR, ctypes.POINTER(ctypes.c_int)]
count = ctypes.c_int()
line = kernel32.GetCommandLineW()
parsed = shell32.CommandLineToArgvW(line, ctypes.byref(count))
clta = [parsed[i] for i in range(count.value)]
print(json.dumps({"clta": clta, "crt": list(sys.orig_argv), "line": line}))
sys.stdout.flush()
