"""The hand-over as a process: stdio inherited and flushed, atexit not run, the pin,
killing the waiting parent kills the child (job), Ctrl+C, reexec() from a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from _win import PY, child_env, run_py, wait_dead


def copy_file(src, dst) -> None:
    """shutil.copy2 calls CopyFile2, which Wine 8 lacks (the process ends in winedbg)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(fin.read())


def test_stdio_inherited_buffers_flushed_atexit_not_run():
    proc = run_py("""
        import atexit, sys
        from reexec_native import reexec
        atexit.register(lambda: print("ATEXIT RAN"))
        sys.stdout.write("parent out, unflushed;")
        sys.stderr.write("parent err, unflushed;")
        reexec([sys.executable, "-c",
                "import sys; data = sys.stdin.read(); print('child got', repr(data)); "
                "print('child err', file=sys.stderr)"], executable=sys.executable, fallback=None)
        """, input="line one\nline two\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("parent out, unflushed;child got 'line one\\nline two\\n'")
    assert "ATEXIT RAN" not in proc.stdout
    assert "parent err, unflushed;" in proc.stderr and proc.stderr.rstrip().endswith("child err")


PIN = """
import os, sys
from reexec_native import open_exe
target, other = sys.argv[1], sys.argv[2]
def attempt(name, action):
    try:
        action()
        print(name, "ok")
    except OSError as exc:
        print(name, "refused", exc.winerror or exc.errno)  # the CRT's open() gives errno only
handle = open_exe(target)
attempt("rename", lambda: os.rename(target, target + ".moved"))
attempt("remove", lambda: os.remove(target))
attempt("write", lambda: open(target, "r+b").close())
attempt("replace", lambda: os.replace(other, target))
handle.close()
print("closed")
attempt("write", lambda: open(target, "r+b").close())
attempt("rename", lambda: os.rename(target, target + ".moved"))
attempt("remove", lambda: os.remove(target + ".moved"))
"""


def test_the_pin_holds_the_program_until_close(tmp_path):
    target = tmp_path / "prog.exe"
    copy_file(PY, target)
    other = tmp_path / "other.exe"
    other.write_bytes(b"MZ not this one")
    proc = run_py(PIN, str(target), str(other))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    pinned, after = lines[:lines.index("closed")], lines[lines.index("closed") + 1:]
    assert pinned == ["rename refused 32", "remove refused 32", "write refused 13", "replace refused 5"]
    assert after == ["write ok", "rename ok", "remove ok"]


def test_a_changed_path_is_refused_as_estale_and_nothing_runs(tmp_path):
    """The pin keeps the file, not the path: the folder renamed and another program
    put at the same path is caught by the identity check (Win32 1006 -> ESTALE)."""
    (tmp_path / "a").mkdir()
    copy_file(PY, tmp_path / "a" / "prog.exe")
    proc = run_py("""
        import errno, os, shutil, sys
        from reexec_native import open_exe
        folder = sys.argv[1]
        handle = open_exe(os.path.join(folder, "a", "prog.exe"))
        os.rename(os.path.join(folder, "a"), os.path.join(folder, "b"))
        os.mkdir(os.path.join(folder, "a"))
        with open(os.path.join(folder, "a", "prog.exe"), "wb") as f:
            f.write(b"MZ other")
        try:
            handle.exec([sys.executable, "-c", "print('RAN')"])
        except OSError as exc:
            print(exc.errno == errno.ESTALE, exc.winerror, exc.tier)
            print(exc)
        """, str(tmp_path))
    assert proc.stdout.splitlines()[0] == "True 1006 createprocess", proc.stdout + proc.stderr
    assert "refused before CreateProcessW, Win32 error 1006: the path no longer names" in proc.stdout
    assert "RAN" not in proc.stdout


def test_estale_is_retried_by_reexec():
    """reexec() reopens after ESTALE, as on Linux: a program swapped between open and
    exec (simulated: the first open's recorded identity is made stale; the C core's
    check is real) runs what the path names on the retry."""
    proc = run_py("""
        import os, sys
        import reexec_native._exe as fp
        from reexec_native import reexec
        real_open = fp.open_plain
        calls = []
        def open_then_swap(path):
            handle = real_open(path)
            if not calls:
                handle._raw.size += 1  # as if the path now named another file
            calls.append(path)
            return handle
        fp.open_plain = open_then_swap
        reexec([sys.executable, "-c", "print('ran')"], executable=sys.executable, fallback=None)
        """)
    assert proc.returncode == 0, proc.stderr
    # errno.ESTALE is WSAESTALE (10070) on Windows
    assert "Retry 1 in 5 ms: WSAESTALE at tier createprocess" in proc.stderr
    assert proc.stdout.strip() == "ran"


SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"


def test_killing_the_waiting_parent_kills_the_child(tmp_path):
    pidfile = tmp_path / "pid.txt"
    code = textwrap.dedent(f"""
        import sys
        from reexec_native import reexec
        reexec([sys.executable, "-c", {SLEEPER!r}, sys.argv[1]], executable=sys.executable, fallback=None)
        """)
    parent = subprocess.Popen([PY, "-c", code, str(pidfile)], env=child_env())
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert not wait_dead(child, 300)  # alive while the parent waits
        parent.kill()  # TerminateProcess: no clean-up in the parent at all
        parent.wait(30)
        assert wait_dead(child, 20000), "the child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


CTRL_PARENT = r"""
import ctypes, os, subprocess, sys, time
kernel32 = ctypes.WinDLL("kernel32")
HANDLER = ctypes.WINFUNCTYPE(ctypes.c_int, ctypes.c_ulong)
ignore = HANDLER(lambda event: 1)
kernel32.SetConsoleCtrlHandler(ignore, 1)   # this parent ignores the event it sends
ready = sys.argv[1]
launcher = subprocess.Popen([sys.executable, "-c", sys.argv[2], ready])
while not os.path.exists(ready):
    time.sleep(0.05)
time.sleep(0.5)
print("generate", kernel32.GenerateConsoleCtrlEvent(0, 0), flush=True)   # CTRL_C_EVENT to the console
print("exit", launcher.wait(60), flush=True)
"""

CTRL_LAUNCHER = r"""
import sys
from reexec_native import reexec
child = ("import os, signal, sys, time\n"
         "signal.signal(signal.SIGINT, lambda *a: os._exit(5))\n"
         "open(sys.argv[1], 'w').close()\n"
         "time.sleep(30)\n"
         "os._exit(9)\n")
try:
    reexec([sys.executable, "-c", child, sys.argv[1]], executable=sys.executable, fallback=None)
except KeyboardInterrupt:
    print("launcher died of KeyboardInterrupt", flush=True)
    sys.exit(7)
"""


def test_ctrl_c_reaches_the_child_and_its_exit_code_comes_back(tmp_path):
    """In a console of its own (CREATE_NEW_CONSOLE), a Windows parent sends CTRL_C_EVENT
    to every process on it: the waiting launcher ignores it (no KeyboardInterrupt),
    the child's handler exits 5, and 5 comes back through the launcher."""
    ready = tmp_path / "ready"
    proc = subprocess.run([PY, "-c", CTRL_PARENT, str(ready), CTRL_LAUNCHER], env=child_env(),
                          creationflags=subprocess.CREATE_NEW_CONSOLE, capture_output=True,
                          text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["generate 1", "exit 5"], proc.stdout + proc.stderr
    assert "KeyboardInterrupt" not in proc.stdout + proc.stderr


def test_ctrl_c_control_a_plain_python_parent_dies_of_it(tmp_path):
    """Control for the test above: the same launcher waiting with subprocess instead of
    reexec() dies of the event (so it really was delivered to the waiting parent)."""
    ready = tmp_path / "ready"
    plain = CTRL_LAUNCHER.replace(
        "reexec([sys.executable, \"-c\", child, sys.argv[1]], executable=sys.executable, fallback=None)",
        "import subprocess; subprocess.run([sys.executable, \"-c\", child, sys.argv[1]])")
    assert plain != CTRL_LAUNCHER
    proc = subprocess.run([PY, "-c", CTRL_PARENT, str(ready), plain], env=child_env(),
                          creationflags=subprocess.CREATE_NEW_CONSOLE, capture_output=True,
                          text=True, timeout=90)
    lines = proc.stdout.splitlines()
    assert lines[0] == "generate 1", proc.stdout + proc.stderr
    # It died of the event: KeyboardInterrupt (7), or, when the console's default
    # handler got there first, terminated (Wine: 0; Windows: 0xC000013A). Never 5.
    exit_line = lines[-1]
    assert exit_line in ("exit 7", "exit 0", f"exit {0xC000013A}", f"exit {0xC000013A - 2**32}"), lines


def test_reexec_from_a_non_main_thread():
    proc = run_py("""
        import sys, threading
        from reexec_native import reexec
        def worker():
            reexec([sys.executable, "-c", "import sys; print('child'); sys.exit(17)"],
                   executable=sys.executable, fallback=None)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        print("main thread went on: the hand-over did not exit")
        """)
    assert proc.returncode == 17, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "child"
