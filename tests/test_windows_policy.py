"""The Python side of the Windows path, tested on any OS as far as it is pure
Python: which hand-over the cargo fallback picks, the command it passes to the
shim, and the error a failed CreateProcessW turns into. The shim itself is
tested under Wine (tests/test_windows_shim_*.py)."""

from __future__ import annotations

import errno

import pytest

from reexec_native import CargoRun, open_exe
from reexec_native._exe import TIERS
from reexec_native._native import ffi, lib
from reexec_native.cargo import _run_through_shim, uses_shim


def test_fallback_runs_through_the_shim_only_where_createprocess_is_the_tier():
    assert uses_shim(TIERS["createprocess"])
    assert not uses_shim(TIERS["execveat"] | TIERS["fexecve"] | TIERS["path"])


def test_shim_gets_the_spec_command_line_with_argv1_unchanged():
    cmd = CargoRun(cargo="C:\\Rust\\cargo.exe").command(["xtask.exe", "a b", 'q"uote', ""])
    assert cmd == ["C:\\Rust\\cargo.exe", "run", "-p", "xtask", "--features", "crossval-all", "--",
                   "a b", 'q"uote', ""]


def test_createprocess_failure_names_path_tier_and_win32_code():
    report = ffi.new("reexec_report *")
    report.count = 1
    report.attempts[0].tier = lib.REEXEC_TIER_CREATEPROCESS
    report.attempts[0].err = 193  # ERROR_BAD_EXE_FORMAT, e.g. a refused .bat target
    report.attempts[0].note = lib.REEXEC_NOTE_WIN32
    with open_exe("/bin/true") as handle:
        exc = handle._failure(report)
    assert isinstance(exc, OSError)
    assert exc.tier == "createprocess"
    assert exc.attempts == [("createprocess", 193, lib.REEXEC_NOTE_WIN32)]
    assert "starting the program failed, Win32 error 193 (tier createprocess)" in str(exc)
    assert exc.filename == "/bin/true"


@pytest.mark.skipif(lib.reexec_supported_tiers() & lib.REEXEC_TIER_CREATEPROCESS, reason="off Windows only")
def test_shim_tier_off_windows_is_a_clear_unsupported_error():
    with pytest.raises(OSError) as info:
        _run_through_shim("/bin/true", ["cargo", "run", "--"], {})
    assert info.value.errno == errno.ENOSYS
    assert info.value.attempts[-1][0] == "tiers 0x8" or info.value.tier == "createprocess"
    assert "tier not available on this platform" in str(info.value)
