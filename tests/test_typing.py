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


def _bare_env_with_the_installed_package(tmp_path: Path) -> Path:
    """A venv without PyInstaller (or anything else) holding a copy of the installed
    package: what a user who type-checks their own code against reexec_native has."""
    import importlib.util
    import venv

    spec = importlib.util.find_spec("reexec_native")
    assert spec is not None and spec.origin is not None
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    python = bare / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(Path(spec.origin).parent, Path(purelib) / "reexec_native",
                    ignore=shutil.ignore_patterns("__pycache__"))
    missing = subprocess.run([str(python), "-c", "import PyInstaller"], capture_output=True)
    assert missing.returncode != 0, "the bare venv must not see PyInstaller"
    return python


@pytest.mark.skipif(sys.platform != "linux", reason="the type checkers are installed on Linux")
def test_installed_package_is_clean_without_pyinstaller(tmp_path: Path) -> None:
    """`mypy -p reexec_native` (plain and --strict) and basedpyright strict in an
    environment without PyInstaller: the shipped PyInstaller hook must not be an error."""
    mypy, pyright = _tool("mypy"), _tool("basedpyright")
    python = _bare_env_with_the_installed_package(tmp_path)
    for strict in ([], ["--strict"]):
        done = subprocess.run([mypy, *strict, "--no-incremental", "--python-executable", str(python),
                               "-p", "reexec_native"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"mypy {' '.join(strict)} -p reexec_native:\n{done.stdout}{done.stderr}"
    # pyright checks sources, not installed packages: the same files, next to a config
    # that points it at the bare venv.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "reexec_native", src / "reexec_native", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "pyrightconfig.json").write_text(
        '{"typeCheckingMode": "strict", "pythonVersion": "3.10", "include": ["reexec_native"], '
        f'"venvPath": "{tmp_path}", "venv": "bare"}}')
    done = subprocess.run([pyright], cwd=src, capture_output=True, text=True)
    assert done.returncode == 0, f"basedpyright without PyInstaller:\n{done.stdout}{done.stderr}"
