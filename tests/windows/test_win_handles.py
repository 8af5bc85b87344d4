"""The hand-over's child inherits the std handles and no other handle of the caller
(PROC_THREAD_ATTRIBUTE_HANDLE_LIST in csrc/windows/win_child.c): a file opened here
as an inheritable handle cannot be written through that handle value in the new
program. Control: a subprocess started with close_fds=False (every inheritable
handle) can."""

from __future__ import annotations

from _win import run_py

# Writes "leaked" through the handle value in argv[1]; says whether that worked.
WRITER = (
    "import ctypes, sys\n"
    "k = ctypes.WinDLL('kernel32', use_last_error=True)\n"
    "k.WriteFile.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p]\n"
    "n = ctypes.c_ulong()\n"
    "ok = k.WriteFile(int(sys.argv[1]), b'leaked', 6, ctypes.byref(n), None)\n"
    "print('handle=usable' if ok else 'handle=unusable err=%d' % ctypes.get_last_error(), flush=True)\n"
)

OPEN_INHERITABLE = """
    import msvcrt, os, subprocess, sys
    from reexec_native import reexec
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    handle = msvcrt.get_osfhandle(fd)
    os.set_handle_inheritable(handle, True)
    print("parent handle", handle, flush=True)
"""


def test_an_inheritable_handle_does_not_reach_the_new_program(tmp_path):
    target = tmp_path / "inherited.txt"
    proc = run_py(OPEN_INHERITABLE + f"""
    reexec([sys.executable, "-c", {WRITER!r}, str(handle)], executable=sys.executable, fallback=None)
    """, str(target))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "handle=" in proc.stdout, proc.stdout + proc.stderr  # the program ran, stdout arrived
    assert target.read_bytes() == b"", proc.stdout


def test_control_close_fds_false_hands_the_handle_over(tmp_path):
    target = tmp_path / "inherited.txt"
    proc = run_py(OPEN_INHERITABLE + f"""
    subprocess.run([sys.executable, "-c", {WRITER!r}, str(handle)], close_fds=False, check=True)
    """, str(target))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "handle=usable" in proc.stdout
    assert target.read_bytes() == b"leaked"

