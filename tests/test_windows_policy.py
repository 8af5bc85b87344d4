"""The Python side of the Windows path, tested on any OS as far as it is pure
Python: which hand-over the cargo fallback picks, the command it passes to the
shim, and the error a failed CreateProcessW turns into. The shim itself is
tested under Wine (tests/test_windows_shim_*.py)."""

from __future__ import annotations

import errno

import pytest

from reexec_native import Attempt, CargoRun, ExecError
from reexec_native._binding import TIER_BITS as TIERS
from reexec_native._binding import exec_failure, supported_tiers
from reexec_native._child import run_through_shim, uses_shim


def test_fallback_runs_through_the_shim_only_where_createprocess_is_the_tier():
    assert uses_shim(TIERS["createprocess"])
    assert not uses_shim(TIERS["execveat"] | TIERS["fexecve"] | TIERS["path"])


def test_shim_gets_the_spec_command_line_with_argv1_unchanged():
    cmd = CargoRun(cargo="C:\\Rust\\cargo.exe").command(["xtask.exe", "a b", 'q"uote', ""])
    assert cmd == ["C:\\Rust\\cargo.exe", "run", "-p", "xtask", "--features", "crossval-all", "--",
                   "a b", 'q"uote', ""]


def test_createprocess_failure_names_path_tier_and_win32_code():
    # ERROR_BAD_EXE_FORMAT (193), e.g. a refused .bat target, as the C core reports it
    exc = exec_failure("/bin/true", [Attempt("createprocess", 193, "win32")])
    assert isinstance(exc, ExecError) and isinstance(exc, OSError)
    assert exc.tier == "createprocess"
    assert exc.attempts == (("createprocess", 193, "win32"),)
    assert exc.attempts[0].note == "win32" and exc.winerror == 193
    assert "starting the program failed, Win32 error 193 (tier createprocess)" in str(exc)
    assert exc.filename == "/bin/true"


@pytest.mark.skipif(bool(supported_tiers() & TIERS["createprocess"]), reason="off Windows only")
def test_shim_tier_off_windows_is_a_clear_unsupported_error():
    with pytest.raises(OSError) as info:
        run_through_shim("/bin/true", ["cargo", "run", "--"], {})
    assert info.value.errno == errno.ENOSYS
    assert isinstance(info.value, ExecError)
    assert info.value.attempts[-1] == ("createprocess", errno.ENOSYS, "unsupported")
    assert info.value.tier == "createprocess"
    assert "tier not available on this platform" in str(info.value)
