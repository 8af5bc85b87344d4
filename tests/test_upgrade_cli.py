"""`reexec-native exec --listen-fd N --fdname A --pass-fd N --verify ARGS`, for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from _cli_helpers import NEUTRAL_CWD, console_script, run
from conftest import child_env

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="descriptors by number, /proc")

SHOW = ("echo fds=$LISTEN_FDS names=$LISTEN_FDNAMES; test \"$LISTEN_PID\" = $$ && echo pid-ok; "
        "readlink /proc/self/fd/3; test -e /proc/self/fd/$KEEP && echo keep-ok; "
        "test -e /proc/self/fd/$OTHER || echo other-closed")


def test_listen_fd_and_pass_fd_reach_the_program():
    sock = socket.create_server(("127.0.0.1", 0))
    keep = os.open(os.devnull, os.O_RDONLY)
    other = os.open(os.devnull, os.O_RDONLY)
    for fd in (sock.fileno(), keep, other):
        os.set_inheritable(fd, True)
    try:
        result = subprocess.run(
            [console_script(), "exec", "--listen-fd", str(sock.fileno()), "--fdname", "web",
             "--pass-fd", str(keep), "--", "/bin/sh", "-c", SHOW],
            pass_fds=(sock.fileno(), keep, other), capture_output=True, text=True, cwd=NEUTRAL_CWD,
            env=child_env(KEEP=str(keep), OTHER=str(other)), timeout=60)
    finally:
        sock.close()
        os.close(keep)
        os.close(other)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "fds=1 names=web"
    assert "pid-ok" in lines and "keep-ok" in lines and "other-closed" in lines
    assert lines[2].startswith("socket:")


def test_verify_failure_exits_126_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    result = run([console_script(), "exec", "--verify", "-c 'exit 4'", "--", "/bin/sh", "-c",
                  f"touch {marker}"])
    assert result.returncode == 126
    assert "exited with status 4" in result.stderr
    assert not marker.exists()


def test_verify_passes_and_the_option_value_may_look_like_an_option():
    result = run([console_script(), "exec", "-v", "--verify", "--version", "--", "/bin/echo", "ran"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran\n"
    assert "[reexec] Verify: passed" in result.stderr


@pytest.mark.parametrize("options, message", [
    (["--listen-fd", "999"], "not open"),
    (["--listen-fd", "1"], "0-2"),
    (["--fdname", "a"], "--fdname needs --listen-fd"),
])
def test_bad_descriptor_options_are_usage_errors(options, message):
    result = run([console_script(), "exec", *options, "--", "/bin/true"])
    assert result.returncode == 2
    assert message in result.stderr
