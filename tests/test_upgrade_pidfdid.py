"""systemd v258's LISTEN_PIDFDID (the pidfd inode id of the process the descriptors are
for, Linux 6.9+ pidfs) across reexec(listen_fds=...): set for the process that receives
them, never passed on stale, and checked by listen_fds() as sd_listen_fds(3) checks it.

The expected ids are read here without the package: a pidfd from pidfd_open(2) and its
st_ino (on pidfs every process has its own inode; before Linux 6.9 every pidfd shares
one anonymous inode, and there is no id: the variable must then be absent). pidfd_open
is os.pidfd_open, or the system call through ctypes where os has none (PyPy)."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import FIXTURE_WS, child_env, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pidfds are Linux's")


def pidfd_open(pid):
    """os.pidfd_open(pid), or where os has none (PyPy 7.3) the system call itself (434
    on every Linux architecture since 5.3). Its source goes into the child processes
    below, as PIDFD_OPEN."""
    import os

    if hasattr(os, "pidfd_open"):
        return os.pidfd_open(pid)
    import ctypes

    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    fd = syscall(ctypes.c_long(434), ctypes.c_long(pid), ctypes.c_long(0))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


PIDFD_OPEN = f"exec({inspect.getsource(pidfd_open)!r})\n"


def _has_pidfs() -> bool:
    """Two processes' pidfds have different inodes only on pidfs."""
    try:
        own, parent = pidfd_open(os.getpid()), pidfd_open(os.getppid())
    except OSError:
        return False
    try:
        return os.fstat(own).st_ino != os.fstat(parent).st_ino
    finally:
        os.close(own)
        os.close(parent)


PIDFS = _has_pidfs()
STALE = "12345"  # a LISTEN_PIDFDID left by whoever started the sender: no process's id here

# The new program: its PID, its own pidfd inode id (None without pidfs), the LISTEN_*
# variables it was started with, and what listen_fds() then gave it, as one JSON line.
RECEIVER = PIDFD_OPEN + textwrap.dedent("""
    import json, os, reexec_native
    def own_id():
        try:
            fd = pidfd_open(os.getpid())
        except OSError:
            return None
        try:
            return os.fstat(fd).st_ino
        finally:
            os.close(fd)
    env = {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}
    print(json.dumps({"pid": os.getpid(), "own": own_id(), "env": env,
                      "got": reexec_native.listen_fds()}), flush=True)
""")


