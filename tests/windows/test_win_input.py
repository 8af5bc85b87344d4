"""Bad input is refused with a clear ValueError/TypeError before anything runs, as on
Linux; what Windows cannot take (a command line over 32,767 units, a lone surrogate,
a '"' in argv[0], .bat/.cmd targets) too, and never with 'not found'."""

from __future__ import annotations

import pytest

from _win import CLI, PY, run_py

# The child prints which exception reexec() raised, and would print RAN if the target ran.
TRY = """
import sys
from reexec_native import reexec, ArgumentListTooLongError
CANARY = [sys.executable, "-c", "print('RAN')"]
try:
    {call}
except ArgumentListTooLongError as exc:
    print("ArgumentListTooLongError", exc.errno, exc)
except (ValueError, TypeError) as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("call, kind, words", [
    ("reexec([], executable=sys.executable)", "ValueError", "argv must not be empty"),
    ("reexec('python', executable=sys.executable)", "TypeError", "argv must be a list"),
    ("reexec([*CANARY, 'a\\0b'], executable=sys.executable)", "ValueError", "argv[3] contains a NUL"),
    ("reexec([*CANARY, 3], executable=sys.executable)", "TypeError", "argv[3] must be str or bytes"),
    ("reexec(CANARY, executable=sys.executable, env={'A=B': '1'})", "ValueError", "contains '='"),
    ("reexec(CANARY, executable=sys.executable, env={'': '1'})", "ValueError", "must not be empty"),
    ("reexec(CANARY, executable=sys.executable, env=[('A', 'B')])", "TypeError", "env must be a mapping"),
    ("reexec(CANARY, executable=sys.executable, guard='')", "ValueError", "guard must be"),
    ("reexec(CANARY, executable=sys.executable, retry_budget=-1)", "ValueError", "retry_budget"),
    ("reexec(CANARY, executable='')", "ValueError", "executable must not be empty"),
    ("reexec(CANARY, executable=sys.executable, fallback=3)", "TypeError", "fallback must be"),
    # Windows-specific: a lone surrogate (str) and bytes that are not UTF-8 cannot become UTF-16.
    ("reexec([*CANARY, 'ok', 'bad\\ud800x'], executable=sys.executable)", "ValueError",
     "argv[4] contains a lone surrogate"),
    ("reexec([*CANARY, b'\\xff'], executable=sys.executable)", "ValueError",
     "argv[3] contains bytes that are not UTF-8"),
    ("reexec(CANARY, executable=sys.executable, env={'X': '\\udc80'})", "ValueError",
     "environment variable 'X' contains a lone surrogate"),
    ("reexec(['a\"b', '-c', 'print(1)'], executable=sys.executable)", "ValueError", "argv[0] contains"),
])
def test_bad_input_is_refused_before_anything_runs(call, kind, words):
    proc = run_py(TRY.format(call=call))
    assert "RAN" not in proc.stdout
    assert proc.stdout.startswith(kind + " "), proc.stdout + proc.stderr
    assert words in proc.stdout
    assert "[reexec] Fast path" not in proc.stderr  # refused before the fast path


def test_command_line_over_the_limit_is_argument_list_too_long_up_front():
    # 32,767 UTF-16 units with the NUL: "<exe>" -c "print('RAN')" AAAA...
    proc = run_py(TRY.format(call="reexec([*CANARY, 'A' * 32767], executable=sys.executable)"))
    assert proc.stdout.startswith("ArgumentListTooLongError 7 "), proc.stdout + proc.stderr
    assert "CreateProcessW accepts at most 32766" in proc.stdout
    assert "RAN" not in proc.stdout
    assert "NotFound" not in proc.stderr and "Retry" not in proc.stderr
    assert "cargo" not in proc.stderr


def test_command_line_at_the_limit_boundary():
    """The check agrees with the C core's: the longest command line that fits runs."""
    code = """
import sys
from reexec_native import reexec, ArgumentListTooLongError
from reexec_native._validate import windows_command_line
base = [sys.executable, "-c", "import sys; print('RAN', len(sys.argv[1]))"]
fill = 32766 - len(windows_command_line([a.encode() for a in base])) - 1
argv = base + ['x' * fill]
assert len(windows_command_line([a.encode() for a in argv])) == 32766
try:
    reexec(base + ['x' * (fill + 1)], executable=sys.executable, fallback=None)
except ArgumentListTooLongError:
    print("refused one over")
reexec(argv, executable=sys.executable, fallback=None)
"""
    proc = run_py(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "refused one over"
    assert lines[1].startswith("RAN ")


def test_windows_command_line_quoting_matches_list2cmdline():
    import subprocess

    from reexec_native._validate import windows_command_line

    for args in (["a b", 'q"uote', "", "tail\\", 'x\\"y', "\t", "a\\\\b"], ["plain"], []):
        line = windows_command_line([b"C:\\p q\\x.exe", *(a.encode() for a in args)])
        assert line == " ".join(['"C:\\p q\\x.exe"', subprocess.list2cmdline(args)]).rstrip()


@pytest.mark.parametrize("name", ["x.bat", "y.cmd", "X.BaT", "z.cmd."])
def test_batch_files_are_refused_and_never_run(tmp_path, name):
    marker = tmp_path / "ran.txt"
    target = tmp_path / name.rstrip(".")
    target.write_text(f"@echo off\r\necho RAN> \"{marker}\"\r\necho RAN\r\n")
    proc = run_py("import sys; from reexec_native import reexec\n"
                  "reexec([sys.argv[1], 'a'], executable=sys.argv[1], fallback=None)",
                  str(tmp_path / name))
    assert proc.returncode == 1
    assert "ReexecError" in proc.stderr and "193" in proc.stderr, proc.stderr
    assert "refused before CreateProcessW, Win32 error 193: a .bat/.cmd file" in proc.stderr
    assert not marker.exists() and "RAN" not in proc.stdout


def test_batch_file_through_the_cli_is_126(tmp_path):
    target = tmp_path / "x.bat"
    target.write_text("@echo RAN\r\n")
    proc = run_py(CLI,
                  "exec", "--", str(target))
    assert proc.returncode == 126, proc.stderr
    assert str(target) in proc.stderr and "tier createprocess" in proc.stderr
    assert "RAN" not in proc.stdout
