"""The process name after an exec through a descriptor (issue 12 item 8), for real.

glibc's fexecve, when execveat is refused (here: a seccomp filter answering ENOSYS),
execs /proc/self/fd/N, and the kernel names the process "N" on every kernel (the 6.14
fix, commit 543841d18060, covers execveat only): the re-executed Python program
that imports reexec_native gets its name back. The doctor probes the execveat case."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from _faults import run_child
from conftest import PYTHON, child_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/PID/comm is Linux")
pytest_plugins = ["_faults"]

SHOW = "print('before', open('/proc/self/comm').read().strip()); import reexec_native; " \
       "print('after', open('/proc/self/comm').read().strip())"


def test_a_reexecuted_python_gets_its_name_back(seccomp_launcher, tmp_path):
    """Fails before the fix: 'after' is the descriptor's number too."""
    proc = run_child(f"reexec([sys.executable, '-c', {SHOW!r}], fallback=None)",
                     prefix=(seccomp_launcher, "-e", "38"),  # ENOSYS for execveat
                     env=child_env(REEXEC_NATIVE_TIERS="fexecve"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    before, after = (line.split(" ", 1)[1] for line in proc.stdout.splitlines())
    assert before.isdigit(), proc.stdout  # what the kernel called it: /proc/self/fd/N
    assert after == os.path.basename(PYTHON)[:15]


def test_the_name_is_left_alone_outside_a_reexec(python_copy, tmp_path):
    """Not re-executed (no guard set): importing changes nothing, even for a name
    that is a number (a program that is really called "3")."""
    link = python_copy.parent / "3"
    link.symlink_to(python_copy.name)
    proc = subprocess.run([str(link), "-c", SHOW], capture_output=True, text=True, env=child_env(),
                          cwd=tmp_path, timeout=60)
    assert proc.stdout.splitlines() == ["before 3", "after 3"], proc.stderr


def _kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def test_doctor_probes_the_name_after_an_exec_through_a_descriptor(tmp_path):
    proc = subprocess.run([PYTHON, "-m", "reexec_native", "doctor", "--json"], capture_output=True, text=True,
                          env=child_env(), cwd=tmp_path, timeout=120)
    features = json.loads(proc.stdout)["features"]
    comm = features["comm"]
    assert features["AT_EXECVE_CHECK"]["status"] == ("works" if _kernel() >= (6, 14) else "unsupported")
    if _kernel() >= (6, 14):  # fixed by 543841d18060 (older kernels may have it backported)
        assert comm == {"status": "works", "comm": "cat",
                        "detail": "exec through a descriptor keeps the name (cat)"}
    else:
        assert comm["status"] in ("works", "fails")
        assert comm["comm"] in ("cat", "3", "4", "5")


def test_doctor_probes_the_name_from_a_directory_holding_a_source_tree(tmp_path):
    """Run from a checkout (a reexec_native package without its compiled module in the
    current directory), the comm probe still execs through the installed package.
    Before the fix its child ran `python -c` without -I, imported the checkout and
    failed: "comm fails: ? -- probe exited with 1: ModuleNotFoundError"."""
    from _cli_helpers import console_script

    source = tmp_path / "reexec_native"
    source.mkdir()
    (source / "__init__.py").write_text("raise ImportError('the checkout, not the installed package')\n")
    proc = subprocess.run([console_script(), "doctor", "--json"], capture_output=True, text=True,
                          env=child_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    comm = json.loads(proc.stdout)["features"]["comm"]
    assert comm["status"] in ("works", "fails"), comm
    assert comm["comm"] in ("cat", "3", "4", "5"), comm
