"""Refusals before the point of no return, run for real in child processes: what the
new process could not use (an empty argv[0], a script read from stdin, a script or
-m module it would not find) is refused with a clear error while the old process
can still report it; nothing is executed."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from _cli_helpers import PY, run, run_code
from conftest import child_env

# Prints its state, then re-executes itself (reexec() with no argv) unless it is
# the re-executed one; a refusal is printed, and the old process goes on.
SELF_REEXEC = """\
import os, sys
from reexec_native import CannotRerunError, guard_active, reexec
print("run guard=%s cwd=%s" % (guard_active(), os.getcwd()), flush=True)
if not guard_active():
    if os.environ.get("CHDIR_TO"):
        os.chdir(os.environ["CHDIR_TO"])
    try:
        reexec(fallback=None)
    except CannotRerunError as exc:
        print("REFUSED " + str(exc).replace("\\n", " | "), flush=True)
        print("old process continues", flush=True)
"""


@pytest.mark.parametrize("argv0", ["", b""], ids=["str", "bytes"])
def test_empty_argv0_is_refused_before_anything_runs(argv0, report_prog, tmp_path):
    """As os.execv: "first element cannot be empty". Before the fix the program ran
    with argv[0] == "" (a re-executed Python then loses its venv)."""
    result = run_code(f"""
        from reexec_native import open_exe, reexec
        try:
            reexec([{argv0!r}, "x"], executable={str(report_prog)!r}, fallback=None)
        except ValueError as exc:
            print("reexec:", exc)
        try:
            open_exe({str(report_prog)!r}).exec([{argv0!r}])
        except ValueError as exc:
            print("exec:", exc)
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "reexec: argv[0] cannot be empty: it is the program name the new process sees",
        "exec: argv[0] cannot be empty: it is the program name the new process sees",
    ]
    assert "[reexec]" not in result.stderr  # refused before the fast path started


@pytest.fixture
def app_dir(tmp_path) -> Path:
    """A project directory with app.py and a package pkg (run with -m), both SELF_REEXEC,
    and an empty sibling directory `elsewhere`."""
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "app.py").write_text(SELF_REEXEC)
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "__main__.py").write_text(SELF_REEXEC)
    (tmp_path / "elsewhere").mkdir()
    return project


