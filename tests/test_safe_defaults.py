"""Defaults that are safe for any Python program, not only the spec's xtask: the cargo
fallback runs only where it means what it says (cargo finds, from the working
directory or --manifest-path, a workspace with the package), the guard's refusal
tells a long-lived program what to pass, and the recommended call for servers and
reloaders (examples/reloader.py) works. Each exec in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _env import FAKE_CARGO_METADATA
from conftest import FIXTURE_WS, child_env, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="exec tests run on Linux")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "reloader.py"

# The binary is gone for good (a copy of the interpreter, deleted): the fast path
# gives up at once and the default fallback is asked to take over.
GONE_THEN_DEFAULT_FALLBACK = """
    import os, sys
    from reexec_native import reexec, ReexecError
    os.unlink(sys.executable)
    try:
        reexec(["server", "--port", "8000"], retry_budget=0, **KW)
    except ReexecError as e:
        f = e.fallback_error
        print("survived stage=%s type=%s errno=%s" % (f.stage, type(f).__name__, f.errno))
        print("MESSAGE")
        print(e)
"""


def gone(python_copy, cwd, env, kw="{}"):
    return run_python(GONE_THEN_DEFAULT_FALLBACK.replace("**KW", f"**{kw}"), python=str(python_copy), cwd=cwd,
                      env=env)


def marking_cargo(tmp_path, metadata: str) -> tuple[Path, Path]:
    """A cargo that answers `metadata` with `metadata` (a sh line) and records every
    other run in a marker file: whatever it records, the fallback ran."""
    marker = tmp_path / "cargo-ran"
    cargo = tmp_path / "cargo"
    cargo.write_text(f"#!/bin/sh\n{metadata}\necho \"$@\" >> {marker}\nexit 42\n")
    cargo.chmod(0o755)
    return cargo, marker


NO_WORKSPACE = ('if [ "$1" = metadata ]; then echo "error: could not find \\`Cargo.toml\\` in \\`$PWD\\` '
                'or any parent directory" >&2; exit 101; fi')


def test_outside_a_workspace_the_default_fallback_runs_nothing_and_the_process_survives(python_copy, tmp_path):
    """0.2 ran `cargo run -p xtask ... -- <the server's argv>` from wherever the program
    happened to be (here it exits 42, and the process with it)."""
    cargo, marker = marking_cargo(tmp_path, NO_WORKSPACE)
    result = gone(python_copy, tmp_path, child_env(CARGO=str(cargo)))
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    assert "survived stage=no-workspace type=FallbackError_FileNotFoundError errno=2" in result.stdout
    log = result.stderr
    assert "[reexec] Trying cargo run fallback...\n" in log  # the spec's lines, then why it stopped
    assert '[reexec] Fallback command: ' in log
    assert (f"[reexec] Fallback refused, nothing run: no cargo workspace from {tmp_path}: "
            "no Cargo.toml there or in any directory above it\n") in log  # settled without cargo
    message = result.stdout.split("MESSAGE\n", 1)[1]
    assert message.startswith("Re-exec failed: exec() failed and cargo run was refused before it ran anything.")
    assert "pass fallback=None" in message and "check_workspace=False" in message


def test_with_the_real_cargo_outside_a_workspace(python_copy, tmp_path):
    result = gone(python_copy, tmp_path, child_env(CARGO=None))
    assert result.returncode == 0, result.stderr
    assert "survived stage=no-workspace" in result.stdout
    assert "no Cargo.toml there or in any directory above it" in result.stderr


def test_a_refusal_the_files_cannot_settle_is_in_cargos_own_words(python_copy, tmp_path):
    """A Cargo.toml that does not parse: cargo metadata is asked, and what it said is
    the refusal."""
    (tmp_path / "Cargo.toml").write_text("[package\n")
    cargo, marker = marking_cargo(tmp_path, 'if [ "$1" = metadata ]; then echo "error: failed to parse '
                                            'manifest at \\`$PWD/Cargo.toml\\`" >&2; exit 101; fi')
    result = gone(python_copy, tmp_path, child_env(CARGO=str(cargo)))
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    assert (f"[reexec] Fallback refused, nothing run: no cargo workspace from {tmp_path}: "
            f"error: failed to parse manifest at `{tmp_path}/Cargo.toml`") in result.stderr


def test_a_workspace_without_the_package_runs_nothing(python_copy, tmp_path):
    """The real cargo, in a workspace whose only package is not xtask."""
    ws = tmp_path / "ws"
    (ws / "server" / "src").mkdir(parents=True)
    (ws / "Cargo.toml").write_text('[workspace]\nmembers = ["server"]\nresolver = "2"\n')
    (ws / "server" / "Cargo.toml").write_text('[package]\nname = "server"\nversion = "0.1.0"\nedition = "2021"\n')
    (ws / "server" / "src" / "main.rs").write_text("fn main() {}\n")
    result = gone(python_copy, ws / "server", child_env(CARGO=None, CARGO_TARGET_DIR=str(tmp_path / "target")))
    assert result.returncode == 0, result.stderr
    assert "survived stage=no-package type=FallbackError_FileNotFoundError" in result.stdout
    assert (f"[reexec] Fallback refused, nothing run: the cargo workspace at {ws} has no package 'xtask' "
            "(its packages: server)") in result.stderr
    assert not (tmp_path / "target").exists()  # nothing was built


def test_build_exec_is_checked_the_same_way(python_copy, tmp_path):
    cargo, marker = marking_cargo(tmp_path, NO_WORKSPACE)
    result = gone(python_copy, tmp_path, child_env(CARGO=str(cargo)),
                  kw="dict(fallback=__import__('reexec_native').CargoRun(mode='build-exec'))")
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert "survived stage=no-workspace" in result.stdout
    assert "[reexec] Trying cargo build fallback...\n" in result.stderr


def manifest_in_cargo_args(tmp_path, python_copy, manifest):
    """gone() with --manifest-path `manifest` among cargo_args, and a cargo that refuses
    metadata, recording its arguments: (result, the metadata arguments file, marker)."""
    args = tmp_path / "metadata-args"
    cargo, marker = marking_cargo(tmp_path, f'if [ "$1" = metadata ]; then echo "$@" > {args}; exit 101; fi')
    kw = f"dict(fallback=__import__('reexec_native').CargoRun(cargo_args=['--manifest-path', {str(manifest)!r}]))"
    return gone(python_copy, tmp_path, child_env(CARGO=str(cargo)), kw=kw), args, marker


def test_the_manifest_path_is_the_one_cargo_run_would_use(python_copy, tmp_path):
    """--manifest-path among cargo_args is the one the check reads: from outside the
    workspace, its Cargo.toml files say yes and cargo metadata is not needed."""
    result, args, marker = manifest_in_cargo_args(tmp_path, python_copy, FIXTURE_WS / "Cargo.toml")
    assert result.returncode == 42, result.stderr
    assert f"[reexec] Fallback workspace: {FIXTURE_WS} (package xtask found)\n" in result.stderr
    assert not args.exists()
    assert marker.read_text().split()[:2] == ["run", "-p"]


def test_cargo_metadata_gets_the_manifest_path_when_the_files_settle_nothing(python_copy, tmp_path):
    missing = tmp_path / "elsewhere" / "Cargo.toml"
    result, args, marker = manifest_in_cargo_args(tmp_path, python_copy, missing)
    assert "survived stage=no-workspace" in result.stdout, result.stderr
    assert args.read_text().split() == ["metadata", "--no-deps", "--format-version", "1", "--manifest-path",
                                        str(missing)]
    assert not marker.exists()


def test_the_check_reads_cargos_answer_not_its_status_with_sigchld_ignored(python_copy, tmp_path):
    """A daemon that auto-reaps (SIGCHLD ignored) gets no exit status from any child
    (subprocess reads ECHILD as 0): the refusal still stands, from cargo's output."""
    code = GONE_THEN_DEFAULT_FALLBACK.replace("**KW", "").replace(
        "import os, sys\n", "import os, sys, signal\n    signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n", 1)
    (tmp_path / "Cargo.toml").write_text("[package\n")  # not settled by the files: cargo answers
    result = run_python(code, python=str(python_copy), cwd=tmp_path, env=child_env(CARGO=None))
    assert result.returncode == 0, result.stderr
    assert "survived stage=no-workspace" in result.stdout
    assert f"[reexec] Fallback refused, nothing run: no cargo workspace from {tmp_path}: error:" in result.stderr


