"""Windows shim under Wine: what reexec_open pins and what reexec_exec refuses.

reexec_open keeps a handle with share mode FILE_SHARE_READ only, so the file cannot
be renamed, replaced, written or deleted until reexec_close (or until the child
runs); reexec_exec first checks that the path still names the opened file (volume
serial, file index, size) and refuses with ERROR_FILE_INVALID otherwise, running
nothing. Driven by tests/win/pincheck.exe (the C API linked in); the Win32 codes
asserted are what Wine 8 gives. Wine does not enforce sharing for everything
Windows does (see docs/windows.md, "What is pinned"); those cases are asserted as
Wine behaves, with the identity check shown to catch them. Fixture and helpers:
tests/_wine.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.register_assert_rewrite("_wine")

from _wine import (ERROR_ACCESS_DENIED, ERROR_FILE_INVALID, ERROR_INVALID_HANDLE,
                   ERROR_SHARING_VIOLATION, NOTE_WIN32, TIER_CREATEPROCESS, WIN, Case, Wine,
                   run_harness, windows_path)

pytest_plugins = ["_wine"]  # the session fixture `wine`, registered once (see _wine.py)

pytestmark = pytest.mark.wine

PIN_BASE = 0x10000  # REEXEC_WIN_PIN_BASE: reexec_exe.fd is a pin number on Windows


def pincheck(wine: Wine, tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """Runs a private copy of pincheck.exe in tmp_path (`self` renames its own image)."""
    exe = tmp_path / "pincheck.exe"
    if not exe.exists():
        shutil.copy(WIN / "pincheck.exe", exe)
    proc = wine.run(windows_path(exe), *args, cwd=tmp_path)
    return proc.returncode, proc.stdout.decode("ascii").splitlines()


def steps(lines: list[str]) -> dict[tuple[str, str], int]:
    """{(who, what): Win32 code} from "WHO WHAT CODE" lines."""
    found = {}
    for line in lines:
        parts = line.split(" ")
        if len(parts) >= 3 and parts[2].isdigit():
            found[(parts[0], parts[1])] = int(parts[2])
    return found


def refused(lines: list[str], err: int) -> None:
    assert f"exec-failed ret={err}" in lines, lines
    assert f"attempt tier={TIER_CREATEPROCESS} err={err} note={NOTE_WIN32}" in lines, lines


def target(tmp_path: Path, program: str = "exitwith.exe") -> tuple[Path, str]:
    (tmp_path / "d").mkdir(exist_ok=True)
    path = tmp_path / "d" / "target.exe"
    shutil.copy(WIN / program, path)
    return path, windows_path(path)


# --------------------------------------------------------------------------------------
# The pin


def test_pinned_file_cannot_be_renamed_replaced_written_or_deleted(wine: Wine,
                                                                   tmp_path: Path) -> None:
    path, win_path = target(tmp_path)
    original = path.read_bytes()
    code, lines = pincheck(wine, tmp_path, "hold", win_path)
    assert code == 0, lines
    assert lines[0] == f"open 0 fd={PIN_BASE} pinned=1", lines
    got = steps(lines)
    for who in ("same", "other"):  # this process, and another one
        assert got[(who, "rename")] == ERROR_SHARING_VIOLATION, lines
        # MoveFileExW(other, target, MOVEFILE_REPLACE_EXISTING): Wine says 5, not 32
        assert got[(who, "replace")] == ERROR_ACCESS_DENIED, lines
        assert got[(who, "write")] == ERROR_SHARING_VIOLATION, lines
        assert got[(who, "delete")] == ERROR_SHARING_VIOLATION, lines
    assert "close 0" in lines and "close-again 0 fd=-1" in lines, lines
    for what in ("rename", "replace", "write", "delete"):  # reexec_close released it
        assert got[("after", what)] == 0, lines
    assert path.read_bytes() == original  # every successful step put the file back


def test_open_self_pins_the_running_image_and_the_child_neither_inherits_nor_is_blocked(
        wine: Wine, tmp_path: Path) -> None:
    code, lines = pincheck(wine, tmp_path, "self")
    assert "open-self 0 pinned=1" in lines, lines
    assert steps(lines)[("self", "rename")] == ERROR_SHARING_VIOLATION, lines
    # reexec_exec ran the pinned image itself (exit 7 is the child's) ...
    assert code == 7, lines
    # ... which did not get the pin's handle (not inheritable) ...
    assert not any(line.startswith("child handle-inherited") for line in lines), lines
    assert any(line.startswith(("child handle-invalid", "child handle-other-object"))
               for line in lines), lines
    # ... and could rename its own program: the shim lets go once the child runs.
    assert any(line.startswith("child self-rename 0 ") for line in lines), lines
    assert (tmp_path / "pincheck.exe").is_file()


def test_closed_pin_is_refused_and_closing_twice_is_ebadf(wine: Wine, tmp_path: Path) -> None:
    _, win_path = target(tmp_path)
    code, lines = pincheck(wine, tmp_path, "badpin", win_path)
    assert code == 126, lines
    refused(lines, ERROR_INVALID_HANDLE)
    assert "close-copy 9" in lines, lines  # EBADF (mingw errno.h), no crash


# --------------------------------------------------------------------------------------
# reexec_exec runs the opened program


def test_exec_runs_the_pinned_program(wine: Wine, tmp_path: Path) -> None:
    _, win_path = target(tmp_path)
    code, lines = pincheck(wine, tmp_path, "exec", win_path, "42")
    assert lines == [f"open 0 fd={PIN_BASE} pinned=1"]
    assert code == 42


def test_exec_through_the_harness_full_exit_code(wine: Wine, tmp_path: Path) -> None:
    _, win_path = target(tmp_path)
    [result] = run_harness(wine, tmp_path, [Case(win_path, [win_path, "3221225477"])])
    assert result.exit_code == 0xC0000005, result.output


# --------------------------------------------------------------------------------------
# The identity check: a swapped file is refused and nothing runs


def test_swapped_after_close_is_refused(wine: Wine, tmp_path: Path) -> None:
    """fd -1 (closed: a path-only struct): the file can be replaced, exec refuses it."""
    path, win_path = target(tmp_path)
    shutil.copy(WIN / "printargs.exe", tmp_path / "new.exe")
    code, lines = pincheck(wine, tmp_path, "stale", win_path, windows_path(tmp_path / "new.exe"))
    assert "close 0 fd=-1" in lines, lines
    assert steps(lines)[("swap", "replace")] == 0, lines
    assert path.read_bytes() == (WIN / "printargs.exe").read_bytes()
    refused(lines, ERROR_FILE_INVALID)
    assert not any(line.startswith(("clta", "crt")) for line in lines)  # printargs never ran
    assert code == 126


def test_parent_directory_swapped_under_the_pin_is_refused(wine: Wine, tmp_path: Path) -> None:
    """Wine lets a directory holding a pinned file be renamed (Windows is expected to
    refuse: Explorer's "Folder In Use"); the path then names another file."""
    _, win_path = target(tmp_path)
    shutil.copy(WIN / "printargs.exe", tmp_path / "canary.exe")
    code, lines = pincheck(wine, tmp_path, "swapdir", windows_path(tmp_path))
    got = steps(lines)
    assert got[("swap", "rename-dir")] == 0, lines  # what Wine 8 does
    assert got[("swap", "copy")] == 0, lines
    refused(lines, ERROR_FILE_INVALID)
    assert not any(line.startswith(("clta", "crt")) for line in lines)  # canary never ran
    assert code == 126


def test_truncation_wine_lets_through_the_pin_is_refused(wine: Wine, tmp_path: Path) -> None:
    """Wine 8 lets CreateFileW(FILE_READ_ATTRIBUTES, CREATE_ALWAYS) truncate a pinned
    file (no write access asked, so no sharing check); the size check catches it.
    Where sharing is enforced for it (Windows), the pinned program just runs."""
    path, win_path = target(tmp_path)
    code, lines = pincheck(wine, tmp_path, "truncate", win_path)
    truncated = steps(lines)[("swap", "truncate")]
    if truncated == 0:  # Wine 8.0
        assert path.stat().st_size == 0
        refused(lines, ERROR_FILE_INVALID)
        assert code == 126
    else:
        assert truncated in (ERROR_SHARING_VIOLATION, ERROR_ACCESS_DENIED), lines
        assert code == 2, lines  # exitwith.exe without an argument exits 2
