"""listen_fds through the cargo fallbacks, for real on the fixture workspace.

cargo run: the fallback forks a child, places the descriptors and sets LISTEN_PID to
the child's PID between fork and exec. cargo (and the rustup proxy in front of it)
execs the program in its own process on Unix, so that PID is the program's too:
the fixture checks it. build-exec: the built program replaces the caller, so
LISTEN_PID is the caller's."""

from __future__ import annotations

import sys

import pytest
from _cli_helpers import run_code
from conftest import FIXTURE_WS, child_env, parse_xtask

pytestmark = [pytest.mark.cargo,
              pytest.mark.skipif(sys.platform != "linux", reason="the fixture reads /proc/self/fd")]

SENDER = """
    import os, socket, sys
    from reexec_native import reexec, CargoRun
    sock = socket.create_server(("127.0.0.1", 0))
    for _ in range(3):
        os.open(os.devnull, os.O_RDONLY)  # the socket is not at 3 by chance
    print("parent pid=%d sock=%d" % (os.getpid(), sock.fileno()), flush=True)
    reexec(["xtask", "a"], executable="/nonexistent/xtask", retry_budget=0,
           fallback=CargoRun(mode=MODE), listen_fds=[sock], listen_fdnames=["web"])
"""


def run_sender(mode, cargo_target):
    return run_code(SENDER.replace("MODE", repr(mode)), cwd=FIXTURE_WS,
                    env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, CARGO_NET_OFFLINE="true"))


def test_cargo_run_gives_the_program_its_own_pid_as_listen_pid(cargo_target):
    result = run_sender("run", cargo_target)
    assert result.returncode == 0, result.stderr
    info = parse_xtask(result.stdout)
    parent_pid = int(result.stdout.split("parent pid=")[1].split()[0])
    assert info["pid"] != parent_pid  # a child ran it
    assert info["listen_pid"] == str(info["pid"])  # ... and LISTEN_PID names that program
    assert info["listen_fds"] == "1"
    assert info["listen_fdnames"] == "web"
    assert info["fd3"].startswith("socket:")
    assert "[reexec] Fallback child exited with code: 0" in result.stderr


def test_build_exec_gives_the_callers_pid(cargo_target):
    result = run_sender("build-exec", cargo_target)
    assert result.returncode == 0, result.stderr
    info = parse_xtask(result.stdout)
    parent_pid = int(result.stdout.split("parent pid=")[1].split()[0])
    assert info["pid"] == parent_pid
    assert info["listen_pid"] == str(parent_pid)
    assert info["listen_fds"] == "1"
    assert info["fd3"].startswith("socket:")
