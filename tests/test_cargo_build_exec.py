"""CargoRun(mode="build-exec"), for real on the fixture workspace: cargo builds, and
the built xtask then *replaces* the Python process (same PID, no waiting parent),
so its exit status and death by signal are the caller's directly."""

from __future__ import annotations

import shutil
import signal

import pytest

from _cli_helpers import console_script, popen, run_code
from _env import FAKE_CARGO_METADATA, fake_workspace
from conftest import FIXTURE_WS, child_env, parse_xtask
from test_fast_path import TRICKY_ARGS

from reexec_native import CargoRun
from reexec_native._cargo_build import MESSAGE_FORMAT, package_name, pick_executable

pytestmark = pytest.mark.cargo

BUILD_LINE = ("[reexec] Fallback command: cargo build -p xtask --features crossval-all "
              "--message-format=json-render-diagnostics\n")

# The fast path fails (no such file), the build-exec fallback takes over.
MISSING_THEN_BUILD_EXEC = """
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from reexec_native import reexec, CargoRun
    print("parent pid=%d" % os.getpid(), flush=True)
    reexec(["xtask", *sys.argv[1:]], executable="/nonexistent/xtask", retry_budget=0,
           fallback=CargoRun(mode="build-exec", **KW))
"""


def build_exec(cargo_target, args, *, cwd=FIXTURE_WS, kw="{}", **env):
    code = MISSING_THEN_BUILD_EXEC.replace("**KW", f"**{kw}")
    return run_code(code, *args, cwd=cwd,
                    env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, CARGO_NET_OFFLINE="true", **env))


@pytest.mark.parametrize("code", [0, 3, 255])
def test_build_exec_replaces_the_python_process(code, cargo_target):
    result = build_exec(cargo_target, ["preflight", "--backend", "bitnet"], XTASK_EXIT=str(code))
    assert result.returncode == code, result.stderr
    xtask = parse_xtask(result.stdout)
    parent_pid = int(result.stdout.split("parent pid=")[1].split()[0])
    assert xtask["pid"] == parent_pid  # exec'd: the same process, no waiting parent
    assert xtask["args"] == [b"preflight", b"--backend", b"bitnet"]
    assert xtask["guard"] == "1"
    assert xtask["feature"] == "true"
    assert '"reason"' not in result.stdout  # cargo's JSON is parsed, not printed
    log = result.stderr
    assert "[reexec] Trying cargo build fallback...\n" in log
    assert BUILD_LINE in log
    assert f"[reexec] Built: {cargo_target}/debug/xtask\n" in log
    assert "Fallback child exited" not in log
    assert "cargo run" not in log


def test_tricky_arguments_survive_build_exec(cargo_target):
    result = build_exec(cargo_target, TRICKY_ARGS)
    assert result.returncode == 0, result.stderr
    assert parse_xtask(result.stdout)["args"] == [a.encode() for a in TRICKY_ARGS]


def test_signal_death_is_the_programs_own(cargo_target):
    """No Python parent re-raises anything: the caller sees xtask's own SIGABRT."""
    result = build_exec(cargo_target, ["boom"], XTASK_ABORT="1")
    assert result.returncode == -signal.SIGABRT, result.stderr
    assert "killed by signal" not in result.stderr


def test_profile_and_manifest_path_come_through(cargo_target, tmp_path):
    """--release via cargo_args, manifest_path from another directory."""
    kw = f"dict(cargo_args=['--release'], manifest_path={str(FIXTURE_WS / 'Cargo.toml')!r})"
    result = build_exec(cargo_target, ["x"], cwd=tmp_path, kw=kw)
    assert result.returncode == 0, result.stderr
    assert f"[reexec] Built: {cargo_target}/release/xtask\n" in result.stderr
    assert ("--manifest-path " + str(FIXTURE_WS / "Cargo.toml") + " --release "
            "--message-format=json-render-diagnostics\n") in result.stderr
    assert parse_xtask(result.stdout)["args"] == [b"x"]


def test_failed_build_exits_with_cargos_code_and_shows_its_error(cargo_target):
    result = build_exec(cargo_target, ["a"], kw="dict(cargo_args=['--features', 'nonexistent-feature'])")
    assert result.returncode == 101, result.stderr
    assert "nonexistent-feature" in result.stderr  # cargo's own error message
    assert "[reexec] cargo build failed with exit code 101; exiting with it\n" in result.stderr
    assert "xtask-fixture" not in result.stdout
    assert '"reason"' not in result.stdout


def test_compile_error_is_rendered_on_stderr(cargo_target, tmp_path):
    """A broken copy of the workspace: rustc's diagnostic reaches the user's stderr."""
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, ws, ignore=shutil.ignore_patterns("target"))
    main = ws / "xtask" / "src" / "main.rs"
    main.write_text(main.read_text() + "\nfn broken() -> u32 { \"not a number\" }\n")
    result = build_exec(cargo_target, ["a"], cwd=ws)
    assert result.returncode == 101, result.stderr
    assert "error[E0308]: mismatched types" in result.stderr
    assert "[reexec] cargo build failed with exit code 101" in result.stderr


