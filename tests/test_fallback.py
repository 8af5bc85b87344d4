"""The cargo run fallback, for real: a deleted binary makes the fast path give up
after its retry budget, and `cargo run -p xtask --features crossval-all -- ARGS`
on the fixture workspace (tests/fixtures/cargo_ws, built offline) takes over."""

from __future__ import annotations

import os
import signal

import pytest

from _env import FAKE_CARGO_METADATA, fake_workspace
from conftest import FIXTURE_WS, child_env, parse_xtask, run_python
from test_fast_path import TRICKY_ARGS

pytestmark = pytest.mark.cargo

# The child deletes its own binary (a copy of the interpreter), then re-execs.
DELETED_THEN_REEXEC = """
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from reexec_native import reexec
    os.unlink(sys.executable)
    print("parent pid=%d" % os.getpid(), flush=True)
    reexec(["xtask", *ARGS], retry_budget=0.05)
"""


def run_deleted(python_copy, cargo_target, args, **env):
    code = DELETED_THEN_REEXEC.replace("ARGS", repr(list(args)))
    return run_python(code, python=str(python_copy), cwd=FIXTURE_WS,
                      env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, **env))


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_deleted_binary_falls_back_to_cargo_run_with_exact_exit_code(code, python_copy, cargo_target):
    result = run_deleted(python_copy, cargo_target, ["preflight", "--backend", "bitnet"], XTASK_EXIT=str(code))
    assert result.returncode == code, result.stderr
    xtask = parse_xtask(result.stdout)
    assert xtask["args"] == [b"preflight", b"--backend", b"bitnet"]
    assert xtask["guard"] == "1"
    assert xtask["feature"] == "true"
    log = result.stderr
    assert f"[reexec] Fast path: {python_copy}\n" in log
    assert "[reexec] Binary exists: NO\n" in log
    assert "[reexec] Retry 1 in 5 ms: ENOENT at tier open" in log
    assert "[reexec] Fast path failed: [Errno 2] No such file or directory" in log
    assert "[reexec] Error kind: NotFound (ENOENT)\n" in log
    assert "[reexec] Trying cargo run fallback...\n" in log
    assert ('[reexec] Fallback command: cargo run -p xtask --features crossval-all -- '
            '["preflight", "--backend", "bitnet"]\n') in log
    assert f"[reexec] Fallback child exited with code: {code}\n" in log


def test_without_os_posix_spawn_the_fallback_child_is_forked_and_executed(python_copy, cargo_target):
    """PyPy's os has no posix_spawn: the fallback died of AttributeError there after the
    fast path failed (found by the pypy matrix leg). The child is then started by fork +
    exec through the C core instead, with the same arguments and exit code (on PyPy
    there is nothing to remove)."""
    code = DELETED_THEN_REEXEC.replace("ARGS", repr(["preflight", "x y"])).replace(
        "    import os, resource, sys\n",
        "    import os, resource, sys\n    if hasattr(os, 'posix_spawn'):\n        del os.posix_spawn\n")
    result = run_python(code, python=str(python_copy), cwd=FIXTURE_WS,
                        env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, XTASK_EXIT="42"))
    assert result.returncode == 42, result.stderr
    assert parse_xtask(result.stdout)["args"] == [b"preflight", b"x y"]
    assert "[reexec] Fallback child exited with code: 42\n" in result.stderr


def test_tricky_arguments_survive_the_fallback(python_copy, cargo_target):
    result = run_deleted(python_copy, cargo_target, TRICKY_ARGS)
    assert result.returncode == 0, result.stderr
    assert parse_xtask(result.stdout)["args"] == [a.encode() for a in TRICKY_ARGS]


