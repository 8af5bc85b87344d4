"""The C core's own tests (tests/c/test_core.c), built with each available C
toolchain and run: glibc gcc always, musl-gcc where installed (CI installs it), and
aarch64 (zig cc -target aarch64-linux-musl -static, from build/tools-venv) under
qemu-aarch64 (Debian's qemu-user; CI installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from _env import fd_exec_unavailable

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^C core tests: (\d+) passed, (\d+) failed, (\d+) skipped(.*)$", re.MULTILINE)


def run_c_tests(env: dict[str, str]) -> tuple[int, int, str]:
    result = subprocess.run([str(ROOT / "scripts" / "c-tests")], env={**os.environ, **env},
                            check=False, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "C core tests: all passed" in result.stdout, output
    summary = SUMMARY.search(result.stdout)
    assert summary, output
    passed, failed, skipped = (int(n) for n in summary.groups()[:3])
    assert failed == 0 and passed > 300, output
    return passed, skipped, output


@pytest.mark.parametrize("cc", ["gcc", "musl-gcc"])
def test_c_core_builds_warning_free_and_passes(cc):
    if shutil.which(cc) is None:
        if os.environ.get("REEXEC_CI") and cc == "musl-gcc":
            pytest.fail("musl-gcc is required in CI (Debian package musl-tools)")
        pytest.skip(f"{cc} not installed")
    _, skipped, output = run_c_tests({"CC": cc})
    # This kernel has execveat: nothing may be skipped natively. Under a binfmt_misc
    # emulator (the arm64 leg) the checks that exec by one descriptor tier alone skip,
    # and only there: the C probe and this suite's own must agree.
    if fd_exec_unavailable() is None:
        assert skipped == 0, output
    else:
        assert "refused here with ENOENT: a binfmt_misc emulator" in output, output


def test_c_core_passes_on_aarch64_under_qemu():
    """Every check passes under emulation, except those of the execveat tier alone,
    which the test program skips only when its probe gets ENOSYS (Debian's qemu 7.2
    has no execveat); the tiers after it (fexecve, path) still run for real."""
    if shutil.which("qemu-aarch64") is None:
        if os.environ.get("REEXEC_CI"):
            pytest.fail("qemu-aarch64 is required in CI (Debian package qemu-user)")
        pytest.skip("qemu-aarch64 not installed")
    zig_cc = ROOT / "scripts" / "zig-cc"
    passed, skipped, output = run_c_tests({
        "CC": f"{zig_cc} -target aarch64-linux-musl -static",
        "C_TESTS_OUT": str(ROOT / "build" / "c-tests" / "aarch64-linux-musl"),
        "RUNNER": "qemu-aarch64",
    })
    print(f"aarch64 under qemu-aarch64: {passed} passed, {skipped} skipped")
    if skipped:
        assert "execveat unavailable here: the probe got ENOSYS" in output, output