def test_broken_manifest_is_refused_before_cargo_builds_with_cargos_reason(cargo_target, tmp_path):
    """0.2 ran `cargo build` and exited with its 101; the workspace check now asks
    cargo first, and the process survives with cargo's parse error in the message."""
    bad = tmp_path / "Cargo.toml"
    bad.write_text("[package\nname = ")
    result = build_exec(cargo_target, ["a"], cwd=tmp_path, kw=f"dict(manifest_path={str(bad)!r})")
    assert result.returncode == 1, result.stderr  # the uncaught ReexecError
    assert "ReexecError: Re-exec failed: exec() failed and cargo build fallback was refused" in result.stderr
    assert "[reexec] Fallback refused, nothing run: no cargo workspace --manifest-path" in result.stderr
    assert "Cargo.toml:1:9" in result.stderr  # cargo's parse error


def test_cli_exec_with_build_exec_fallback(cargo_target):
    """reexec-native exec --cargo-fallback=build-exec: the shell script's process
    becomes xtask (the PID the test started)."""
    pid, result = popen(
        [console_script(), "exec", "--cargo-fallback=build-exec", "--guard", "BITNET_REPAIR_PARENT",
         "--manifest-path", FIXTURE_WS / "Cargo.toml", "-v", "--", "/nonexistent/xtask", "a", "--", "b c"],
        env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None, CARGO_NET_OFFLINE="true", XTASK_EXIT="7"),
    )
    assert result.returncode == 7, result.stderr
    xtask = parse_xtask(result.stdout)
    assert xtask["pid"] == pid
    assert xtask["args"] == [b"a", b"--", b"b c"]
    assert xtask["guard"] == "1"
    assert "[reexec] Trying cargo build fallback..." in result.stderr


# Pure functions (no exec): the command line and the artifact choice.

def test_build_command_and_run_command_unchanged():
    run = CargoRun()
    assert run.mode == "run"
    assert run.command(["xtask", "a", "b"]) == ["cargo", "run", "-p", "xtask", "--features", "crossval-all",
                                                "--", "a", "b"]
    be = CargoRun(mode="build-exec", bin="xtask", manifest_path="ws/Cargo.toml", cargo="/c/cargo",
                  features=("a", "b"), cargo_args=("--release",))
    assert [*be.build_command(), MESSAGE_FORMAT] == [
        "/c/cargo", "build", "-p", "xtask", "--features", "a,b", "--bin", "xtask",
        "--manifest-path", "ws/Cargo.toml", "--release", "--message-format=json-render-diagnostics"]
    assert "mode='build-exec'" in repr(be)
    with pytest.raises(ValueError, match="mode must be one of"):
        CargoRun(mode="exec")


@pytest.mark.parametrize("package_id, name", [
    ("xtask 0.1.0 (path+file:///ws/xtask)", "xtask"),
    ("path+file:///ws/xtask#0.1.0", "xtask"),
    ("path+file:///ws/tools#xtask@0.1.0", "xtask"),
    ("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0", "serde"),
    ("nonsense", None),
])
def test_package_name(package_id, name):
    assert package_name(package_id) == name


def _artifact(pkg, name, kind, exe):
    return {"reason": "compiler-artifact", "package_id": f"path+file:///ws/{pkg}#0.1.0",
            "target": {"name": name, "kind": kind}, "executable": exe}


def test_pick_executable():
    messages = [
        {"reason": "build-script-executed"},
        _artifact("dep", "dep", ["lib"], None),
        _artifact("xtask", "xtask", ["bin"], "/t/debug/xtask"),
        _artifact("xtask", "helper", ["bin"], "/t/debug/helper"),
        _artifact("xtask", "xtask", ["example"], "/t/debug/examples/xtask"),
        {"reason": "build-finished", "success": True},
    ]
    assert pick_executable(messages, "xtask", None) == "/t/debug/xtask"  # the bin named like the package
    assert pick_executable(messages, "xtask", "helper") == "/t/debug/helper"
    with pytest.raises(FileNotFoundError, match="no executable for bin 'nope'"):
        pick_executable(messages, "xtask", "nope")
    with pytest.raises(FileNotFoundError, match=r"several executables \(a, b\); pass bin="):
        pick_executable([_artifact("p", "a", ["bin"], "/a"), _artifact("p", "b", ["bin"], "/b")], "p", None)
    assert pick_executable([_artifact("other", "tool", ["bin"], "/tool")], "xtask", None) == "/tool"


def test_sigterm_while_cargo_builds_reaches_cargo(tmp_path):
    """While `cargo build` runs, SIGTERM to our process is forwarded to it, and its
    death by SIGTERM becomes ours (a fake cargo that sleeps stands in for a long build)."""
    import subprocess
    import sys
    import textwrap
    import time

    marker = tmp_path / "building"
    fake_cargo = tmp_path / "cargo"
    fake_cargo.write_text(f"#!/bin/sh\n{FAKE_CARGO_METADATA}\ntouch {marker}\nexec sleep 30\n")
    fake_cargo.chmod(0o755)
    fake_workspace(tmp_path)
    code = textwrap.dedent("""
        from reexec_native import reexec, CargoRun
        reexec(["xtask"], executable="/nonexistent/xtask", retry_budget=0,
               fallback=CargoRun(mode="build-exec"))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=child_env(CARGO=str(fake_cargo)),
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "cargo build killed by signal 15" in proc.stderr.read()
