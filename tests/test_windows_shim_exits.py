"""Windows shim under Wine: the build, exit codes and errors.

The C core builds for Windows with -Wall -Wextra -Werror; full 32-bit exit codes
pass through the driver and reexec_exec; a mask without the CreateProcess tier is
unsupported; the driver's exit status and message on failure. Fixture and helpers:
tests/_wine.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before the import below, so pytest rewrites the asserts in _wine.py (its fixture and
# helpers) as it did when they lived in this file.
pytest.register_assert_rewrite("_wine")

from _wine import (BUILD_SCRIPT, NOTE_UNSUPPORTED, TIER_EXECVEAT, TIER_FEXECVE, TIER_PATH,
                   WIN, Case, Wine, run_harness)

pytest_plugins = ["_wine"]  # the session fixture `wine`, registered once (see _wine.py)

pytestmark = pytest.mark.wine


# --------------------------------------------------------------------------------------
# The C core builds for Windows with -Wall -Wextra -Werror


def test_build_script_uses_strict_flags_and_builds(wine: Wine) -> None:
    script = BUILD_SCRIPT.read_text()
    for flag in ("-Wall", "-Wextra", "-Werror", "-municode", "set -euo pipefail"):
        assert flag in script
    assert os.access(BUILD_SCRIPT, os.X_OK)
    assert wine.build.returncode == 0
    for name in ("reexec_run.exe", "harness.exe", "printargs.exe", "exitcheck.exe"):
        assert (WIN / name).is_file()
    assert (WIN / "reexec_run.exe").read_bytes()[:2] == b"MZ"


# --------------------------------------------------------------------------------------
# Exit codes pass through exactly (checked inside Wine)


EXIT_CODES = [0, 1, 255, 256, 259, 0xC0000005, 0xFFFFFFFF]


def test_exit_codes_pass_through_the_driver(wine: Wine) -> None:
    """exitcheck.exe (a Windows parent) runs `reexec_run.exe exitwith.exe CODE` for
    each code and prints GetExitCodeProcess: the full 32-bit value must arrive."""
    codes = ",".join(hex(c) for c in EXIT_CODES)
    proc = wine.run(wine.exe("exitcheck.exe"), "--codes", codes, "reexec_run.exe",
                    "exitwith.exe")
    assert proc.stdout.decode().split() == [f"exit={c}" for c in EXIT_CODES], proc.stderr


def test_exit_codes_pass_through_reexec_exec(wine: Wine, tmp_path: Path) -> None:
    exitwith = wine.exe("exitwith.exe")
    cases = [Case(exitwith, ["exitwith.exe", str(c)]) for c in EXIT_CODES]
    assert [r.exit_code for r in run_harness(wine, tmp_path, cases)] == EXIT_CODES


# --------------------------------------------------------------------------------------
# POSIX tiers are unsupported


def test_posix_tiers_are_unsupported(wine: Wine, tmp_path: Path) -> None:
    posix = TIER_EXECVEAT | TIER_FEXECVE | TIER_PATH
    [result] = run_harness(wine, tmp_path,
                           [Case(wine.exe("printargs.exe"), ["p"], tiers=posix)])
    header, *attempts = result.output
    enosys = int(header.rsplit("enosys=", 1)[1])
    assert header.startswith(f"exec-failed ret={enosys} count=3")
    assert attempts == [f"attempt tier={t} err={enosys} note={NOTE_UNSUPPORTED}"
                        for t in (TIER_EXECVEAT, TIER_FEXECVE, TIER_PATH)]


# --------------------------------------------------------------------------------------
# Driver errors


def test_missing_program_exits_127(wine: Wine, tmp_path: Path) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), "no_such_program.exe", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 127
    assert "'no_such_program.exe'" in err and "tier createprocess" in err
    assert "Win32 error 2" in err


def test_directory_exits_126(wine: Wine, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    proc = wine.run(wine.exe("reexec_run.exe"), "adir", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 126
    assert "'adir'" in err and "Win32 error 5" in err
