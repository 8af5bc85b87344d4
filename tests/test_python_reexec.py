"""A Python program re-executing itself with reexec() and no argv loses nothing:
each case runs a child interpreter with some command line; the child prints its
state, re-executes itself, and the re-executed process prints its state again.
Both must be the same process (PID) with the same orig_argv[1:], flags, warning
options, -X options, prefix and executable; only the guard differs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _cli_helpers import PACKAGE_PARENT, PY, run, run_code
from conftest import child_env

REPORTER = """\
import json, os, sys
from reexec_native import guard_active, reexec
state = {
    "orig_argv_tail": sys.orig_argv[1:],
    "argv": sys.argv,
    "flags": repr(sys.flags),
    "warnoptions": sys.warnoptions,
    "xoptions": {k: str(v) for k, v in sys._xoptions.items()},
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "executable": sys.executable,
    "stdout_buffer": type(sys.stdout.buffer).__name__,
    "module": getattr(sys.modules["__main__"].__spec__, "name", None),
    "reexec_native": os.path.dirname(__import__("reexec_native").__file__),
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "guard": os.environ.get("BITNET_REPAIR_PARENT"),
}
print("STATE " + json.dumps(state), flush=True)
if not guard_active():
    reexec(fallback=None)
"""


@pytest.fixture
def program_dir(tmp_path) -> Path:
    """A directory with `script.py` and a package `pkg` (run with -m), both the reporter."""
    (tmp_path / "script.py").write_text(REPORTER)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__main__.py").write_text(REPORTER)
    return tmp_path


def states(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line[len("STATE "):]) for line in result.stdout.splitlines() if line.startswith("STATE ")]


def assert_same_command(result: subprocess.CompletedProcess, python: str) -> tuple[dict, dict]:
    assert result.returncode == 0, result.stderr
    found = states(result)
    assert len(found) == 2, (result.stdout, result.stderr)
    first, second = found
    assert first["guard"] is None and second["guard"] == "1"
    first.pop("guard"), second.pop("guard")
    assert first == second
    assert first["executable"] == python  # as given, not realpath'd
    return first, second


MATRIX = {
    "dev-W-error-m": ["-X", "dev", "-W", "error", "-m", "pkg", "a", "b"],
    "unbuffered-script": ["-u", "script.py", "x", "--y", "with space", ""],
    "c-code": ["-c", REPORTER, "a", "-b", "--", "c"],
    "isolated-optimized": ["-I", "-O", "script.py", "i"],
    "E-s-B-bb-X-W": ["-E", "-s", "-B", "-bb", "-X", "utf8", "-X", "int_max_str_digits=1000",
                     "-W", "ignore::DeprecationWarning", "-W", "error::ResourceWarning",
                     "-m", "pkg", "--flag"],
    "OO-q-combined-flags": ["-OOq", "-Wdefault", "-Xfaulthandler", "script.py", "-m", "not-a-module"],
}


@pytest.mark.parametrize("args", list(MATRIX.values()), ids=list(MATRIX))
def test_command_line_survives_reexec(args, program_dir):
    result = run([PY, *args], cwd=program_dir)
    first, _ = assert_same_command(result, PY)
    assert first["orig_argv_tail"] == args


def test_matrix_flags_are_really_in_effect(program_dir):
    """The matrix is not vacuous: the flags did change the interpreter's state."""
    first, _ = assert_same_command(run([PY, *MATRIX["dev-W-error-m"]], cwd=program_dir), PY)
    assert first["xoptions"] == {"dev": "True"} and "error" in first["warnoptions"]
    assert "dev_mode=True" in first["flags"] and first["module"] == "pkg.__main__"
    first, _ = assert_same_command(run([PY, *MATRIX["unbuffered-script"]], cwd=program_dir), PY)
    assert first["stdout_buffer"] == "FileIO"  # -u: unbuffered binary layer
    first, _ = assert_same_command(run([PY, "script.py"], cwd=program_dir), PY)
    assert first["stdout_buffer"] == "BufferedWriter"
    first, _ = assert_same_command(run([PY, *MATRIX["isolated-optimized"]], cwd=program_dir), PY)
    assert "isolated=1" in first["flags"] and "optimize=1" in first["flags"]


def _make_venv(where: Path, copies: bool) -> Path:
    # Made by the interpreter's file itself, not a link to it: PyPy's venv "copies" an
    # interpreter reached through a symlink (Debian's /usr/bin/pypy3, or the venv's
    # bin/python, which is PyPy's sys._base_executable there) as a symlink to its target.
    cmd = [os.path.realpath(PY), "-m", "venv", "--without-pip", "--system-site-packages", str(where)]
    if copies:
        cmd.insert(4, "--copies")
    subprocess.run(cmd, check=True, env=child_env())
    python = where / "bin" / "python"
    # The package under test (it may live in another venv than the base interpreter's).
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True, env=child_env()).stdout.strip()
    Path(site, "reexec_native_under_test.pth").write_text(PACKAGE_PARENT + "\n")
    return python


@pytest.mark.parametrize("copies", [True, False], ids=["copies", "symlinks"])
def test_venv_stays_a_venv(copies, program_dir, tmp_path):
    venv = tmp_path / "venv"
    python = _make_venv(venv, copies)
    assert python.is_symlink() != copies
    result = run([str(python), "-X", "dev", "script.py", "arg"], cwd=program_dir)
    first, _ = assert_same_command(result, str(python))
    assert first["prefix"] == str(venv)
    assert first["base_prefix"] != str(venv)
    assert Path(first["reexec_native"]) == Path(PACKAGE_PARENT) / "reexec_native"


