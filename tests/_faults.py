"""Shared by the fault-injection tests (test_hardening_faults*.py): the child-side
prelude whose `attempt(...)` reports an error and whether the caller is intact, the
runner and result parser, and the session fixtures that build the fault programs or
check the kernel allows what a test needs (seccomp, private mount namespaces)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import child_env
from test_hardening_properties import compile_prog

# Runs in the child: `attempt(...)` calls reexec and, if it raises, prints one JSON
# line describing the error and whether the process is as it was before the call.
PRELUDE = """
import errno, json, os, signal, sys
from reexec_native import reexec, ReexecError, CargoRun

def _open_fds():
    fds = []
    for fd in range(512):
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    return fds

def _state():
    return (_open_fds(), signal.getsignal(signal.SIGPIPE), signal.getsignal(signal.SIGXFSZ),
            sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))

def _builtin_name(exc):
    # The built-in class an error is (FileNotFoundError for an ExecError of ENOENT).
    return next(c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins")

def _our_name(exc):
    # The package's class an error is (ExecError, FallbackError), or its own name.
    ours = [c.__name__ for c in type(exc).__mro__ if c.__module__ == "reexec_native.errors"]
    return ours[-1] if ours else type(exc).__name__

def attempt(argv, **kwargs):
    kwargs.setdefault("fallback", None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    before = _state()
    try:
        reexec(argv, **kwargs)
    except ReexecError as e:
        x = e.exec_error
        f = e.fallback_error
        print("RESULT " + json.dumps({
            "type": _builtin_name(x) if x else None, "kind": _our_name(x) if x else None,
            "errno": getattr(x, "errno", None),
            "tier": getattr(x, "tier", None), "attempts": getattr(x, "attempts", None),
            "fallback_type": _builtin_name(f) if f else None,
            "fallback_stage": getattr(f, "stage", None),
            "fallback_errno": getattr(f, "errno", None),
            "message": str(e), "intact": _state() == before,
            "fds_before": before[0], "fds_after": _state()[0]}), flush=True)
"""


def run_child(code: str, *, prefix: tuple[str, ...] = (), env: dict | None = None, cwd=None,
              python: str = sys.executable, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, python, "-c", PRELUDE + textwrap.dedent(code)],
                          env=child_env() if env is None else env, cwd=cwd, capture_output=True,
                          timeout=timeout, errors="surrogateescape")


def result_of(proc: subprocess.CompletedProcess) -> dict:
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            info = json.loads(line[len("RESULT "):])
            info["attempts"] = [tuple(a) for a in info["attempts"] or []]
            return info
    raise AssertionError(f"no RESULT line; rc={proc.returncode}\nstdout={proc.stdout}\nstderr={proc.stderr}")


def assert_clean_failure(info: dict) -> None:
    """A failed re-exec leaves the caller as it was: same descriptors, SIGPIPE and
    SIGXFSZ back to Python's SIG_IGN, the signal mask back (SIGUSR2 blocked)."""
    assert info["intact"], (info["fds_before"], info["fds_after"])


@pytest.fixture(scope="session")
def seccomp_launcher(tmp_path_factory) -> str:
    prog = compile_prog("seccomp_noexecveat", tmp_path_factory.mktemp("seccomp"))
    probe = subprocess.run([prog, "/bin/true"], capture_output=True, text=True)
    if probe.returncode == 120:
        pytest.skip(f"the kernel refuses a seccomp filter here: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    return prog


def _unshare_prefix(setup: str) -> tuple[str, ...]:
    """Run the child in a private mount namespace after `setup` (shell) ran there."""
    return ("unshare", "-m", "--propagation", "private", "sh", "-ec", setup + '\nexec "$@"', "sh")


@pytest.fixture(scope="session")
def mount_ns_ok(tmp_path_factory) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not installed")
    probe = subprocess.run([*_unshare_prefix("mount -t tmpfs tmpfs /proc"), "/bin/true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the kernel refuses a private mount namespace here (needs root): {probe.stderr.strip()}")


def truncated_copy(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    dst.chmod(0o755)
    return dst


@pytest.fixture(scope="session")
def envdump(tmp_path_factory) -> str:
    return compile_prog("envdump", tmp_path_factory.mktemp("faults-progs"))
