"""Windows shim under Wine: supervising the child (csrc/windows/win_child.c).

Killing the shim kills the child (job object); Ctrl+C reaches the child while the
shim keeps waiting (console-control handler); the child uses the shim's std
handles. Each behaviour has a control test showing the check can fail. Fixture and
helpers: tests/_wine.py.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

# Before the import below, so pytest rewrites the asserts in _wine.py (its fixture and
# helpers) as it did when they lived in this file.
pytest.register_assert_rewrite("_wine")

from _wine import Wine, windows_path

pytest_plugins = ["_wine"]  # the session fixture `wine`, registered once (see _wine.py)

pytestmark = pytest.mark.wine


# --------------------------------------------------------------------------------------
# Killing the shim kills the child (job object)


def test_killing_the_shim_kills_the_child(wine: Wine, tmp_path: Path) -> None:
    pidfile = windows_path(tmp_path / "pid")
    proc = wine.run(wine.exe("killcheck.exe"), "10000", pidfile,
                    "reexec_run.exe", "sleeper.exe", pidfile, timeout=90)
    assert proc.stdout.decode().split() == ["child=gone"], proc.stdout + proc.stderr


def test_control_without_job_the_child_survives(wine: Wine, tmp_path: Path) -> None:
    """Shows the test above can fail: a plain launcher (no job) leaves it alive."""
    pidfile = windows_path(tmp_path / "pid")
    proc = wine.run(wine.exe("killcheck.exe"), "1500", pidfile,
                    "exitcheck.exe", "sleeper.exe", pidfile, timeout=90)
    assert proc.stdout.decode().split() == ["child=alive"], proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# Console control: the shim ignores Ctrl+C, the child receives it


def run_in_pty(wine: Wine, tmp_path: Path, launcher: str) -> str:
    """ctrlparent.exe in a pseudo-terminal (headless Wine has no console, so no
    Ctrl+C events): returns the launcher's exit code as printed."""
    script = shutil.which("script")
    if script is None:
        pytest.skip("script(1) (util-linux) is needed for a pty")
    ready = windows_path(tmp_path / "ready")
    command = " ".join(shlex.quote(a) for a in [
        wine.wine, wine.exe("ctrlparent.exe"), ready, launcher, wine.exe("ctrlchild.exe"),
        ready])
    proc = subprocess.run([script, "-qec", command, "/dev/null"], env=wine.env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=90,
                          check=False)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stdout.decode(errors="replace"))
    assert "no-console" not in text, "Wine gave ctrlparent.exe no console inside script(1)"
    match = re.search(r"exit=(\d+)", text)
    assert match, text
    return match.group(1)


def test_ctrl_c_reaches_the_child_and_the_shim_waits(wine: Wine, tmp_path: Path) -> None:
    """Ctrl+C to the console group: the shim's handler returns TRUE (it keeps
    waiting), the child's own handler sees CTRL_C_EVENT (not disabled by an
    inherited SetConsoleCtrlHandler(NULL, TRUE)) and exits 5, which the shim forwards."""
    assert run_in_pty(wine, tmp_path, wine.exe("reexec_run.exe")) == "5"


def test_control_launcher_without_handler_dies_on_ctrl_c(wine: Wine, tmp_path: Path) -> None:
    """Shows the test above can fail: exitcheck.exe has no handler and is killed by
    the Ctrl+C (Wine's default handler exits with 0), so 5 never arrives."""
    assert run_in_pty(wine, tmp_path, wine.exe("exitcheck.exe")) != "5"


# --------------------------------------------------------------------------------------
# Standard handles are inherited


def test_child_uses_the_shims_stdin_stdout_stderr(wine: Wine) -> None:
    data = bytes(range(256)) * 64 + b"\r\n\n\x1a end"
    proc = wine.run(wine.exe("reexec_run.exe"), "catlike.exe", input=data)
    assert proc.returncode == 42
    assert proc.stdout == data
    assert proc.stderr == f"stderr:{len(data)}\n".encode()