def test_check_workspace_false_is_the_old_behaviour(python_copy, tmp_path):
    """One documented line away: CargoRun(check_workspace=False) runs cargo unchecked."""
    cargo, marker = marking_cargo(tmp_path, NO_WORKSPACE)
    result = gone(python_copy, tmp_path, child_env(CARGO=str(cargo)),
                  kw="dict(fallback=__import__('reexec_native').CargoRun(check_workspace=False))")
    assert result.returncode == 42, result.stderr  # the fallback child's status
    assert marker.read_text().split() == ["run", "-p", "xtask", "--features", "crossval-all", "--", "--port", "8000"]


def test_in_the_spec_workspace_the_default_fallback_runs_as_before(python_copy, tmp_path):
    """The spec's scenario: from the fixture workspace (it has xtask) the check passes
    and the fallback runs (a fake cargo, which would answer metadata for another root)."""
    asked = tmp_path / "metadata-asked"
    cargo, marker = marking_cargo(tmp_path, f'[ "$1" = metadata ] && touch {asked}\n{FAKE_CARGO_METADATA}')
    result = gone(python_copy, FIXTURE_WS, child_env(CARGO=str(cargo)))
    assert result.returncode == 42, result.stderr
    assert marker.exists()
    # its Cargo.toml files settle it: no cargo start for the question
    assert f"[reexec] Fallback workspace: {FIXTURE_WS} (package xtask found)\n" in result.stderr
    assert not asked.exists()


