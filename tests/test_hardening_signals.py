"""Signals and threads around the last moment of a process, for real:

- Ctrl-C (SIGINT to the whole process group) during the cargo fallback reaches the
  child; the parent leaves the way the child did, with no traceback;
- the exit status the grandparent sees is the child's, signal deaths included;
- signal state: SIGPIPE/SIGXFSZ (which Python ignores) go back to default, the mask
  is cleared, a handler becomes default (kernel rule); a signal the *caller* ignored
  on purpose (SIGHUP under nohup) stays ignored, on the fast path and the fallback alike;
- reexec() from a non-main thread, with other threads busy and masks set.

Policy (docs/hardening.md): only the dispositions Python itself changed are reset;
everything else the caller chose is kept, as a plain exec keeps it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from _env import FAKE_CARGO_METADATA, fake_workspace
from conftest import child_env, parse_report
from test_hardening_properties import PYTHON, run_python

SIGBIT = lambda sig: 1 << (sig - 1)  # noqa: E731  (bit in /proc/PID/status masks)


def fake_cargo(tmp_path, body: str):
    script = tmp_path / "cargo"
    script.write_text("#!/bin/sh\n" + FAKE_CARGO_METADATA + "\n" + body + "\n")
    script.chmod(0o755)
    fake_workspace(tmp_path)  # the tests run their parent in tmp_path
    return script


FALLBACK = """
import os, sys
from reexec_native import reexec, CargoRun
reexec(["xtask", "a"], executable="/nonexistent/xtask", retry_budget=0)
"""


def start_parent(tmp_path, code: str, cargo, **popen):
    return subprocess.Popen([PYTHON, "-c", textwrap.dedent(code)], cwd=tmp_path,
                            env=child_env(CARGO=str(cargo)), stderr=subprocess.PIPE, text=True, **popen)


def _default_dispositions() -> None:
    """In the parent under test: the signals the tests send at their default. A parent
    started ignoring one (SIGHUP under nohup; SIGINT and SIGQUIT in a background job of
    a non-interactive shell) rightly hands that on to the fallback's child."""
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def wait_for(path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


# ---- Ctrl-C during the fallback ------------------------------------------------------

def test_ctrl_c_reaches_the_fallback_child_and_the_parent_dies_the_same_way(tmp_path):
    marker = tmp_path / "started"
    cargo = fake_cargo(tmp_path, f"touch {marker}\nexec sleep 30")
    proc = start_parent(tmp_path, FALLBACK, cargo, start_new_session=True, preexec_fn=_default_dispositions)
    wait_for(marker)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    assert proc.wait(timeout=30) == -signal.SIGINT
    err = proc.stderr.read()
    assert "[reexec] Fallback child killed by signal 2 (SIGINT)" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_ctrl_c_handled_by_the_child_gives_its_exit_code(tmp_path):
    """A child that catches SIGINT and exits 130 (as cargo-run programs do): the
    parent survives the same SIGINT and exits 130, quietly."""
    marker = tmp_path / "started"
    cargo = fake_cargo(tmp_path, f"trap 'echo child-caught-int; exit 130' INT\ntouch {marker}\n"
                                 "while :; do sleep 0.05; done")
    proc = start_parent(tmp_path, FALLBACK, cargo, start_new_session=True, stdout=subprocess.PIPE,
                        preexec_fn=_default_dispositions)
    wait_for(marker)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert "child-caught-int" in proc.stdout.read()
    err = proc.stderr.read()
    assert "[reexec] Fallback child exited with code: 130" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


# ---- exit status as the grandparent sees it ------------------------------------------

@pytest.mark.parametrize("how, expected", [
    ("exit 2", 2), ("exit 126", 126), ("exit 127", 127), ("exit 128", 128), ("exit 130", 130),
    ("kill -s TERM $$", -signal.SIGTERM), ("kill -s KILL $$", -signal.SIGKILL),
    ("kill -s SEGV $$", -signal.SIGSEGV), ("kill -s USR1 $$", -signal.SIGUSR1),
    ("kill -s HUP $$", -signal.SIGHUP), ("kill -s PIPE $$", -signal.SIGPIPE),
])
def test_exit_status_seen_by_the_grandparent_is_the_childs(how, expected, tmp_path):
    cargo = fake_cargo(tmp_path, "ulimit -c 0\n" + how)
    # The signals at their default in the parent: one it inherits ignored (SIGHUP under
    # nohup) the child rightly inherits ignored too, as a plain exec would keep it.
    proc = start_parent(tmp_path, FALLBACK, cargo, preexec_fn=_default_dispositions)
    assert proc.wait(timeout=30) == expected
    err = proc.stderr.read()
    assert "Traceback" not in err
    # One level further up: a shell sees the conventional 128+N for a signal death.
    shell = subprocess.run(["sh", "-c", '"$@"; echo "status=$?"', "sh", PYTHON, "-c", textwrap.dedent(FALLBACK)],
                           cwd=tmp_path, env=child_env(CARGO=str(cargo)), capture_output=True, text=True,
                           timeout=30, preexec_fn=_default_dispositions)
    assert f"status={expected if expected >= 0 else 128 - expected}" in shell.stdout


# ---- signal dispositions and masks across the hand-over ------------------------------

SIGNAL_SETUP = """
import signal
from reexec_native import reexec, CargoRun
signal.signal(signal.SIGHUP, signal.SIG_IGN)           # the caller's choice (nohup)
signal.signal(signal.SIGUSR1, lambda *a: None)         # a handler: default after exec
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGTERM})
assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's own
"""


@pytest.mark.parametrize("path", ["fast", "fallback"])
def test_signal_state_of_the_new_program(path, report_prog, tmp_path):
    """Same signal state on both paths: SIGPIPE/SIGXFSZ default, SIGUSR1's handler
    gone, SIGHUP still ignored, no blocked signals (the fast path's C core clears the
    mask; the fallback spawns its child with an empty one)."""
    if path == "fast":
        call = f"reexec(['report'], executable={str(report_prog)!r}, fallback=None)"
    else:
        call = (f"reexec(['report'], executable='/nonexistent/x', retry_budget=0, "
                f"fallback=CargoRun(cargo={str(report_prog)!r}, check_workspace=False))")
    result = run_python(SIGNAL_SETUP + call, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    ignored, blocked = report["SigIgn"], report["SigBlk"]
    assert ignored & SIGBIT(signal.SIGPIPE) == 0
    assert ignored & SIGBIT(signal.SIGXFSZ) == 0
    assert ignored & SIGBIT(signal.SIGUSR1) == 0
    assert ignored & SIGBIT(signal.SIGHUP), "a signal the caller ignored stays ignored"
    assert blocked == 0


def test_sighup_ignored_by_the_caller_is_not_forwarded_to_the_fallback_child(tmp_path):
    """Under nohup (SIGHUP ignored), a hang-up must not kill the fallback child: the
    parent keeps ignoring it instead of forwarding it."""
    marker = tmp_path / "started"
    cargo = fake_cargo(tmp_path, f"touch {marker}\nsleep 0.5\necho child-survived")
    code = "import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n" + textwrap.dedent(FALLBACK)
    proc = start_parent(tmp_path, code, cargo, stdout=subprocess.PIPE)
    wait_for(marker)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert "child-survived" in proc.stdout.read()


def test_sigterm_arriving_while_the_child_is_being_spawned_is_not_lost(tmp_path):
    """A SIGTERM that lands after the relay is installed but before the child exists
    is delivered once the child does (here: sent from inside the spawn itself)."""
    marker = tmp_path / "started"
    cargo = fake_cargo(tmp_path, f"touch {marker}\nexec sleep 30")
    code = textwrap.dedent("""
        import os, signal
        from reexec_native import _binding
        # The spawn the fallback uses: os.posix_spawn, or where os has none (PyPy) the
        # C core's fork + exec
        owner, name = (os, "posix_spawn") if hasattr(os, "posix_spawn") else (_binding, "spawn")
        real_spawn = getattr(owner, name)
        def signalled_spawn(*args, **kwargs):
            # cargo run's spawn, not the workspace check's `cargo metadata` (which
            # subprocess also starts by posix_spawn on Python 3.13)
            if not any(arg in ("metadata", b"metadata") for arg in args[2 if owner is _binding else 1]):
                os.kill(os.getpid(), signal.SIGTERM)  # the relay's handler runs now
            return real_spawn(*args, **kwargs)
        setattr(owner, name, signalled_spawn)
    """) + FALLBACK
    proc = start_parent(tmp_path, code, cargo)
    try:
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Fallback child killed by signal 15 (SIGTERM)" in proc.stderr.read()


# ---- threads -----------------------------------------------------------------------

def test_reexec_from_a_thread_while_others_run_and_masks_differ(report_prog, tmp_path):
    """The calling thread blocks SIGTERM, a busy thread spins, the main thread sleeps:
    the new program has the same PID, one thread, no blocked signals."""
    result = run_python(f"""
        import os, signal, threading, time
        from reexec_native import reexec
        print("parent pid=%d" % os.getpid(), flush=True)
        stop = False
        def spin():
            while not stop:
                sum(range(1000))
        threading.Thread(target=spin, daemon=True).start()
        def go():
            signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM, signal.SIGUSR1}})
            reexec(["report", "from-thread"], executable={str(report_prog)!r}, fallback=None)
        threading.Thread(target=go).start()
        time.sleep(30)
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["argv"] == [b"report", b"from-thread"]
    assert report["report pid"] == report["parent pid"]
    assert report["SigBlk"] == 0
    assert report["fds"] == "0,1,2,"


def test_fallback_from_a_thread_exits_with_the_childs_code(tmp_path):
    cargo = fake_cargo(tmp_path, "exit 42")
    proc = start_parent(tmp_path, """
        import threading, time
        from reexec_native import reexec
        threading.Thread(target=reexec, args=(["xtask"],),
                         kwargs=dict(executable="/nonexistent/x", retry_budget=0)).start()
        time.sleep(30)
    """, cargo)
    assert proc.wait(timeout=30) == 42
    err = proc.stderr.read()
    assert "not the main thread" in err
    assert "[reexec] Fallback child exited with code: 42" in err