def report(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, stdout
    return json.loads(lines[-1])


def expect_own_id(data: dict) -> None:
    """LISTEN_PIDFDID names the receiver (pidfs), or is absent (no pidfs), never stale;
    and listen_fds() took the descriptor."""
    if PIDFS:
        assert data["env"].get("LISTEN_PIDFDID") == str(data["own"]), data
    else:
        assert "LISTEN_PIDFDID" not in data["env"], data
    assert data["got"] == [[3, "unknown"]], data


def test_exec_sets_the_programs_own_pidfd_id_over_a_stale_one():
    """Fast path: the new program is this process (same PID, same pidfd inode), so
    LISTEN_PIDFDID is this process's id, replacing the stale one in the environment."""
    result = run_python(f"""
        import os, socket, sys
        from reexec_native import reexec
        os.environ["LISTEN_PIDFDID"] = {STALE!r}
        sock = socket.create_server(("127.0.0.1", 0))
        print("sender pid=%d" % os.getpid(), flush=True)
        reexec([sys.executable, "-c", {RECEIVER!r}], executable=sys.executable, fallback=None,
               listen_fds=[sock])
    """)
    assert result.returncode == 0, result.stderr
    data = report(result.stdout)
    assert data["pid"] == int(result.stdout.split("sender pid=")[1].split()[0])
    expect_own_id(data)


@pytest.mark.cargo
@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo answers the fallback's workspace check")
def test_cargo_run_fallback_gives_the_child_its_own_pidfd_id(tmp_path):
    """Fallback: the program runs in a child (cargo execs it in its own process), so
    LISTEN_PIDFDID must name the child, set between fork and exec as LISTEN_PID is:
    neither the stale value nor the parent's. `cargo` here is a stand-in that runs the
    receiver in its own process, as cargo run does (any other cargo command goes to the
    real cargo)."""
    fake = tmp_path / "cargo"
    fake.write_text(f'#!/bin/sh\nif [ "$1" != run ]; then exec {shutil.which("cargo")} "$@"; fi\n'
                    f'exec {sys.executable} -c "$RECEIVER_CODE"\n')
    fake.chmod(0o755)
    result = run_python(f"""
        import os, socket
        from reexec_native import reexec, CargoRun
        os.environ["LISTEN_PIDFDID"] = {STALE!r}
        sock = socket.create_server(("127.0.0.1", 0))
        print("sender pid=%d" % os.getpid(), flush=True)
        reexec(["xtask"], executable="/nonexistent/xtask", retry_budget=0, fallback=CargoRun(),
               listen_fds=[sock])
    """, cwd=FIXTURE_WS, env=child_env(CARGO=str(fake), RECEIVER_CODE=RECEIVER, CARGO_NET_OFFLINE="true"))
    assert result.returncode == 0, result.stdout + result.stderr
    data = report(result.stdout)
    assert data["pid"] != int(result.stdout.split("sender pid=")[1].split()[0])  # a child ran it
    assert data["env"]["LISTEN_PID"] == str(data["pid"])
    expect_own_id(data)


def test_verify_run_gets_no_listen_variables():
    """The verify child is handed no descriptors: no LISTEN_* at all (a stale
    LISTEN_PIDFDID included); it exits 1 if it sees one, which would be a VerifyError."""
    result = run_python(f"""
        import os, socket, sys
        from reexec_native import reexec
        os.environ["LISTEN_PIDFDID"] = {STALE!r}
        sock = socket.create_server(("127.0.0.1", 0))
        code = "import os, sys; sys.exit(any(k.startswith('LISTEN_') for k in os.environ))"
        reexec([sys.executable, "-c", {RECEIVER!r}], executable=sys.executable, fallback=None,
               listen_fds=[sock], verify=["-c", code])
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verify: passed" in result.stderr
    expect_own_id(report(result.stdout))


def run_listen(pidfdid: str, call: str = "listen_fds") -> subprocess.CompletedProcess:
    """A process handed a pipe at 3 with LISTEN_PID its own and LISTEN_PIDFDID
    `pidfdid` ("own": its own id, "own+1": another); prints what `call` gave and
    which LISTEN_* variables are left."""
    return run_python(f"""
        import os, reexec_native
        for fd in range(3, 10):
            try: os.close(fd)
            except OSError: pass
        r, w = os.pipe()
        assert r == 3
        os.set_inheritable(3, True)  # as passed: listen_fds() marks it close-on-exec if it is ours
        {PIDFD_OPEN.strip()}
        fd = pidfd_open(os.getpid())
        own = os.fstat(fd).st_ino
        os.close(fd)
        text = {pidfdid!r}.replace("own+1", str(own + 1)).replace("own", str(own))
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_PIDFDID=text)
        try:
            got = reexec_native.{call}()
        except ValueError as exc:
            got = "ValueError: " + str(exc)
        print(got, sorted(k for k in os.environ if k.startswith("LISTEN_")), os.get_inheritable(3))
    """)


@pytest.mark.skipif(not PIDFS, reason="no pidfs here (Linux < 6.9): LISTEN_PIDFDID cannot be checked")
def test_listen_fds_refuses_another_processs_pidfd_id():
    """LISTEN_PID is ours but LISTEN_PIDFDID is not (a recycled PID): nothing is taken
    (the descriptor stays as it was), the variables are unset, as sd_listen_fds does."""
    result = run_listen("own+1")
    assert result.stdout.strip() == "[] [] True", result.stdout + result.stderr
    result = run_listen("own")
    assert result.stdout.strip() == "[(3, 'unknown')] [] False", result.stdout + result.stderr


@pytest.mark.skipif(not PIDFS, reason="no pidfs here (Linux < 6.9): LISTEN_PIDFDID cannot be checked")
def test_listen_sockets_with_another_processs_id_is_not_ours_to_refuse():
    """The pipe at 3 is not a socket, but the variables are not for us: no ENOTSOCK,
    just nothing."""
    result = run_listen("own+1", "listen_sockets")
    assert result.stdout.strip() == "[] [] True", result.stdout + result.stderr


def test_malformed_pidfdid_is_a_value_error():
    result = run_listen("12x")
    assert result.stdout.strip() == "ValueError: malformed LISTEN_PIDFDID='12x' [] True", \
        result.stdout + result.stderr


# Under systemd-socket-activate: stage 1 is what it starts; it re-execs into stage 2 with
# the socket, which answers the first connection with what both stages saw.
STAGE1 = PIDFD_OPEN + textwrap.dedent("""
    import json, os, sys, reexec_native
    fd = pidfd_open(os.getpid()); own = os.fstat(fd).st_ino; os.close(fd)
    env = {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}
    socks = reexec_native.listen_sockets()
    os.environ["STAGE1"] = json.dumps({"env": env, "own": own, "got": len(socks)})
    reexec_native.reexec([sys.executable, "-c", os.environ["STAGE2_CODE"]], executable=sys.executable,
                         fallback=None, listen_fds=socks)
""")
STAGE2 = PIDFD_OPEN + textwrap.dedent("""
    import json, os, reexec_native
    fd = pidfd_open(os.getpid()); own = os.fstat(fd).st_ino; os.close(fd)
    env = {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}
    socks = reexec_native.listen_sockets()
    conn, _ = socks[0].accept()
    conn.sendall(json.dumps({"stage1": json.loads(os.environ["STAGE1"]), "env": env, "own": own,
                             "got": len(socks)}).encode())
    conn.close()
""")


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="systemd-socket-activate (Debian's systemd package) is not installed")
@pytest.mark.skipif(not PIDFS, reason="no pidfs here (Linux < 6.9)")
def test_systemd_socket_activate_then_reexec():
    """What systemd-socket-activate hands over is taken (with LISTEN_PIDFDID when its
    systemd is v258 or later, which sets it; Debian 12's v252 does not, so there only
    LISTEN_PID is checked), then passed on by reexec() with this process's id, which
    the exec keeps: stage 2 has stage 1's pidfd inode."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-E", "STAGE2_CODE", sys.executable, "-c", STAGE1],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(STAGE2_CODE=STAGE2))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                    answer = b"".join(iter(lambda: conn.recv(65536), b""))
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "systemd-socket-activate did not listen"
                time.sleep(0.05)
        activator.wait(timeout=30)
    finally:
        if activator.poll() is None:
            activator.kill()
        _, err = activator.communicate()
    assert answer, err
    data = json.loads(answer)
    print(activator.args[0], "gave stage 1:", data["stage1"]["env"])  # v252: no LISTEN_PIDFDID
    stage1 = data["stage1"]
    assert stage1["got"] == 1, data
    if "LISTEN_PIDFDID" in stage1["env"]:  # systemd v258+
        assert stage1["env"]["LISTEN_PIDFDID"] == str(stage1["own"]), data
    assert data["own"] == stage1["own"]  # one process across the exec
    assert data["env"]["LISTEN_PIDFDID"] == str(data["own"]), data
    assert data["got"] == 1
