"""The portability gate (scripts/portability-gate): the C core cross-compiled with
zig cc for every platform the wheels claim (and FreeBSD) under -Werror -pedantic,
linked as a shared object with undefined symbols refused. One result per target."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["x86_64-macos", "aarch64-macos", "x86_64-freebsd", "aarch64-freebsd",
           "aarch64-linux-gnu.2.17", "x86_64-linux-musl", "aarch64-linux-musl",
           "x86_64-windows-gnu", "aarch64-windows-gnu"]


@pytest.fixture(scope="module")
def gate() -> dict[str, str]:
    """Run the gate once (the first run on a fresh clone builds zig's libc stubs:
    minutes; cached under build/zig afterwards) and map each target to its line."""
    if os.environ.get("CIBUILDWHEEL"):
        pytest.skip("inside cibuildwheel the wheel's own build is the compile check")
    result = subprocess.run([str(ROOT / "scripts" / "portability-gate")], cwd=ROOT,
                            check=False, capture_output=True, text=True, timeout=1200)
    lines = dict(re.findall(r"^portability-gate: (\S+): (.*)$", result.stdout, re.MULTILINE))
    assert set(lines) == set(TARGETS), result.stdout + result.stderr
    gate_output = result.stdout + result.stderr
    return {t: f"{lines[t]}\n{gate_output}" for t in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_core_compiles_warning_free_and_links_without_undefined_symbols(gate, target):
    assert gate[target].startswith("ok"), gate[target]


# What `reexec-native doctor` says each platform gives (reexec_native/_doctor.py)

def test_doctor_states_what_this_platform_gives():
    import json
    import sys

    human = subprocess.run([sys.executable, "-m", "reexec_native", "doctor"],
                           check=False, capture_output=True, text=True, timeout=120)
    assert human.returncode == 0, human.stderr
    line = next(ln for ln in human.stdout.splitlines() if ln.strip().startswith("exec on this OS"))
    assert "execveat on the O_PATH descriptor" in line and "atomic: the opened file runs" in line
    data = json.loads(subprocess.run([sys.executable, "-m", "reexec_native", "doctor", "--json"],
                                     check=False, capture_output=True, text=True, timeout=120).stdout)
    assert data["platform_exec"]["exec"].startswith("execveat on the O_PATH descriptor")


@pytest.mark.parametrize("platform, exec_text, atomic", [
    ("linux", "execveat on the O_PATH descriptor", "atomic: the opened file runs"),
    ("freebsd14", "fexecve on an O_PATH|O_EXEC descriptor", "atomic for ELF programs"),
    ("darwin", "no fexecve or execveat: execve(path) after a (dev, ino) check", "not atomic"),
    ("win32", "CreateProcessW hand-over of the pinned file", "the program runs as a child"),
    ("sunos5", "execve(path) after a (dev, ino) check", "not atomic"),
])
def test_each_platform_says_its_exec_and_how_atomic(platform, exec_text, atomic):
    from reexec_native._doctor import platform_exec

    given = platform_exec(platform)
    assert given["exec"].startswith(exec_text)
    assert atomic in given["atomic"]
