"""Standard streams across the exec, for real in child processes: stdin Python read
ahead from a file is given back to the new process; output that would vanish into
pytest's capture files is warned about; what the old image started stays a child of
the new one (docs/guide/fast-path.md, "What the fast path does and does not protect against")."""

from __future__ import annotations

import subprocess
import textwrap

from _cli_helpers import PY
from conftest import child_env

# Reads one line, re-executes itself (or, told so, tries a missing program first).
READ_ONE_LINE = """\
import os, sys
from reexec_native import ReexecError, guard_active, reexec
print(("second" if guard_active() else "first") + " read " + repr(sys.stdin.readline()), flush=True)
if not guard_active():
    if os.environ.get("FAIL_FIRST"):
        try:
            reexec(["x"], executable="/nonexistent/prog", fallback=None, retry_budget=0)
        except ReexecError:
            print("exec failed, still read " + repr(sys.stdin.readline()), flush=True)
    reexec(fallback=None)
"""

LINES = "".join(f"line {n}\n" for n in range(1, 2001))  # > Python's 8 KiB read-ahead


def run_with_stdin(tmp_path, stdin_how: str, code: str = READ_ONE_LINE, **env) -> subprocess.CompletedProcess:
    (tmp_path / "app.py").write_text(code)
    data = tmp_path / "input.txt"
    data.write_text(LINES)
    command = f"{PY} app.py < input.txt" if stdin_how == "file" else f"cat input.txt | {PY} app.py"
    return subprocess.run(["sh", "-c", command], cwd=tmp_path, env=child_env(**env), capture_output=True,
                          text=True, timeout=60)


def test_new_process_reads_on_where_python_stopped_in_a_file(tmp_path):
    """`python app.py < input.txt`: before the fix the new process saw EOF (Python had
    read 8 KiB ahead into its buffer, which the exec dropped)."""
    result = run_with_stdin(tmp_path, "file")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["first read 'line 1\\n'", "second read 'line 2\\n'"]
    assert "[reexec] stdin: back to byte 7, where Python's reading stopped (it had read ahead to byte" in result.stderr


def test_a_failed_exec_leaves_stdin_where_the_old_process_needs_it(tmp_path):
    """The offset is put back when the exec fails: the old process reads on with no
    line twice, and the exec that works still hands over the right position."""
    result = run_with_stdin(tmp_path, "file", FAIL_FIRST="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "first read 'line 1\\n'", "exec failed, still read 'line 2\\n'", "second read 'line 3\\n'"]


def test_text_layer_read_ahead_is_given_back_too(tmp_path):
    """sys.stdin.read(3) leaves decoded characters in the text layer on top of the
    binary buffer: the position handed over is the text layer's."""
    code = READ_ONE_LINE.replace("sys.stdin.readline()", "sys.stdin.read(3)")
    result = run_with_stdin(tmp_path, "file", code=code)
    assert result.stdout.splitlines() == ["first read 'lin'", "second read 'e 1'"], result.stderr


def test_iterated_stdin_position_is_unknown_and_says_so(tmp_path):
    code = READ_ONE_LINE.replace('repr(sys.stdin.readline())', 'repr(next(iter(sys.stdin)))')
    result = run_with_stdin(tmp_path, "file", code=code)
    assert result.stdout.splitlines()[0] == "first read 'line 1\\n'", result.stderr
    assert "[reexec] stdin: cannot tell where Python's reading stopped (telling position disabled by next() call)" \
        in result.stderr


def test_a_pipe_cannot_be_rewound_what_python_read_ahead_is_lost(tmp_path):
    """As docs/guide/fast-path.md says: from a pipe, the new process reads on after Python's
    read-ahead (here: 8 KiB later, not line 2)."""
    result = run_with_stdin(tmp_path, "pipe")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "first read 'line 1\\n'"
    assert second != "second read 'line 2\\n'" and second.startswith("second read ")


def test_reexec_inside_pytest_with_capture_warns(report_prog, tmp_path):
    """Inside a pytest test (fd capture, the default) the new program's output goes
    into pytest's capture file: the warning says so (routed to a file here, as the
    capture swallows stderr too), and indeed the program's output never shows."""
    log = tmp_path / "reexec.log"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import logging
        from reexec_native import reexec

        def test_reexec_in_process():
            logging.getLogger("reexec_native").addHandler(logging.FileHandler({str(log)!r}))
            reexec(["report"], executable={str(report_prog)!r}, fallback=None)
    """))
    result = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"], cwd=tmp_path,
                            env=child_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report pid" not in result.stdout  # it ran, into the capture file
    assert log.read_text().splitlines()[0] == (
        "Warning: re-exec inside pytest with output capture on: fd 1 and 2 are pytest's capture files, "
        "which nobody reads once pytest is replaced; re-exec in a child process (subprocess) in tests, "
        "or run pytest with -s")
    # With -s there is no capture: no warning, and the output shows.
    log.unlink()
    result = subprocess.run([PY, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_inner.py"],
                            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120)
    assert "report pid" in result.stdout
    assert "Warning" not in log.read_text()


def test_children_of_the_old_image_become_children_of_the_new_one(tmp_path):
    """Exec keeps the PID, so a child the old program started (and did not wait for)
    is the new program's child: it can wait for it, and must, or it stays a zombie."""
    result = subprocess.run([PY, "-c", textwrap.dedent("""
        import os, subprocess, sys
        from reexec_native import guard_active, reexec
        if not guard_active():
            child = subprocess.Popen([sys.executable, "-c", "pass"])
            os.environ["OLD_CHILD"] = str(child.pid)
            reexec(fallback=None)
        pid, status = os.waitpid(int(os.environ["OLD_CHILD"]), 0)
        print("reaped the old image's child", pid == int(os.environ["OLD_CHILD"]), os.waitstatus_to_exitcode(status))
    """)], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "reaped the old image's child True 0\n"