def test_empty_sys_executable_is_a_clear_error(tmp_path):
    result = run_code("""
        import sys
        sys.executable = ""
        from reexec_native import current_command, reexec, ReexecError
        try:
            reexec(fallback=None)
        except ReexecError as exc:
            print("ERROR", exc)
        try:
            current_command()
        except ReexecError as exc:
            print("ERROR2", type(exc).__name__)
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ERROR Cannot re-run the current command: sys.executable is empty" in result.stdout
    assert "pass argv= and executable= explicitly" in result.stdout
    assert "ERROR2 ReexecError" in result.stdout
    assert "[reexec]" not in result.stderr  # refused before anything was tried


def test_relative_sys_executable_is_taken_from_the_start_directory(tmp_path):
    """A relative sys.executable (only embedders produce one) was relative to the
    directory the process started in, not to wherever it is now."""
    result = run_code("""
        import os, sys
        from reexec_native import current_command, start_dir
        start = os.getcwd()
        os.chdir("/")
        sys.executable = os.path.join("bin", "python")
        print("start=" + start_dir())
        print("argv0=" + current_command()[0])
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"start={tmp_path}\n" in result.stdout
    assert f"argv0={tmp_path}/bin/python\n" in result.stdout


def test_cwd_start_dir_reruns_a_relative_script_after_chdir(program_dir):
    """`python script.py` then os.chdir(): the relative script path only resolves
    again from the start directory, which reexec(cwd=start_dir()) goes back to."""
    script = program_dir / "chdir_then_reexec.py"
    script.write_text("""
import os, sys
from reexec_native import guard_active, reexec, start_dir
print("cwd=" + os.getcwd(), "guard=%s" % guard_active(), flush=True)
if not guard_active():
    os.chdir("/")
    reexec(fallback=None, cwd=start_dir() if sys.argv[1] == "start" else None)
""")
    result = run([PY, script.name, "start"], cwd=program_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"cwd={program_dir} guard=False", f"cwd={program_dir} guard=True"]
    assert f"[reexec] Working directory: {program_dir}\n" in result.stderr
    # Without it, the re-executed interpreter could not find the script from "/":
    # refused before exec (tests/test_prexec_refusals.py), the old process gets the error.
    result = run([PY, script.name, "stay"], cwd=program_dir)
    assert result.returncode == 1
    assert "CannotRerunError: Cannot re-run the current command: its script 'chdir_then_reexec.py'" in result.stderr


def test_cwd_is_restored_when_reexec_raises(tmp_path, report_prog):
    (tmp_path / "other").mkdir()
    result = run_code(f"""
        import os
        from reexec_native import reexec, ReexecError
        os.symlink({str(report_prog)!r}, "rel-prog")
        try:
            reexec(["x"], executable="/nonexistent/prog", cwd="other", fallback=None, retry_budget=0)
        except ReexecError as exc:
            print("raised", exc.exec_error.errno)
        print("cwd=" + os.getcwd())
        try:
            reexec(["x"], cwd="missing-dir", fallback=None)
        except FileNotFoundError as exc:
            print("no such cwd", exc.filename)
        print("cwd=" + os.getcwd())
        # A relative executable is resolved where we are, before entering cwd.
        reexec(["report", "ok"], executable="rel-prog", cwd="other", fallback=None)
    """, cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[:4] == ["raised 2", f"cwd={tmp_path}", "no such cwd missing-dir", f"cwd={tmp_path}"], result.stderr
    assert result.returncode == 0, result.stderr
    assert "argv[1]=" + b"ok".hex() in result.stdout


def test_clear_guard_keeps_it_from_grandchildren(tmp_path):
    result = run_code("""
        import os, subprocess, sys
        from reexec_native import clear_guard, guard_active
        print("active", guard_active(), guard_active("MY_GUARD"))
        print("cleared", clear_guard(), clear_guard("MY_GUARD"))
        print("again", clear_guard(), clear_guard("MY_GUARD"))
        print("active", guard_active(), guard_active("MY_GUARD"), flush=True)
        subprocess.run([sys.executable, "-c",
            "import os; print('grandchild', os.environ.get('BITNET_REPAIR_PARENT'), os.environ.get('MY_GUARD'))"])
        try:
            clear_guard(None)
        except TypeError as exc:
            print("TypeError")
        try:
            clear_guard("A=B")
        except ValueError as exc:
            print("ValueError")
    """, env=child_env(BITNET_REPAIR_PARENT="1", MY_GUARD="yes"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "active True True", "cleared True True", "again False False", "active False False",
        "grandchild None None", "TypeError", "ValueError",
    ]


def test_clear_guard_in_a_reexecuted_process(tmp_path):
    """The usual pattern: check the guard, clear it, go on; what this process starts
    does not see it, and a later reexec() is allowed again."""
    result = run_code("""
        import os, subprocess, sys
        from reexec_native import clear_guard, guard_active, reexec
        if not guard_active():
            reexec(fallback=None)
        print("second run, cleared:", clear_guard())
        out = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('BITNET_REPAIR_PARENT'))"],
                             capture_output=True, text=True).stdout.strip()
        print("grandchild sees:", out)
    """, "arg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["second run, cleared: True", "grandchild sees: None"]
