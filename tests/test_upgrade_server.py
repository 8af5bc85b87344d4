"""A real server upgraded under load (examples/upgrade_server.py), and hand-overs with
programs nobody here wrote: gunicorn serving on the socket reexec() passed it, and
systemd-socket-activate handing a socket to a server that passes it on with reexec().
All on 127.0.0.1, bounded in requests and time, each server in a child process."""

from __future__ import annotations

import http.client
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import FIXTURE_WS, child_env

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="socket hand-over is tested on Linux")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "upgrade_server.py"
needs_example = pytest.mark.skipif(not EXAMPLE.exists(), reason="needs the source tree's examples/")


def get(port: int, path: str = "/", timeout: float = 10) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


@needs_example
@pytest.mark.parametrize("verify", [False, True])
def test_server_upgrades_three_times_under_load_without_a_failed_request(verify):
    args = [sys.executable, str(EXAMPLE), "--upgrades", "3", "--every", "0.3", "--requests", "100000",
            "--seconds", "30", "--clients", "3"] + (["--verify"] if verify else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=child_env())
    figures = json.loads(result.stdout)
    assert figures["failed"] == 0, figures["failures"]
    assert figures["generations_seen"] == [0, 1, 2, 3]
    assert len(figures["pids_seen"]) == 1 and figures["pids_seen"] == figures["server_pids"]
    assert figures["server_generations_started"] == 4
    assert figures["requests_sent"] > 0 and figures["server_exit"] == 0
    assert result.returncode == 0


@needs_example
@pytest.mark.cargo
def test_last_upgrade_through_build_exec_keeps_the_socket_and_the_pid(cargo_target):
    """The third upgrade's binary is gone: CargoRun(mode="build-exec") rebuilds the
    fixture's xtask, which replaces the Python server (same PID) and serves the socket."""
    args = [sys.executable, str(EXAMPLE), "--upgrades", "3", "--every", "0.3", "--requests", "100000",
            "--seconds", "60", "--clients", "3", "--build-exec", str(FIXTURE_WS)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=180,
                            env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, CARGO_NET_OFFLINE="true"))
    figures = json.loads(result.stdout)
    assert figures["failed"] == 0, figures["failures"]
    assert figures["generations_seen"] == [0, 1, 2, 3]
    assert len(figures["pids_seen"]) == 1 and figures["pids_seen"] == figures["server_pids"]
    assert figures["server_exit"] == 0 and result.returncode == 0


@pytest.mark.skipif(importlib.util.find_spec("gunicorn") is None, reason="gunicorn (the test extra) is not installed")
def test_gunicorn_serves_on_the_socket_reexec_handed_it(tmp_path):
    """A connection made before the exec is answered by gunicorn after it: gunicorn's
    master is the sender's process (same PID: it accepted LISTEN_PID) and serves the
    very socket, backlog included."""
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import os
        def app(environ, start_response):
            body = ("gunicorn master=%d" % os.getppid()).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
    """))
    sender = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, socket, sys
        from reexec_native import reexec
        sock = socket.create_server(("127.0.0.1", 0))
        print("pid=%d port=%d" % (os.getpid(), sock.getsockname()[1]), flush=True)
        sys.stdin.readline()  # the test connected: its request waits in the backlog
        reexec([sys.executable, "-m", "gunicorn", "--workers", "1", "--chdir", {str(tmp_path)!r},
                "--timeout", "20", "app:app"], executable=sys.executable, fallback=None, listen_fds=[sock])
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        first = sender.stdout.readline()
        pid, port = (int(part.split("=")[1]) for part in first.split())
        early = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        early.request("GET", "/")  # before the exec
        sender.stdin.write("go\n")
        sender.stdin.flush()
        assert early.getresponse().read() == f"gunicorn master={pid}".encode()
        early.close()
        assert get(port) == f"gunicorn master={pid}".encode()
    finally:
        sender.send_signal(signal.SIGTERM)  # gunicorn's master: the sender's PID
        _, err = sender.communicate(timeout=30)
    assert "Listening at: systemd" in err or "Listening at" in err, err[-2000:]


@needs_example
@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="systemd-socket-activate (Debian's systemd package) is not installed")
def test_socket_from_systemd_socket_activate_survives_two_upgrades():
    """systemd-socket-activate listens, forks the server on the first connection with
    LISTEN_FDS/LISTEN_PID set for it; the server takes the socket with
    listen_sockets() and passes it on through reexec(listen_fds=...) twice."""
    import socket as socketlib

    with socketlib.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", sys.executable, str(EXAMPLE), "serve",
         "--upgrades", "2", "--every", "0.3", "--max-seconds", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        deadline = time.monotonic() + 20
        answers = []
        while time.monotonic() < deadline:
            try:
                answers.append(get(port, timeout=10))
            except ConnectionRefusedError:
                time.sleep(0.05)  # the activator is not listening yet
                continue
            if answers[-1].startswith(b"gen=2 "):
                break
        gens = {a.split()[0] for a in answers}
        pids = {a.split()[1] for a in answers}
        assert gens == {b"gen=0", b"gen=1", b"gen=2"}, answers[-5:]
        assert len(pids) == 1
        get(port, "/quit")
        out, err = activator.communicate(timeout=30)
    finally:
        if activator.poll() is None:
            activator.kill()
            activator.communicate()
    assert "generation=0" in out and "generation=2" in out, out + err
