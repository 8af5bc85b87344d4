"""listen_fds / pass_fds across the exec, and listen_sockets() on the receiving side.

Each exec runs in a child interpreter that re-executes into another interpreter
(RECEIVER), which prints what it was handed as one JSON line."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap

import pytest
from conftest import child_env, run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="descriptors by number are POSIX")

# The new program: what it got, before and after listen_sockets().
RECEIVER = textwrap.dedent("""
    import json, os, socket, sys
    def table():
        out = {}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                try:
                    out[fd] = [os.readlink(f"/proc/self/fd/{fd}"), os.get_inheritable(fd)]
                except OSError:
                    pass
        return out
    before = {"pid": os.getpid(), "env": {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")},
              "fds": table()}
    import reexec_native
    if os.environ.get("RECEIVER_RAW"):
        got = reexec_native.listen_fds()
        socks = []
    else:
        socks = reexec_native.listen_sockets()
        got = [(s.fileno(), None) for s in socks]
    info = []
    for s in socks:
        item = {"fd": s.fileno(), "family": s.family.name, "type": s.type.name,
                "name": s.getsockname() if s.family == socket.AF_INET else str(s.getsockname())}
        if s.type == socket.SOCK_STREAM and s.family == socket.AF_INET:
            s.settimeout(5)
            conn, _ = s.accept()  # the connection made before the exec, still in the backlog
            item["pending"] = conn.recv(100).decode()
            conn.close()
        info.append(item)
    after = {"env": {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}, "fds": table(),
             "got": got, "sockets": info}
    print(json.dumps({"before": before, "after": after}))
""")


def receiver_argv() -> str:
    return f"[sys.executable, '-c', {RECEIVER!r}]"


def run_sender(body: str, **env: str) -> tuple[dict, str]:
    result = run_python(f"""
        import os, socket, sys, json
        from reexec_native import reexec
        {textwrap.indent(textwrap.dedent(body), '        ').strip()}
    """, env=child_env(**env))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout + result.stderr
    return json.loads(lines[-1]), result.stdout + result.stderr


def test_listen_fds_arrive_at_3_4_with_the_protocol_variables():
    """Two sockets, given out of order and from numbers that are not 3 and 4, arrive at
    3 and 4 in the order given, inheritable there, with LISTEN_FDS/PID/FDNAMES; the
    TCP socket's backlog survives (a connection made before the exec is accepted
    after it); other descriptors, inheritable or not, do not reach the new program."""
    data, out = run_sender(f"""
        junk = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]   # take 3, 4, 5
        stray = os.open(os.devnull, os.O_RDONLY); os.set_inheritable(stray, True)
        tcp = socket.create_server(("127.0.0.1", 0))
        udp = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        client = socket.create_connection(tcp.getsockname()); client.sendall(b"hello-before-exec")
        print("sender pid=%d tcp=%d udp=%d port=%d" % (os.getpid(), tcp.fileno(), udp.fileno(),
              tcp.getsockname()[1]), flush=True)
        reexec({receiver_argv()}, executable=sys.executable, fallback=None,
               listen_fds=[tcp, udp.fileno()], listen_fdnames=["http", "ctl"])
    """)
    sender = dict(part.split("=") for part in out.splitlines()[0].split()[1:])
    before, after = data["before"], data["after"]
    assert before["pid"] == int(sender["pid"])
    before["env"].pop("LISTEN_PIDFDID", None)  # its value: tests/test_upgrade_pidfdid.py
    assert before["env"] == {"LISTEN_FDS": "2", "LISTEN_PID": sender["pid"], "LISTEN_FDNAMES": "http:ctl"}
    fds = {int(k): v for k, v in before["fds"].items()}
    assert fds[3][0].startswith("socket:") and fds[3][1] is True
    assert fds[4][0].startswith("socket:") and fds[4][1] is True
    # Nothing else above 2 was inherited: the stray inheritable fd was marked close-on-exec.
    assert [fd for fd, (_, inheritable) in fds.items() if inheritable] == [3, 4], fds
    assert after["env"] == {}
    assert after["fds"]["3"][1] is False and after["fds"]["4"][1] is False  # close-on-exec now
    tcp, udp = after["sockets"]
    assert (tcp["fd"], tcp["family"], tcp["type"]) == (3, "AF_INET", "SOCK_STREAM")
    assert tcp["name"] == ["127.0.0.1", int(sender["port"])]
    assert tcp["pending"] == "hello-before-exec"
    assert (udp["fd"], udp["family"], udp["type"]) == (4, "AF_UNIX", "SOCK_DGRAM")
    assert "[reexec] Descriptors: listen fds" in out


def test_a_socket_already_at_3_is_passed_again():
    """The upgrade loop: a program that received its socket at 3 passes it on at 3."""
    data, _ = run_sender(f"""
        for fd in range(3, 10):
            try: os.close(fd)
            except OSError: pass
        tcp = socket.create_server(("127.0.0.1", 0))
        assert tcp.fileno() == 3, tcp.fileno()
        reexec({receiver_argv()}, executable=sys.executable, fallback=None, listen_fds=[3])
    """, RECEIVER_RAW="1")
    assert data["before"]["env"]["LISTEN_FDS"] == "1"
    assert data["before"]["fds"]["3"][1] is True
    assert data["after"]["got"] == [[3, "unknown"]]


def test_failed_exec_restores_numbers_files_and_flags(tmp_path):
    """The exec fails after the descriptors were placed (ENOEXEC: a file that is not a
    program): the table is as it was, numbers, files and close-on-exec flags, and the
    old process carries on."""
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"\x00\x01not a program")
    bogus.chmod(0o755)
    result = run_python(f"""
        import os, socket, errno
        from reexec_native import reexec, ReexecError
        for fd in range(3, 12):
            try: os.close(fd)
            except OSError: pass
        a = os.open({str(tmp_path)!r}, os.O_RDONLY)           # 3, close-on-exec
        b = os.open(os.devnull, os.O_RDONLY); os.set_inheritable(b, True)   # 4, inheritable
        sock = socket.create_server(("127.0.0.1", 0))          # 5
        keep = os.open(os.devnull, os.O_WRONLY)                # 6, close-on-exec, passed
        stray = os.open(os.devnull, os.O_RDONLY); os.set_inheritable(stray, True)  # 7
        def table():
            out = {{}}
            for fd in range(3, 40):
                try:
                    out[fd] = (os.fstat(fd).st_ino, os.get_inheritable(fd))
                except OSError:
                    pass
            return out
        os.environ["LISTEN_FDS"] = "9"
        before = table()
        try:
            reexec(["bogus"], executable={str(bogus)!r}, fallback=None, retry_budget=0,
                   listen_fds=[sock, a, b], pass_fds=[keep])
        except ReexecError as exc:
            print("error", exc.exec_error.errno == errno.ENOEXEC, exc.exec_error.tier)
        after = table()
        print("same", before == after, before, after)
        print("env", os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"))
        print("sock works", socket.create_connection(sock.getsockname()) is not None)
    """)
    assert result.returncode == 0, result.stderr
    assert "error True execveat" in result.stdout, result.stdout + result.stderr
    assert "same True" in result.stdout, result.stdout
    assert "env 9 None" in result.stdout
    assert "sock works True" in result.stdout


def test_pass_fds_keep_their_numbers_and_only_they_survive():
    data, _ = run_sender(f"""
        keep = os.open(os.devnull, os.O_WRONLY)               # close-on-exec (PEP 446)
        other = os.open(os.devnull, os.O_RDONLY); os.set_inheritable(other, True)
        os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())  # stale
        print("keep=%d other=%d" % (keep, other), flush=True)
        reexec({receiver_argv()}, executable=sys.executable, fallback=None, pass_fds=[keep])
    """, RECEIVER_RAW="1")
    fds = data["before"]["fds"]
    assert [(v[0], v[1]) for v in fds.values() if v[1]] == [("/dev/null", True)]
    assert data["before"]["env"] == {}  # stale LISTEN_* variables were dropped


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"listen_fds": [1]}, ValueError, "0-2"),
    ({"listen_fds": [0]}, ValueError, "0-2"),
    ({"listen_fds": ["CLOSED"]}, ValueError, "not open"),
    ({"listen_fds": ["SOCK", "SOCK"]}, ValueError, "again"),
    ({"listen_fds": ["CLOSED_SOCKET"]}, ValueError, "closed"),
    ({"listen_fds": [3.0]}, TypeError, "descriptor"),
    ({"listen_fds": [True]}, TypeError, "bool"),
    ({"listen_fds": "3"}, TypeError, "list"),
    ({"listen_fds": ["SOCK"], "listen_fdnames": ["a", "b"]}, ValueError, "one per"),
    ({"listen_fds": ["SOCK"], "listen_fdnames": ["a:b"]}, ValueError, "':'"),
    ({"listen_fds": ["SOCK"], "listen_fdnames": [""]}, ValueError, "1-255"),
    ({"listen_fdnames": ["a"]}, ValueError, "without listen_fds"),
    ({"listen_fds": ["SOCK"], "pass_fds": [3]}, ValueError, "where listen_fds go"),
    ({"pass_fds": [2]}, ValueError, "0-2"),
    ({"listen_fds": ["SOCK"], "fallback": "CUSTOM"}, TypeError, "custom"),
    ({"verify": "--version"}, TypeError, "list"),
    ({"verify": ["--version"], "verify_timeout": 0}, ValueError, "> 0"),
])
def test_bad_descriptor_input_is_refused_before_anything_runs(kwargs, exc, match, tmp_path):
    marker = tmp_path / "ran"
    sock = socket.socket()
    closed = socket.socket()
    closed.close()
    spare = os.open(os.devnull, os.O_RDONLY)
    os.close(spare)  # a number that is not open now

    class Custom:
        def run(self, argv, env):
            marker.touch()

    subst = {"SOCK": sock, "CLOSED": spare, "CLOSED_SOCKET": closed}

    def sub(value):
        return [subst.get(v, v) if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    args = {k: sub(v) for k, v in kwargs.items()}
    if args.get("fallback") == "CUSTOM":
        args["fallback"] = Custom()
    try:
        with pytest.raises(exc, match=match):
            reexec_native_reexec(["x"], executable=f"/bin/sh -c 'touch {marker}'",
                                 **{"fallback": None, **args})
    finally:
        sock.close()
    assert not marker.exists()


def reexec_native_reexec(*args, **kwargs):
    from reexec_native import reexec
    reexec(*args, **kwargs)


def test_too_many_descriptors_for_the_limit_is_refused():
    result = run_python("""
        import os, resource, socket
        from reexec_native import reexec
        import reexec_native._handover  # before the limit drops
        socks = [socket.socket() for _ in range(40)]
        resource.setrlimit(resource.RLIMIT_NOFILE, (30, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        try:
            reexec(["x"], executable="/bin/true", fallback=None, listen_fds=socks)
        except ValueError as exc:
            print("refused:", exc)
    """)
    assert "refused: too many descriptors" in result.stdout, result.stdout + result.stderr


def test_listen_sockets_ignores_variables_meant_for_another_pid():
    result = run_python("""
        import os, reexec_native
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getppid()), LISTEN_FDNAMES="x")
        print(reexec_native.listen_sockets(), sorted(k for k in os.environ if k.startswith("LISTEN_")))
    """)
    assert result.stdout.strip() == "[] []", result.stdout + result.stderr


def test_listen_sockets_refuses_a_non_socket_and_leaves_it_for_listen_fds():
    result = run_python("""
        import os, reexec_native
        for fd in range(3, 8):
            try: os.close(fd)
            except OSError: pass
        r, w = os.pipe()
        assert r == 3
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
        try:
            reexec_native.listen_sockets()
        except OSError as exc:
            print("refused", exc.errno, "descriptor 3" in str(exc))
        print(reexec_native.listen_fds(), os.get_inheritable(3), "LISTEN_FDS" in os.environ)
    """)
    assert "refused 88 True" in result.stdout, result.stdout + result.stderr
    assert "[(3, 'unknown')] False False" in result.stdout
