"""Windows shim under Wine: .bat/.cmd targets are refused, and nothing runs.

cmd.exe would re-parse the arguments (BatBadBut); trailing dots and spaces do not
hide the extension (CVE-2024-43402). A control shows Wine's cmd.exe does run the
file. Fixture and helpers: tests/_wine.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# Before the import below, so pytest rewrites the asserts in _wine.py (its fixture and
# helpers) as it did when they lived in this file.
pytest.register_assert_rewrite("_wine")

from _wine import (ERROR_BAD_EXE_FORMAT, NOTE_WIN32, TIER_CREATEPROCESS, Case, Wine,
                   run_harness, windows_path)

pytest_plugins = ["_wine"]  # the session fixture `wine`, registered once (see _wine.py)

pytestmark = pytest.mark.wine


@pytest.fixture()
def batch_dir(tmp_path: Path) -> Path:
    script = b"@echo off\r\necho ran > ran.txt\r\n"
    (tmp_path / "x.bat").write_bytes(script)
    (tmp_path / "y.cmd").write_bytes(script)
    return tmp_path


def test_control_batch_file_would_run(wine: Wine, batch_dir: Path) -> None:
    """Shows the refusal test can fail: Wine's cmd.exe does run x.bat."""
    wine.run("cmd", "/c", "x.bat", cwd=batch_dir)
    assert (batch_dir / "ran.txt").exists()


@pytest.mark.parametrize("target", ["x.bat", "y.cmd", "X.BaT. ..", "Y.CMD ", "x.bat."])
def test_batch_targets_are_refused(wine: Wine, batch_dir: Path, target: str) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), target, "arg", cwd=batch_dir)
    err = proc.stderr.decode()
    assert proc.returncode == 126, err
    assert f"refusing to run the batch file '{target}'" in err
    assert f"Win32 error {ERROR_BAD_EXE_FORMAT}" in err
    time.sleep(0.2)
    assert not (batch_dir / "ran.txt").exists()


def test_batch_refusal_is_reported(wine: Wine, batch_dir: Path, tmp_path: Path) -> None:
    [result] = run_harness(wine, tmp_path, [Case(windows_path(batch_dir / "X.BaT. .."),
                                                 ["x.bat"])])
    assert result.output[1] == (
        f"attempt tier={TIER_CREATEPROCESS} err={ERROR_BAD_EXE_FORMAT} note={NOTE_WIN32}")
    assert not (batch_dir / "ran.txt").exists()
