"""A PyInstaller onefile app that re-execs itself (issue 12 item 6), for real: frozen
with the hook the package ships (the pyinstaller40 entry point), no --hidden-import.
Before the hook the frozen app died at import: "No module named '_cffi_backend'"."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import PYTHON, child_env

def _no_pyinstaller_here() -> str | None:
    """Why PyInstaller cannot freeze with this interpreter (None: it can). .ci/run's
    Debian Python has both; cibuildwheel's static manylinux interpreters lack libpython."""
    if not sys.platform.startswith("linux"):
        return "the exec tests are Linux"
    if importlib.util.find_spec("PyInstaller") is None:
        return "PyInstaller is not installed (the test extra installs it for Python < 3.15)"
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return "this interpreter has no shared libpython, which PyInstaller bundles"
    return None


pytestmark = [pytest.mark.pyinstaller,
              pytest.mark.skipif(_no_pyinstaller_here() is not None, reason=str(_no_pyinstaller_here()))]

APP = """
import os, sys
from reexec_native import reexec, guard_active
gen = 2 if guard_active() else 1
print(f"gen={gen} pid={os.getpid()} frozen={getattr(sys, 'frozen', False)} args={sys.argv[1:]}", flush=True)
if gen == 1:
    reexec(fallback=None)
"""


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    (work / "app.py").write_text(APP)
    build = subprocess.run(
        [PYTHON, "-m", "PyInstaller", "--onefile", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "--specpath", str(work),
         str(work / "app.py")], capture_output=True, text=True, cwd=work, env=child_env(), timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    return work / "dist" / "app"


def test_a_frozen_onefile_app_reexecs_itself(frozen_app, tmp_path):
    proc = subprocess.run([str(frozen_app), "a b", "--flag"], capture_output=True, text=True,
                          env=child_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("gen=1 ") and second.startswith("gen=2 "), proc.stdout
    assert first.split()[1] == second.split()[1], "same PID: replaced, not spawned"
    assert "frozen=True args=['a b', '--flag']" in second
    assert "_cffi_backend" not in proc.stderr
