"""Shared fixtures. Exec replaces the process, so behaviour tests run a child
interpreter (or program) and check what it printed and how it exited."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _env import child_env, fd_exec_unavailable, proc_self_exe_emulated  # noqa: F401 - the tests import it from here

# tests/windows/ runs inside Windows CPython (scripts/wine-python, scripts/test-windows).
if sys.platform != "win32":
    collect_ignore = ["windows"]

# The shared test helper modules get pytest's assert rewriting, as test modules do.
pytest.register_assert_rewrite("_faults", "_wine", "_cli_helpers")

TESTS = Path(__file__).resolve().parent
FIXTURE_WS = TESTS / "fixtures" / "cargo_ws"
# The interpreter running the tests, as it is named (not realpath'd): in a venv that
# is the venv's, with the package under test installed.
PYTHON = sys.executable


def pytest_configure(config):
    config.addinivalue_line("markers", "fd_exec: execs by descriptor (the fd tiers, snapshot methods); "
                                       "skipped, with the reason, where the kernel refuses that "
                                       "(a binfmt_misc emulator such as qemu-user)")
    config.addinivalue_line("markers", "proc_self_exe: reads /proc/self/exe as the kernel links it; "
                                       "skipped, with the reason, where an emulator answers for it")


def pytest_runtest_setup(item):
    if item.get_closest_marker("fd_exec") is not None:
        why = fd_exec_unavailable()
        if why is not None:
            pytest.skip(why)
    if item.get_closest_marker("proc_self_exe") is not None:
        why = proc_self_exe_emulated()
        if why is not None:
            pytest.skip(why)


def run_python(code: str, *, python: str = PYTHON, env: dict | None = None, cwd=None,
               args: tuple[str, ...] = (), timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a child interpreter; stdout/stderr captured as text."""
    return subprocess.run(
        [python, "-c", textwrap.dedent(code), *args],
        env=child_env() if env is None else env, cwd=cwd, capture_output=True,
        timeout=timeout, errors="surrogateescape",
    )


def parse_report(stdout: str) -> dict:
    """What tests/progs/report.c printed: argv decoded, the rest as strings."""
    info: dict = {"argv": []}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("argv["):
            info["argv"].append(bytes.fromhex(value))
        elif key.startswith("SigIgn") or key.startswith("SigBlk"):
            continue
        else:
            info[key] = value
    for line in stdout.splitlines():
        if line.startswith(("SigIgn:", "SigBlk:")):
            name, value = line.split(":")
            info[name] = int(value.strip(), 16)
    return info


def parse_xtask(stdout: str) -> dict:
    """What the fixture's xtask printed."""
    info: dict = {"args": []}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if key.startswith("arg["):
            info["args"].append(bytes.fromhex(value))
        elif sep and " " not in key:
            info[key] = value
        elif line.startswith("feature crossval-all="):
            info["feature"] = value
        elif line.startswith("xtask-fixture pid"):
            info["pid"] = int(line.split("=")[1])
    return info


@pytest.fixture(scope="session", autouse=True)
def _outside_the_source_tree(tmp_path_factory):
    """Run the suite (and so every child process) from a scratch directory: a child
    started with `python -c` puts its working directory first on sys.path, and the
    source tree's reexec_native/ (no compiled module) must not shadow the installed one."""
    saved = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(saved)


@pytest.fixture(scope="session")
def report_prog(tmp_path_factory) -> Path:
    """tests/progs/report.c, compiled."""
    out = tmp_path_factory.mktemp("progs") / "report"
    subprocess.run(["gcc", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(TESTS / "progs" / "report.c")], check=True)
    return out


@pytest.fixture(scope="session")
def cargo_target(tmp_path_factory) -> Path:
    """A target dir holding the fixture workspace's xtask, built offline once."""
    if shutil.which("cargo") is None:
        pytest.fail("cargo is required for the fallback tests (install Rust)")
    target = tmp_path_factory.mktemp("cargo-target")
    subprocess.run(["cargo", "build", "--offline", "--quiet", "-p", "xtask", "--features", "crossval-all"],
                   cwd=FIXTURE_WS, env=child_env(CARGO_TARGET_DIR=str(target)), check=True)
    return target


@pytest.fixture
def python_copy(tmp_path) -> Path:
    """A private copy of the interpreter binary, which a test may replace or delete.
    It sits in a venv-shaped folder (bin/prog): in a venv, that folder gets the venv's
    pyvenv.cfg and lib/, so the copy runs in the same venv, with the package under test."""
    (tmp_path / "bin").mkdir()
    copy = tmp_path / "bin" / "prog"
    shutil.copy2(os.path.realpath(sys.executable), copy)
    venv_cfg = Path(sys.prefix) / "pyvenv.cfg"
    if sys.prefix != sys.base_prefix and venv_cfg.exists():
        shutil.copy2(venv_cfg, tmp_path / "pyvenv.cfg")
        (tmp_path / "lib").symlink_to(Path(sys.prefix) / "lib")
    return copy