def refused(result: subprocess.CompletedProcess) -> str:
    """The refusal message; asserts the old process went on and nothing re-ran."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, (result.stdout, result.stderr)
    assert lines[0].startswith("run guard=False") and lines[2] == "old process continues"
    assert lines[1].startswith("REFUSED Cannot re-run the current command: ")
    assert "[reexec]" not in result.stderr  # nothing was tried
    return lines[1]


def reran(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["guard=False", "guard=True"], (result.stdout, result.stderr)
    return lines


# Item 2: the script came from standard input

@pytest.mark.parametrize("how", ["dash-redirect", "pipe", "redirect"])
def test_script_from_stdin_is_refused(how, app_dir):
    """Before the fix the new interpreter read an exhausted stdin, ran nothing and
    exited 0: the second run was lost without a word."""
    script = app_dir / "app.py"
    command = {"dash-redirect": f"{PY} - arg < {script}", "pipe": f"cat {script} | {PY}",
               "redirect": f"{PY} < {script}"}[how]
    result = subprocess.run(["sh", "-c", command], env=child_env(), cwd=app_dir, capture_output=True, text=True,
                            timeout=60)
    message = refused(result)
    assert "its script was read from standard input" in message
    assert ("`python -`" if how == "dash-redirect" else "a pipe or a redirect") in message
    assert "Save the script to a file and run that file, or pass argv= to run something else." in message


def test_stdin_that_is_not_the_script_is_fine(app_dir):
    """A script file reading its input from a pipe is re-run as usual."""
    result = subprocess.run(["sh", "-c", f"echo data | {PY} app.py"], env=child_env(), cwd=app_dir,
                            capture_output=True, text=True, timeout=60)
    reran(result)


# Item 3: a script or -m module the new process would not find from where it starts

@pytest.mark.parametrize("command", [["app.py"], ["-m", "pkg"]], ids=["script", "module"])
def test_relative_script_or_module_after_chdir_is_refused(command, app_dir):
    """Before the fix the new interpreter died with Python's own "can't open file"
    (script) or "No module named pkg" (-m), after the point of no return."""
    elsewhere = app_dir.parent / "elsewhere"
    result = run([PY, *command], cwd=app_dir, env=child_env(CHDIR_TO=str(elsewhere)))
    message = refused(result)
    assert f"new process would start in {str(elsewhere)!r}" in message
    assert f"pass cwd=start_dir() ({str(app_dir)!r}) to start it where the command was started" in message


@pytest.mark.parametrize("command", [["app.py"], ["-m", "pkg"]], ids=["script", "module"])
def test_a_same_named_other_program_in_the_new_directory_is_refused(command, app_dir):
    """Worse than not found: from the new directory the command names another file.
    Before the fix that other program ran."""
    other = app_dir.parent / "elsewhere"
    (other / "pkg").mkdir()
    (other / "pkg" / "__init__.py").write_text("")
    for path in (other / "app.py", other / "pkg" / "__main__.py"):
        path.write_text("print('THE OTHER PROGRAM RAN')\n")
    result = run([PY, *command], cwd=app_dir, env=child_env(CHDIR_TO=str(other)))
    message = refused(result)
    assert "THE OTHER PROGRAM RAN" not in result.stdout
    assert ("names another file than the running script" if command == ["app.py"]
            else "finds another 'pkg' than the running one") in message


def test_what_does_not_depend_on_the_working_directory_is_re_run(app_dir, tmp_path):
    """An absolute script path, -c code, a -m module found on PYTHONPATH, and -m under
    -P (the working directory is not on sys.path) are all re-run after a chdir."""
    elsewhere = str(app_dir.parent / "elsewhere")
    reran(run([PY, str(app_dir / "app.py")], cwd=app_dir, env=child_env(CHDIR_TO=elsewhere)))
    reran(run([PY, "-c", SELF_REEXEC], cwd=app_dir, env=child_env(CHDIR_TO=elsewhere)))
    on_path = child_env(CHDIR_TO=elsewhere, PYTHONPATH=str(app_dir))
    reran(run([PY, "-m", "pkg"], cwd=tmp_path, env=on_path))
    reran(run([PY, "-P", "-m", "pkg"], cwd=app_dir, env=on_path))
    # cwd=start_dir() is the fix the refusal names, and it works.
    with_fix = SELF_REEXEC.replace("reexec(fallback=None)", "reexec(fallback=None, cwd=__import__('reexec_native').start_dir())")
    (app_dir / "fixed.py").write_text(with_fix)
    lines = reran(run([PY, "fixed.py"], cwd=app_dir, env=child_env(CHDIR_TO=elsewhere)))
    assert lines[1] == f"run guard=True cwd={app_dir}"


@pytest.mark.parametrize("orig_argv, expected", [
    (["py", "app.py", "-m", "x"], ("script", "app.py", "")),
    (["py", "-OOq", "-Wdefault", "-Xdev", "app.py"], ("script", "app.py", "Oq")),
    (["py", "-W", "error", "-X", "utf8", "-I", "-m", "pkg", "a"], ("module", "pkg", "I")),
    (["py", "-mpkg"], ("module", "pkg", "")),
    (["py", "-Ec", "print(1)", "x"], ("code", "print(1)", "E")),
    (["py", "--check-hash-based-pycs", "always", "-P", "app.py"], ("script", "app.py", "P")),
    (["py", "-u", "--", "-weird.py"], ("script", "-weird.py", "u")),
    (["py", "-i"], ("stdin", None, "i")),
    (["py", "-s", "-", "arg"], ("stdin", None, "s")),
    (["py"], ("stdin", None, "")),
])
def test_parse_command_reads_orig_argv_as_cpython_does(orig_argv, expected):
    from reexec_native._reexec import parse_command

    kind, target, flags = expected
    assert parse_command(orig_argv) == (kind, target, frozenset(flags))


def test_a_bare_directory_named_like_an_installed_module_does_not_shadow_it(app_dir, tmp_path):
    """-m pkg found on PYTHONPATH, and the new directory has a `pkg/` without
    __init__.py: only a namespace portion, which Python ranks below the real package."""
    elsewhere = app_dir.parent / "elsewhere"
    (elsewhere / "pkg").mkdir()
    reran(run([PY, "-m", "pkg"], cwd=tmp_path, env=child_env(CHDIR_TO=str(elsewhere), PYTHONPATH=str(app_dir))))


def test_an_interactive_session_on_a_terminal_is_re_run(tmp_path):
    """No script and stdin a terminal: an interactive session, whose "script" is the
    user's typing. The new interpreter reads the same terminal, so it is not refused."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([PY, "-q"], stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path,
                            env=child_env(TERM="dumb", PYTHON_BASIC_REPL="1"))
    os.close(slave)
    seen = b""

    def until(marker: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.5)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # EIO: the terminal's other end is gone
                    break

    try:
        until(b">>> ")
        os.write(master, b"from reexec_native import guard_active, reexec; print('GEN', 1 + guard_active())\n")
        until(b"GEN 1")
        os.write(master, b"reexec(fallback=None)\n")
        until(b"[reexec] Attempting exec()")
        seen = b""
        until(b">>> ")  # the new interpreter's prompt
        os.write(master, b"from reexec_native import guard_active; print('GEN', 1 + guard_active())\n")
        until(b"GEN 2")
        os.write(master, b"raise SystemExit(7)\n")
        assert proc.wait(timeout=30) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"CannotRerunError" not in seen
