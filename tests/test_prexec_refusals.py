"""Refusals before the point of no return, run for real in child processes: what the
new process could not use (an empty argv[0], a script read from stdin, a script or
-m module it would not find) is refused with a clear error while the old process
can still report it; nothing is executed."""

from __future__ import annotations

import subprocess
import textwrap
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
