"""tests/c/test_fds.c: the descriptor placement, the spawn child and the inotify wait in
C, without Python, with gcc (plain and with ASan/UBSan) and musl-gcc where installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

def sources():
    """The extension's Linux source list (csrc/ffi_build.py sources()) and the test."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "c-sources"), "linux"],
                         check=True, capture_output=True, text=True).stdout
    return [*out.split(), "tests/c/test_fds.c"]


pytestmark = pytest.mark.skipif(sys.platform != "linux" or not (ROOT / "csrc").exists(),
                                reason="Linux, with the source tree's csrc/")


@pytest.mark.parametrize("cc, flags", [
    ("gcc", []),
    ("gcc", ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]),
    ("musl-gcc", []),
])
def test_fd_placement_in_c(cc, flags, tmp_path):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    exe = tmp_path / "test_fds"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", *flags,
                    f"-I{ROOT / 'csrc' / 'include'}", *(str(ROOT / s) for s in sources()), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fd placement tests: all passed" in result.stdout
