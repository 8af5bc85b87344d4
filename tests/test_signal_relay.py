"""The cargo fallback's waiting parent passes every signal that would end or stop it
on to the child (issue 12 item 7), for real: a fake cargo (a shell script) traps the
signal, prints what it got and exits 42; the signal is sent to the parent only; the
parent must survive it and leave with the child's status. Before the fix only
SIGTERM/SIGHUP were forwarded: the others killed the parent and orphaned the child
(SIGCONT never reached it)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import PYTHON, child_env
from test_hardening_signals import FALLBACK, fake_cargo, start_parent, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

NAMES = ["SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM", "SIGTERM", "SIGHUP", "SIGCONT", "SIGVTALRM",
         "SIGPROF", "SIGXCPU", "SIGPWR", "SIGIO"]
if hasattr(signal, "SIGRTMIN"):
    NAMES.append("SIGRTMIN+3")


def _number(name: str) -> int:
    if name.startswith("SIGRTMIN+"):
        return signal.SIGRTMIN + int(name.split("+")[1])
    return int(getattr(signal, name))


def child_that_traps(tmp_path, traps: dict[int, str]):
    """A fake cargo: `trap` per signal number, then a bounded wait (10 s, exit 9)."""
    marker = tmp_path / "started"
    lines = [f"trap '{action}' {num}" for num, action in traps.items()]
    body = "\n".join(lines) + f"\ntouch {marker}\ni=0\nwhile [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\nexit 9"
    return fake_cargo(tmp_path, body), marker


@pytest.mark.parametrize("name", NAMES)
def test_a_signal_sent_to_the_waiting_parent_reaches_the_child(name, tmp_path):
    num = _number(name)
    cargo, marker = child_that_traps(tmp_path, {num: f"echo child-got-{num}; exit 42"})
    # At its default in the parent: one that the parent inherits ignored is rightly left
    # alone by the relay (a background job of a non-interactive shell, e.g. `pytest &` in a
    # script, inherits SIGQUIT and SIGINT ignored).
    proc = start_parent(tmp_path, FALLBACK, cargo, stdout=subprocess.PIPE,
                        preexec_fn=lambda: signal.signal(num, signal.SIG_DFL))
    wait_for(marker)
    os.kill(proc.pid, num)  # the parent only, as a supervisor or `kill PID` would
    assert proc.wait(timeout=30) == 42, proc.stderr.read()
    assert proc.stdout.read() == f"child-got-{num}\n"
    assert "[reexec] Fallback child exited with code: 42" in proc.stderr.read()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/stat")
@pytest.mark.parametrize("name", ["SIGTSTP", "SIGTTIN", "SIGTTOU"])
def test_a_stop_signal_stops_the_child_and_the_parent_and_sigcont_resumes_both(name, tmp_path):
    """Job control: the child gets the stop signal (here it traps it and says so), the
    parent stops itself (state T) instead of waiting on as if nothing happened; the
    SIGCONT that resumes the parent reaches the child, which exits 42."""
    num = _number(name)
    cargo, marker = child_that_traps(tmp_path, {num: f"echo child-got-{num}",
                                                int(signal.SIGCONT): "echo child-got-CONT; exit 42"})
    proc = start_parent(tmp_path, FALLBACK, cargo, stdout=subprocess.PIPE)
    wait_for(marker)
    os.kill(proc.pid, num)
    deadline = time.monotonic() + 20
    while _state(proc.pid) != "T":
        assert time.monotonic() < deadline, "the parent did not stop"
        time.sleep(0.02)
    # The child's trap runs when its current `sleep` ends, and a shell runs pending traps by
    # number (SIGCONT first): wait for its line before resuming (a fixed 0.3 s was too short
    # under load), reading the pipe's bytes as they come.
    seen = b""
    while not seen.endswith(b"\n"):
        assert time.monotonic() < deadline, f"the child did not report {name}: {seen!r}"
        if select.select([proc.stdout], [], [], 0.1)[0]:
            seen += os.read(proc.stdout.fileno(), 100)
    os.kill(proc.pid, signal.SIGCONT)
    assert proc.wait(timeout=30) == 42, proc.stderr.read()
    assert seen.decode() + proc.stdout.read() == f"child-got-{num}\nchild-got-CONT\n"


def test_sigwinch_is_left_alone(tmp_path):
    """Default ignore: it cannot end the parent, and is not forwarded (a terminal's
    resize reaches the child's process group itself)."""
    winch = int(signal.SIGWINCH)
    cargo, marker = child_that_traps(tmp_path, {winch: "echo child-got-WINCH; exit 42"})
    proc = start_parent(tmp_path, FALLBACK, cargo, stdout=subprocess.PIPE)
    wait_for(marker)
    os.kill(proc.pid, winch)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert "child-got-WINCH" not in proc.stdout.read()


@pytest.mark.parametrize("os_pidfd", ["as-is", "removed"])
def test_no_signal_reaches_a_reaped_child_pid(tmp_path, os_pidfd):
    """The relay sends through a pidfd: after the child was reaped, a late signal
    (here: from the parent's own code, after the wait) goes nowhere, even if the PID
    were reused; no error either. Also where os has no pidfd_open and signal no
    pidfd_send_signal (PyPy: the relay used os.kill there; removed here on CPython):
    the C core's are used."""
    code = """
        import os, signal, subprocess
        if REMOVE:
            for module, name in ((os, "pidfd_open"), (signal, "pidfd_send_signal")):
                if hasattr(module, name):
                    delattr(module, name)
        from reexec_native._child import SignalRelay
        with SignalRelay() as relay:
            child = subprocess.Popen(["true"])
            relay.started(child.pid)
            child.wait()
            relay.reaped()
            print("pidfd" if relay._pidfd is not None else "no-pidfd", flush=True)
            relay._forward(signal.SIGUSR1, None)   # as if SIGUSR1 arrived just now
        print("parent-alive", flush=True)
    """
    code = textwrap.dedent(code).replace("REMOVE", str(os_pidfd == "removed"))
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                            env=child_env(), cwd=tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "parent-alive"
    if sys.platform.startswith("linux"):
        assert result.stdout.splitlines()[0] == "pidfd"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_signal_inherited_ignored_stays_ignored_where_getsignal_does_not_know(tmp_path):
    """PyPy's signal.getsignal answers SIG_DFL for a signal the process inherited
    ignored (CPython's reads the disposition at start-up): the relay caught SIGUSR2
    there, and the fallback child lost the caller's `trap '' USR2` (the pypy leg's
    test_cli_fallback_child_keeps_the_callers_mask_and_ignored_signals). The relay asks
    the kernel now; PyPy's answer is emulated here with a getsignal that gives it."""
    code = """
        import signal
        real_getsignal = signal.getsignal
        signal.getsignal = lambda s: signal.SIG_DFL if s == signal.SIGUSR2 else real_getsignal(s)
        from reexec_native._child import SignalRelay
        def ignored():
            with open("/proc/self/status") as f:
                line = next(line for line in f if line.startswith("SigIgn:"))
            return bool(int(line.split()[1], 16) & 1 << (signal.SIGUSR2 - 1))
        print("before", ignored())
        with SignalRelay():
            print("relaying", ignored())
        print("after", ignored())
    """
    result = subprocess.run([PYTHON, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=child_env(), cwd=tmp_path, timeout=30,
                            preexec_fn=lambda: signal.signal(signal.SIGUSR2, signal.SIG_IGN))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["before", "True", "relaying", "True", "after", "True"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/stat")
def test_a_stop_signal_before_the_child_is_known_stops_the_parent_only_after_forwarding(tmp_path):
    """A stop signal that lands between the spawn and started(pid) (the relay does not know
    the child yet): before the fix the parent stopped at once and the SIGCONT that resumed
    it reached the child right behind the stop signal, so the child never saw the stop
    (SIGTTOU under load: 'child-got-CONT' alone). Now the parent stops in started(), after
    the child got the stop signal."""
    out = tmp_path / "child.out"
    code = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        from reexec_native._child import SignalRelay
        child = subprocess.Popen(["sh", "-c", "trap 'echo got-TTOU >> {out}' TTOU; "
                                  "trap 'echo got-CONT >> {out}; exit 42' CONT; touch {out}.ready; "
                                  "i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 9"])
        while not os.path.exists("{out}.ready"):  # its traps are set
            time.sleep(0.01)
        with SignalRelay() as relay:
            os.kill(os.getpid(), signal.SIGTTOU)  # its handler runs here: no child known yet
            print("before-started", flush=True)
            relay.started(child.pid)
            print("resumed", flush=True)
            sys.exit(child.wait())
    """)
    proc = subprocess.Popen([PYTHON, "-c", code], env=child_env(), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while _state(proc.pid) != "T":
        assert time.monotonic() < deadline, "the parent did not stop"
        time.sleep(0.02)
    if not select.select([proc.stdout], [], [], 2)[0]:
        proc.kill()
        proc.wait()
        pytest.fail("the parent stopped before the relay knew the child (before started())")
    assert proc.stdout.readline() == "before-started\n"  # stopped in started(), not before
    while "got-TTOU" not in (out.read_text() if out.exists() else ""):
        assert time.monotonic() < deadline, "the child did not get SIGTTOU"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGCONT)
    assert proc.wait(timeout=30) == 42
    assert proc.stdout.read() == "resumed\n"
    assert out.read_text() == "got-TTOU\ngot-CONT\n"
