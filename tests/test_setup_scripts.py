"""The README's two commands set themselves up on a stock machine: with a distribution's
Python that PEP 668 marks externally managed, a plain `pip install` is refused, so
scripts/lib/venv.sh makes (once) and uses the project's own venv."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRO_PYTHON = "/usr/bin/python3"


def _externally_managed(python: str) -> bool:
    if not os.access(python, os.X_OK):
        return False
    stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    return os.path.exists(os.path.join(stdlib, "EXTERNALLY-MANAGED"))


needs_distro_python = pytest.mark.skipif(
    not _externally_managed(DISTRO_PYTHON) and not os.environ.get("REEXEC_CI"),
    reason="no externally managed /usr/bin/python3 here")


def _source_venv(venv: Path, then: str) -> subprocess.CompletedProcess:
    script = f'set -euo pipefail; . scripts/lib/venv.sh; {then}'
    env = {**os.environ, "PYTHON": DISTRO_PYTHON, "VENV": str(venv)}
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@needs_distro_python
def test_the_distribution_python_refuses_a_plain_pip_install():
    """The problem is real here: what the README's commands did before their venv. Asked
    through this venv's pip (`--python`), which runs itself under the distribution's
    interpreter: Debian 12's python3 has a pip module, Debian 13's has none until
    python3-pip is installed, and either way PEP 668's marker is what refuses."""
    result = subprocess.run([sys.executable, "-m", "pip", "--python", DISTRO_PYTHON, "install",
                             "--dry-run", "--no-deps", "--disable-pip-version-check", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "externally-managed-environment" in result.stderr, result.stderr


@needs_distro_python
def test_venv_script_makes_a_usable_venv_once_and_reuses_it(tmp_path):
    venv = tmp_path / "venv"
    result = _source_venv(venv, 'echo "$VPY"; "$VPY" -c "import sys, sysconfig, os; '
                                'print(sys.prefix != sys.base_prefix); '
                                'print(os.path.exists(os.path.join(sysconfig.get_paths()[\'include\'], \'Python.h\')))"; '
                                '"$VPY" -m pip --version')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(venv / "bin" / "python")
    assert lines[1:3] == ["True", "True"]  # a venv, with the headers the extension builds against
    assert str(venv) in lines[3]  # its own pip, which PEP 668 does not refuse
    (venv / "marker").write_text("kept")
    again = _source_venv(venv, 'echo "$VPY"')
    assert again.returncode == 0, again.stderr
    assert (venv / "marker").read_text() == "kept"  # reused, not made anew


@needs_distro_python
def test_venv_script_remakes_a_venv_of_another_interpreter(tmp_path):
    venv = tmp_path / "venv"
    ident = "import sys; print(sys.base_prefix, sys.version)"
    base = subprocess.run([DISTRO_PYTHON, "-c", ident], capture_output=True, text=True, check=True).stdout
    others = [p for p in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
                                + glob.glob("/usr/local/bin/python3.1[0-9]"))
              if subprocess.run([p, "-c", ident], capture_output=True, text=True).stdout not in ("", base)]
    if not others:
        pytest.skip("no second Python installation here")
    subprocess.run([others[0], "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "marker").write_text("stale")
    result = _source_venv(venv, '"$VPY" -c "import sys; print(sys.base_prefix, sys.version)"')
    assert result.returncode == 0, result.stderr
    assert result.stdout == base
    assert not (venv / "marker").exists()
