"""Windows shim under Wine: the child inherits the std handles and no other handle
(csrc/windows/win_child.c, PROC_THREAD_ATTRIBUTE_HANDLE_LIST).

handleleak.exe opens a file as an inheritable handle, starts a launcher that inherits
it, and the launcher's child tries to write through that handle value. Through the
shim it must fail and leave the file empty, while stdout/stderr still arrive; through
a plain launcher (bInheritHandles=TRUE, no list) it arrives: the control showing the
check can fail. Wine 8 honours the handle list (measured: the control leaks, the shim
does not). Fixture and helpers: tests/_wine.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("_wine")

from _wine import Wine, windows_path

pytest_plugins = ["_wine"]

pytestmark = pytest.mark.wine


def run_leak_check(wine: Wine, tmp_path: Path, launcher: str) -> tuple[list[str], str, bytes]:
    target = tmp_path / "inherited.txt"
    proc = wine.run(wine.exe("handleleak.exe"), "parent", windows_path(target), launcher)
    return proc.stdout.decode().split(), proc.stderr.decode(errors="replace"), target.read_bytes()


def test_an_inheritable_handle_does_not_reach_the_child(wine: Wine, tmp_path: Path) -> None:
    out, err, written = run_leak_check(wine, tmp_path, "reexec_run.exe")
    assert "handle=unusable" in out, (out, err)
    assert written == b""
    # ... while the std handles still arrive, and the shim forwards the exit code.
    assert "stdout=ok" in out and "stderr=ok" in err, (out, err)
    assert "launcher-exit=0" in out


def test_control_a_plain_launcher_leaks_the_handle(wine: Wine, tmp_path: Path) -> None:
    """Shows the test above can fail: inheriting every handle hands this one over."""
    out, err, written = run_leak_check(wine, tmp_path, "exitcheck.exe")
    assert "handle=usable" in out, (out, err)
    assert written == b"leaked"


def test_the_inherit_list_holds_each_usable_std_handle_once(wine: Wine) -> None:
    """reexec_win_inherit_list: the same handle twice is listed once; handles
    CreateProcessW refuses in the list (not inheritable, NULL, INVALID_HANDLE_VALUE,
    a console pseudo-handle) are left out; nothing usable: an empty list (inherit
    nothing)."""
    proc = wine.run(wine.exe("inheritlist.exe"))
    lines = proc.stdout.decode().splitlines()
    assert lines == ["ok duplicates-once", "ok none-usable-empty", "ok pseudo-and-private-left-out",
                     "done"], proc.stdout + proc.stderr
    assert proc.returncode == 0
