"""`reexec-native doctor` (text and --json), `exec`'s documented exit statuses, and
open_exe(None): decisions by OS, not by what /proc looks like (Wine maps /proc)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from _win import CLI, GUARD, PY, child_env, run_py

# The running image: in a venv, sys.executable is the venv's launcher and the
# interpreter it starts is the base one (sys._base_executable); here they are the same.
IMAGE = os.path.normcase(getattr(sys, "_base_executable", PY))
# platform.system()/uname() query WMI, which ends the process under Wine 8: the
# product's Windows path must not call them. This makes any call fail loudly.
NO_PLATFORM = """
import platform
def _boom(*a, **k):
    raise AssertionError("platform." + "queried on the Windows path")
platform.system = platform.uname = platform.win32_ver = platform.platform = platform.release = \\
    platform.machine = platform.libc_ver = _boom
"""


def test_doctor_reports_the_createprocess_tier_working():
    proc = run_py(NO_PLATFORM + CLI, "doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "createprocess          works" in out
    for tier in ("execveat", "fexecve", "path"):
        assert f"{tier:<22} unsupported" in out
    assert "system                 Windows" in out
    assert "/proc/self/fd          unsupported" in out, out
    assert "reexec() will try: createprocess" in out


def test_doctor_json():
    proc = run_py(NO_PLATFORM + CLI, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["platform"]["system"] == "Windows"
    assert report["tiers"]["createprocess"]["status"] == "works"
    assert report["features"]["/proc/self/fd"]["status"] == "unsupported"
    assert os.path.normcase(report["current_exe"]["path"]) == IMAGE
    assert report["plan"] == {"fast_path": ["createprocess"], "ok": True, "refuses": None,
                              "fallback": report["plan"]["fallback"], "snapshot": report["plan"]["snapshot"]}
    # No memfd or O_TMPFILE on Windows: snapshot mode would run the file itself.
    assert report["plan"]["snapshot"].startswith("the file itself: no sealed copy can be made here")
    assert report["snapshot_order"] == []


def test_doctor_with_the_tier_disabled_exits_1():
    proc = run_py(NO_PLATFORM + CLI, "doctor", env=child_env(REEXEC_NATIVE_TIERS="execveat"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "disabled by REEXEC_NATIVE_TIERS=execveat" in proc.stdout


@pytest.mark.parametrize("args, status, words", [
    (["exec", "--", "no-such-program-xyz"], 127, "not found on PATH"),
    (["exec", "--", "C:\\no\\such\\dir\\prog.exe"], 127, "tier open"),
    (["exec", "--", "C:\\windows"], 126, "directory"),
    (["exec", "--guard", GUARD, "--", PY, "-c", "print('RAN')"], 125, "is already set here, so this is itself a re-exec"),
    (["exec", "--bogus"], 2, "error:"),
    (["exec", "--", PY, "-c", "print('RAN')"], 0, ""),
])
def test_exec_exit_statuses(args, status, words):
    proc = run_py(CLI, *args, env=child_env(**{GUARD: "1"}) if status == 125 else None)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert words in proc.stderr
    assert ("RAN" in proc.stdout) == (status == 0)


def test_exec_tiers_seam_invalid_is_125():
    proc = run_py(CLI, "exec", "--", PY, "-c", "print('RAN')", env=child_env(REEXEC_NATIVE_TIERS="bogus"))
    assert proc.returncode == 125, proc.stderr
    assert "unknown tier 'bogus'" in proc.stderr and "RAN" not in proc.stdout


def test_open_exe_none_pins_and_runs_the_running_image():
    proc = run_py(NO_PLATFORM + """
import sys
from reexec_native import open_exe
handle = open_exe(None)
print("path", handle.path)
handle.exec([sys.executable, "-c", "import sys; print('ran', sys.executable); sys.exit(9)"])
""")
    assert proc.returncode == 9, proc.stdout + proc.stderr
    shown = proc.stdout.splitlines()[0].split(" ", 1)[1]
    assert os.path.normcase(shown) == IMAGE
    assert "ran" in proc.stdout


def test_open_exe_identity_and_refusals(tmp_path):
    from reexec_native import open_exe

    with open_exe(PY) as handle:
        st = os.stat(PY)
        assert (handle.st_dev, handle.st_ino, handle.st_size) == (st.st_dev, st.st_ino, st.st_size)
        assert handle.fd >= 0x10000  # a pin number, not a CRT descriptor (docs/windows.md)
    assert handle.closed
    with pytest.raises(IsADirectoryError):  # EISDIR from the C core (docs/windows.md)
        open_exe(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        open_exe(tmp_path / "missing.exe")
    assert info.value.filename == str(tmp_path / "missing.exe")
