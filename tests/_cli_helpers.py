"""Helpers for the CLI, Python self re-exec and build-exec tests.

Children run `sys.executable` as it is (not realpath'd): when the tests run in a
venv, so do the children, and they import the reexec_native under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import reexec_native

from conftest import child_env

PY = sys.executable
# The directory the reexec_native under test was imported from (site-packages).
PACKAGE_PARENT = str(Path(reexec_native.__file__).resolve().parent.parent)
# Children start here unless told otherwise: not the source tree, which `python -m`
# (cwd first on sys.path) would import instead of the installed package.
NEUTRAL_CWD = tempfile.gettempdir()


def run(cmd, *, env=None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in cmd], env=child_env() if env is None else env,
                          cwd=NEUTRAL_CWD if cwd is None else cwd, capture_output=True, timeout=timeout,
                          errors="surrogateescape", stdin=subprocess.DEVNULL)


def run_code(code: str, *args: str, python: str = PY, env=None, cwd=None) -> subprocess.CompletedProcess:
    return run([python, "-c", textwrap.dedent(code), *args], env=env, cwd=cwd)


def console_script() -> str:
    """The installed `reexec-native` script next to this interpreter."""
    for directory in (os.path.dirname(PY), sysconfig.get_path("scripts")):
        candidate = os.path.join(directory, "reexec-native")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError(f"the reexec-native console script is not installed next to {PY}")


def popen(cmd, *, env=None, cwd=None) -> tuple[int, subprocess.CompletedProcess]:
    """Run `cmd`; (its pid, its CompletedProcess) so a test can compare PIDs."""
    proc = subprocess.Popen([str(part) for part in cmd], env=child_env() if env is None else env,
                            cwd=NEUTRAL_CWD if cwd is None else cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, errors="surrogateescape")
    out, err = proc.communicate(timeout=180)
    return proc.pid, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
