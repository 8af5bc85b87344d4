"""mypy --strict, pyright strict (basedpyright: pyright with node bundled, PyPI only) and
ruff on the package, and both checkers on tests/typing/callers.py (user-style calls of
the public API). Configured in pyproject.toml; any error fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CALLERS = "tests/typing/callers.py"


def _tool(name: str) -> str:
    if not (ROOT / "reexec_native").is_dir():
        pytest.skip("no package source next to the tests (a wheel's test run)")
    path = shutil.which(name, path=os.path.dirname(sys.executable))
    if path is None:
        pytest.skip(f"{name} is not installed (the test extra installs it on Linux; mypy on CPython only)")
    return path


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("target", ["reexec_native", CALLERS])
def test_mypy_strict(target: str) -> None:
    _run(_tool("mypy"), "--strict", "--cache-dir", "build/mypy-cache", target)


@pytest.mark.parametrize("target", ["reexec_native", CALLERS])
def test_pyright_strict(target: str) -> None:
    _run(_tool("basedpyright"), target)


def test_ruff() -> None:
    _run(_tool("ruff"), "check", "--no-cache", "reexec_native")
