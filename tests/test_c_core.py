"""The C core's own tests (tests/c/test_core.c), built with each available C
toolchain and run: glibc gcc always, musl-gcc where installed (CI installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("cc", ["gcc", "musl-gcc"])
def test_c_core_builds_warning_free_and_passes(cc):
    if shutil.which(cc) is None:
        if os.environ.get("REEXEC_CI") and cc == "musl-gcc":
            pytest.fail("musl-gcc is required in CI (Debian package musl-tools)")
        pytest.skip(f"{cc} not installed")
    result = subprocess.run([str(ROOT / "scripts" / "c-tests")], env={**os.environ, "CC": cc},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "C core tests: all passed" in result.stdout