def test_child_killed_by_a_signal_kills_the_parent_the_same_way(python_copy, cargo_target):
    result = run_deleted(python_copy, cargo_target, ["boom"], XTASK_ABORT="1")
    assert result.returncode == -signal.SIGABRT, result.stderr
    assert "[reexec] Fallback child killed by signal 6 (SIGABRT)" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_cargo_gives_one_error_with_both_causes(python_copy, tmp_path):
    result = run_python("""
        import os, sys
        from reexec_native import reexec, ReexecError
        os.unlink(sys.executable)
        try:
            reexec(["xtask", "a"], retry_budget=0)
        except OSError as e:  # a ReexecError is an OSError with the fast path's errno and path
            assert isinstance(e, ReexecError), type(e)
            x, f = e.exec_error, e.fallback_error
            print("error errno=%s filename=%s" % (e.errno, e.filename))
            print("exec_error=%s %s tier=%s" % (isinstance(x, FileNotFoundError), x.filename, x.tier))
            print("fallback_error=%s stage=%s mode=%s" % (isinstance(f, FileNotFoundError), f.stage, f.mode))
            print("MESSAGE")
            print(e)
    """, python=str(python_copy), cwd=tmp_path, env=child_env(PATH=str(tmp_path / "empty"), CARGO=None))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"error errno=2 filename={python_copy}" in out
    assert f"exec_error=True {python_copy} tier=open" in out
    assert "fallback_error=True stage=cargo-not-found mode=run" in out
    message = out.split("MESSAGE\n", 1)[1]
    assert message.startswith("Re-exec failed: exec() and cargo run both failed.\n")
    assert "exec() error: [Errno 2] No such file or directory (opening for exec)" in message
    assert "(kind: NotFound (ENOENT))" in message
    assert "cargo run error: [Errno 2] 'cargo' not found on PATH=" in message
    assert "1. Install Rust and cargo (https://rustup.rs)" in message
    assert "2. Or set CARGO to the full path" in message
    assert (f"3. Rebuild the program so that {python_copy} exists again: "
            "`cargo build -p xtask --features crossval-all`.") in message


def test_fallback_can_be_configured_and_disabled(python_copy, cargo_target, tmp_path):
    """manifest_path lets the fallback run from anywhere; fallback=None raises instead."""
    configured = run_python(f"""
        import os, sys
        from reexec_native import reexec, CargoRun
        os.unlink(sys.executable)
        reexec(["xtask", "x"], retry_budget=0,
               fallback=CargoRun(manifest_path={str(FIXTURE_WS / 'Cargo.toml')!r}, cargo_args=["--quiet"]))
    """, python=str(python_copy), cwd=tmp_path, env=child_env(CARGO_TARGET_DIR=str(cargo_target)))
    assert configured.returncode == 0, configured.stderr
    assert parse_xtask(configured.stdout)["args"] == [b"x"]
    assert "--manifest-path" in configured.stderr and "--quiet --" in configured.stderr


def test_sigterm_to_the_waiting_parent_reaches_the_child(python_copy, cargo_target, tmp_path):
    """While cargo runs the child, SIGTERM to our process is forwarded; the child's
    death by SIGTERM becomes ours."""
    import subprocess, sys, textwrap, time
    marker = tmp_path / "started"
    sleeper = tmp_path / "sleeper.sh"
    sleeper.write_text(f"#!/bin/sh\ntouch {marker}\nexec sleep 30\n")
    sleeper.chmod(0o755)
    fake_cargo = tmp_path / "cargo"
    fake_cargo.write_text(f"#!/bin/sh\n{FAKE_CARGO_METADATA}\nexec {sleeper}\n")
    fake_cargo.chmod(0o755)
    fake_workspace(tmp_path)
    code = textwrap.dedent("""
        import os, sys
        from reexec_native import reexec, CargoRun
        os.unlink(sys.executable)
        reexec(["xtask"], retry_budget=0)
    """)
    proc = subprocess.Popen([str(python_copy), "-c", code], cwd=tmp_path,
                            env=child_env(CARGO=str(fake_cargo)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert "Fallback child killed by signal 15 (SIGTERM)" in proc.stderr.read()
