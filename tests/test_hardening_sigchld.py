"""Waiting for a child whatever SIGCHLD's disposition, for real: each child process sets
the hostile disposition itself (as a daemon that lets the kernel reap does, and as
that disposition is inherited across exec) before it calls in.

SIGCHLD ignored, the kernel reaps the child itself and waitpid() fails with ECHILD:
before the fix the cargo fallback's child ran but the caller got "could not be
started" and exit 1; build-exec took a failed build (101) for success; verify= always
failed and then started the fallback. Now SIGCHLD is at SIG_DFL from the fork to the
wait, the caller's disposition is back after, and programs started for the caller
(the verify child, the exec'd program, cargo run's program) get the caller's."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import FIXTURE_WS, child_env, parse_report, parse_xtask, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGCHLD and /proc/self/status: Linux")

SIGCHLD_BIT = 1 << (signal.SIGCHLD - 1)
HOSTILE = {
    "ignored": "signal.signal(signal.SIGCHLD, signal.SIG_IGN)",
    # gunicorn's arbiter, a supervisor: reap every child that ends, in a handler
    "reaping-handler": ("def _reap(*_):\n"
                        "    try:\n"
                        "        while os.waitpid(-1, os.WNOHANG)[0]: pass\n"
                        "    except ChildProcessError: pass\n"
                        "signal.signal(signal.SIGCHLD, _reap)"),
}


def script(hostile: str, body: str) -> str:
    return f"import os, signal, sys\n{HOSTILE[hostile]}\nfrom reexec_native import reexec, CargoRun\n{body}\n"


@pytest.fixture(scope="module")
def chld_check(tmp_path_factory):
    """A program that exits 0 when it starts with SIGCHLD ignored, 3 otherwise."""
    src = tmp_path_factory.mktemp("chld") / "chld_check.c"
    src.write_text("#include <signal.h>\n#include <stddef.h>\nint main(void) { struct sigaction a; "
                   "return sigaction(SIGCHLD, NULL, &a) == 0 && a.sa_handler == SIG_IGN ? 0 : 3; }\n")
    out = src.with_suffix("")
    subprocess.run(["gcc", "-o", str(out), str(src)], check=True)
    return out


def fixture_fallback(cargo_target, *args: str) -> str:
    return (f"reexec(['xtask', {', '.join(map(repr, args))}], executable='/nonexistent/xtask', retry_budget=0,"
            f" fallback=CargoRun(manifest_path={str(FIXTURE_WS / 'Cargo.toml')!r}, cargo_args=['--quiet']))")


@pytest.mark.cargo
def test_cargo_run_fallback_with_sigchld_ignored_exits_with_cargos_42(cargo_target, tmp_path):
    """Before: "[Errno 10] No child processes", FallbackError(stage="spawn") ("could not
    be started"), exit 1, after xtask had run."""
    result = run_python(script("ignored", fixture_fallback(cargo_target, "a b")), cwd=tmp_path,
                        env=child_env(CARGO_TARGET_DIR=str(cargo_target), XTASK_EXIT="42"))
    assert result.returncode == 42, result.stderr
    assert parse_xtask(result.stdout)["args"] == [b"a b"]
    assert result.stdout.count("xtask-fixture pid=") == 1  # ran once
    assert "[reexec] Fallback child exited with code: 42\n" in result.stderr
    assert "[reexec] SIGCHLD was ignored (SIG_IGN) here" in result.stderr
    assert "could not be started" not in result.stderr and "Traceback" not in result.stderr


def test_fallback_child_keeps_sigchld_ignored(chld_check, tmp_path):
    """The fallback's child gets the caller's SIG_IGN back (and cargo run execs the
    program, so the program has it): here the "cargo" is chld_check itself, whose exit
    status says so: 0 when it started with SIGCHLD ignored."""
    body = (f"reexec(['x'], executable='/nonexistent/x', retry_budget=0, "
            f"fallback=CargoRun(cargo={str(chld_check)!r}, check_workspace=False))")
    result = run_python(script("ignored", body), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.cargo
def test_build_exec_failing_build_with_sigchld_ignored_exits_101(tmp_path):
    """A real cargo build that fails (a syntax error in a copy of the fixture workspace).
    Before: Popen.wait() answered 0 for the lost status, so the failure was taken for
    success and ended in FallbackError(stage="no-artifact")."""
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, ws, ignore=shutil.ignore_patterns("target"))
    main = ws / "xtask" / "src" / "main.rs"
    main.write_text(main.read_text() + "\nfn broken( {\n")
    body = ("reexec(['xtask'], executable='/nonexistent/xtask', retry_budget=0, "
            f"fallback=CargoRun(manifest_path={str(ws / 'Cargo.toml')!r}, cargo_args=['--offline'], "
            "mode='build-exec'))")
    result = run_python(script("ignored", body), cwd=tmp_path,
                        env=child_env(CARGO_TARGET_DIR=str(tmp_path / "target")))
    assert result.returncode == 101, result.stderr
    assert "[reexec] cargo build failed with exit code 101; exiting with it" in result.stderr
    assert "no-artifact" not in result.stderr and "Traceback" not in result.stderr


def fake_cargo(tmp_path):
    cargo = tmp_path / "cargo"
    cargo.write_text("#!/bin/sh\necho FALLBACK-RAN\nexit 7\n")
    cargo.chmod(0o755)
    return cargo


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_verify_passes_and_the_program_gets_the_callers_sigchld(hostile, report_prog, tmp_path):
    """Before: the verify child's status was lost (ECHILD): "Fast path failed" and the
    cargo fallback started (here a fake cargo that says so). Now the verify run passes
    and the exec'd program starts with SIGCHLD as the caller had it: ignored stays
    ignored (put back after the verify run); a handler becomes the default (exec)."""
    body = (f"reexec(['prog'], executable={str(report_prog)!r}, verify=['--check'], "
            f"fallback=CargoRun(cargo={str(fake_cargo(tmp_path))!r}))")
    result = run_python(script(hostile, body), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "FALLBACK-RAN" not in result.stdout and "Fast path failed" not in result.stderr
    assert "[reexec] Verify: passed" in result.stderr
    ignored = parse_report(result.stdout)["SigIgn"] & SIGCHLD_BIT
    assert bool(ignored) == (hostile == "ignored")


def test_the_verify_run_sees_sigchld_ignored_as_the_exec_will(chld_check, tmp_path):
    """The verify child is started as the real exec will start the program: with the
    caller's SIG_IGN (chld_check exits 0 only then, in the verify run and exec'd)."""
    body = f"reexec(['prog'], executable={str(chld_check)!r}, verify=['--check'], fallback=None)"
    result = run_python(script("ignored", body), cwd=tmp_path)
    assert "[reexec] Verify: passed" in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_verify_failure_is_a_verify_error_and_no_fallback(hostile, report_prog, tmp_path):
    """A verify run that exits 3: VerifyError with returncode 3 whatever the
    disposition; the fallback is not started and this process carries on. Before
    (ignored): "Fast path failed: ECHILD", then the cargo fallback ran."""
    cargo = fake_cargo(tmp_path)
    body = (f"from reexec_native import VerifyError\n"
            f"try:\n"
            f"    reexec(['prog'], executable={str(report_prog)!r}, verify=['--check'],"
            f" fallback=CargoRun(cargo={str(cargo)!r}))\n"
            f"except VerifyError as exc:\n"
            f"    print('carried on: returncode=%s errno=%s' % (exc.returncode, exc.errno), flush=True)\n"
            f"    sys.exit(5)\n")
    result = run_python(script(hostile, body), cwd=tmp_path, env=child_env(REPORT_EXIT="3"))
    assert result.returncode == 5, result.stderr
    assert "carried on: returncode=3 errno=None" in result.stdout
    assert "FALLBACK-RAN" not in result.stdout
    assert "Trying cargo" not in result.stderr


def test_verify_with_sigchld_ignored_and_no_fallback_is_not_echild(report_prog, tmp_path):
    """fallback=None: before, a plain ReexecError(ECHILD); now the program runs."""
    body = f"reexec(['prog', 'x'], executable={str(report_prog)!r}, verify=['--check'], fallback=None)"
    result = run_python(script("ignored", body), cwd=tmp_path, env=child_env(REPORT_EXIT="9"))
    # REPORT_EXIT=9 makes the verify run fail too: a VerifyError, not ECHILD
    assert result.returncode == 1
    assert "VerifyError: Verify run of" in result.stderr and "exited with status 9" in result.stderr
    assert "ECHILD" not in result.stderr and "No child processes" not in result.stderr


def test_a_status_taken_by_another_waiter_is_never_could_not_be_started(tmp_path):
    """Another thread reaps every child (os.waitpid(-1)): the build's status is lost.
    The fake cargo exits 101 at once while a background job holds its stdout open for
    a second, so that thread, not the library, reaps it. Before: Popen.wait() answered
    0 for the lost status, the failed build was taken for success, "no-artifact". Now
    FallbackError(stage="wait"): nothing run, and it is not "could not be started"."""
    cargo = tmp_path / "cargo"
    cargo.write_text("#!/bin/sh\n(sleep 1) &\nexit 101\n")
    cargo.chmod(0o755)
    body = textwrap.dedent(f"""\
        import threading, time
        from reexec_native import ReexecError
        def reap_all():
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    time.sleep(0.001)
        threading.Thread(target=reap_all, daemon=True).start()
        try:
            reexec(['x'], executable='/nonexistent/x', retry_budget=0,
                   fallback=CargoRun(cargo={str(cargo)!r}, mode='build-exec', check_workspace=False))
        except ReexecError as exc:
            print('stage=%s errno=%s' % (exc.fallback_error.stage, exc.fallback_error.errno), flush=True)
            print(exc, flush=True)
            os._exit(6)
        """)
    result = run_python(f"import os, signal, sys\nfrom reexec_native import reexec, CargoRun\n{body}", cwd=tmp_path)
    assert result.returncode == 6, result.stderr
    assert "stage=wait errno=10" in result.stdout, result.stdout
    assert "could not be started" not in result.stdout and "no-artifact" not in result.stdout