def test_recursion_guard_error_tells_a_long_lived_program_what_to_pass(tmp_path):
    result = run_python("""
        from reexec_native import reexec, RecursionGuardError
        try:
            reexec(["x"], executable="/bin/true")
        except RecursionGuardError as e:
            print(e)
    """, env=child_env(BITNET_REPAIR_PARENT="1"), cwd=tmp_path)
    out = result.stdout
    assert "Refusing to re-exec: BITNET_REPAIR_PARENT=1 is already set" in out, result.stderr
    assert "passes guard=None" in out and "clear_guard('BITNET_REPAIR_PARENT')" in out
    assert "fallback=None" in out and "docs/upgrade.md" in out


# -- examples/reloader.py: the recommended call, run as users would ----------------------

needs_example = pytest.mark.skipif(not EXAMPLE.exists(), reason="needs the source tree's examples/")


def _lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[reloader] generation")]


@needs_example
def test_reloader_example_re_executes_on_a_signal_again_and_again(tmp_path):
    """Three re-execs, same PID, from a relative script path and outside any workspace."""
    script = tmp_path / "reloader.py"
    script.write_text(EXAMPLE.read_text())
    result = subprocess.run([sys.executable, "reloader.py", "--generations", "3", "--self-signal"], cwd=tmp_path,
                            env=child_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = _lines(result.stdout)
    pid = lines[0].split()[-1]
    assert lines == [f"[reloader] generation {n} pid {pid}" for n in range(4)], result.stdout


@needs_example
def test_reloader_example_re_executes_when_the_watched_file_changes(tmp_path):
    watched = tmp_path / "app.py"
    watched.write_text("v1\n")
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--generations", "1", "--watch", str(watched)],
                            cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("[reloader] generation 0 pid "), first
        time.sleep(0.05)
        watched.write_text("v2\n")
        os.utime(watched, ns=(time.time_ns(), time.time_ns() + 10**9))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert _lines(out) == [f"[reloader] generation 1 pid {proc.pid}"]


@needs_example
def test_reloader_example_survives_a_refused_re_exec(tmp_path):
    """The script is gone at the moment of the re-exec: refused before the point of no
    return, the generation carries on (and here gives up after --max-seconds)."""
    script = tmp_path / "reloader.py"
    script.write_text(EXAMPLE.read_text())
    proc = subprocess.Popen([sys.executable, str(script), "--generations", "1", "--max-seconds", "1"],
                            cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("[reloader] generation 0 pid ")
    script.unlink()
    proc.send_signal(signal.SIGUSR2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # --max-seconds passed: it was still running
    assert "[reloader] re-exec refused, generation 0 carries on" in err
    assert str(script) in err


# -- the entry script's race (docs/hardening.md): what is and is not protected ----------

SELF_REEXEC_SCRIPT = """
import os, sys
from reexec_native import reexec, guard_active, CannotRerunError
if guard_active():
    print("generation 2 ran", flush=True)
    sys.exit(0)
HOOK
try:
    reexec(fallback=None)
except CannotRerunError as e:
    print("refused:", e, flush=True)
print("generation 1 carries on", flush=True)
"""


def _script(tmp_path, hook: str) -> Path:
    script = tmp_path / "app.py"
    script.write_text(SELF_REEXEC_SCRIPT.replace("HOOK", hook))
    return script


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_an_entry_script_gone_before_the_re_exec_is_refused_and_the_process_survives(tmp_path, how):
    """Before the fix an absolute script that was deleted (or replaced, mid-save) went
    through, and the new interpreter failed with "can't open file" after the point of
    no return: the process was lost (exit 2)."""
    script = _script(tmp_path, "os.unlink(sys.argv[0])")
    arg = str(script) if how == "absolute" else script.name
    result = subprocess.run([sys.executable, arg], cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "generation 1 carries on" in result.stdout
    assert "generation 2 ran" not in result.stdout
    assert f"refused: Cannot re-run the current command: its script {arg!r}" in result.stdout
    if how == "absolute":
        assert "no longer exists" in result.stdout and "-m from an installed package" in result.stdout


def test_an_entry_script_removed_after_the_check_is_the_documented_limit(tmp_path):
    """What is NOT protected: the script removed between reexec()'s check and the new
    interpreter opening it (here by an audit hook on the exec event, the last moment
    before the exec). Only the binary is opened by descriptor; the script is opened by
    the new interpreter, by name, after the point of no return: the process is lost."""
    hook = ("sys.addaudithook(lambda event, args: event == 'os.exec' and os.path.exists(sys.argv[0]) "
            "and os.unlink(sys.argv[0]))")
    script = _script(tmp_path, hook)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr  # the new interpreter's "can't open file"
    assert "can't open file" in result.stderr
    assert "generation 1 carries on" not in result.stdout and "generation 2 ran" not in result.stdout
