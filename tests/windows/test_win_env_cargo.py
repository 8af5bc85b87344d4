"""env= and the guard; the cargo fallback's discovery (cargo=, $CARGO, PATH/PATHEXT,
missing) and mode="build-exec", with a fake cargo.exe (see _win.make_fake_cargo)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from _win import GUARD, PY, child_env, make_fake_cargo, printed, run_py

PRINTENV = [PY, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]

REEXEC_ENV = """
import json, sys
from reexec_native import reexec
kwargs = json.loads(sys.argv[2])
reexec(json.loads(sys.argv[1]), executable=sys.executable, fallback=None, **kwargs)
"""


def environ_of(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_env_is_passed_exactly_and_alone():
    env = {"SYSTEMROOT": os.environ["SYSTEMROOT"], "ONLY_THIS": "caf\u00e9 \U0001F600", "EMPTY": ""}
    seen = environ_of(run_py(REEXEC_ENV, json.dumps(PRINTENV), json.dumps({"env": env})))
    # Control: what a plain CreateProcessW with that environment shows (Wine adds its
    # own WINE*/SYSTEMDRIVE... variables to every process; Windows adds nothing).
    added = {k: v for k, v in environ_of(subprocess.run(PRINTENV, env=env, capture_output=True,
                                                        text=True)).items() if k not in env}
    assert seen == {**env, **added, GUARD: "1"}
    assert "ONLY_THIS" not in added


def test_env_none_passes_os_environ_and_sets_the_guard():
    env = child_env(MARK_PARENT="from parent")
    seen = environ_of(run_py(REEXEC_ENV, json.dumps(PRINTENV), "{}", env=env))
    assert seen[GUARD] == "1"
    assert seen["MARK_PARENT"] == "from parent"
    control = environ_of(subprocess.run(PRINTENV, env=env, capture_output=True, text=True))
    assert {k.upper() for k in seen} == {k.upper() for k in control} | {GUARD}


def test_guard_none_sets_nothing_and_a_custom_guard_is_set():
    seen = environ_of(run_py(REEXEC_ENV, json.dumps(PRINTENV), json.dumps({"guard": None})))
    assert GUARD not in seen
    seen = environ_of(run_py(REEXEC_ENV, json.dumps(PRINTENV), json.dumps({"guard": "MY_GUARD"})))
    assert seen["MY_GUARD"] == "1" and GUARD not in seen


def test_guard_already_set_is_recursion_guard_error_and_nothing_runs():
    proc = run_py("""
        import sys
        from reexec_native import reexec, RecursionGuardError
        try:
            reexec([sys.executable, "-c", "print('RAN')"], executable=sys.executable)
        except RecursionGuardError as exc:
            print("guard:", exc)
        """, env=child_env(**{GUARD: "1"}))
    assert proc.stdout.startswith(f"guard: Refusing to re-exec: {GUARD}=1"), proc.stdout + proc.stderr
    assert "RAN" not in proc.stdout


FALLBACK = """
import sys
from reexec_native import reexec, CargoRun
kwargs = {"cargo": sys.argv[2]} if len(sys.argv) > 2 else {}
reexec(["gone.exe", "arg one"], executable=sys.argv[1], fallback=CargoRun(**kwargs))
"""


@pytest.fixture(scope="module")
def cargo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cargo-bin")
    make_fake_cargo(folder)
    return folder


def test_cargo_from_the_cargo_argument(cargo_dir, tmp_path):
    proc = run_py(FALLBACK, str(tmp_path / "gone.exe"), str(cargo_dir / "cargo.exe"))
    seen = printed(proc.stdout)
    assert os.path.normcase(seen["fake_cargo"][0]) == os.path.normcase(str(cargo_dir / "cargo.exe"))
    assert seen["fake_cargo"][1:] == ["run", "-p", "xtask", "--features", "crossval-all", "--", "arg one"]
    assert seen["guard"] == "1"


def test_cargo_from_the_cargo_variable(cargo_dir, tmp_path):
    env = child_env(CARGO=str(cargo_dir / "cargo.exe"))
    proc = run_py(FALLBACK, str(tmp_path / "gone.exe"), env=env)
    assert printed(proc.stdout)["fake_cargo"][-1] == "arg one", proc.stderr


@pytest.mark.parametrize("pathext", [None, ".COM;.EXE;.BAT"])
def test_cargo_exe_found_through_path_and_pathext(cargo_dir, tmp_path, pathext):
    env = child_env(PATH=str(cargo_dir) + os.pathsep + os.environ.get("PATH", ""))
    if pathext:
        env["PATHEXT"] = pathext
    proc = run_py(FALLBACK, str(tmp_path / "gone.exe"), env=env)
    seen = printed(proc.stdout)
    assert os.path.normcase(seen["fake_cargo"][0]) == os.path.normcase(str(cargo_dir / "cargo.exe"))
    assert f"Fallback command: cargo run -p xtask --features crossval-all -- [\"arg one\"]" in proc.stderr


def test_cargo_missing_is_a_clear_reexec_error(tmp_path):
    env = child_env(PATH=str(tmp_path))
    proc = run_py("""
        import sys
        from reexec_native import reexec, ReexecError
        try:
            reexec(["gone.exe", "a"], executable=sys.argv[1])
        except ReexecError as exc:
            print(exc)
        """, str(tmp_path / "gone.exe"), env=env)
    out = proc.stdout
    assert "Re-exec failed: exec() and cargo run both failed." in out, out + proc.stderr
    assert "'cargo' not found on PATH=" in out
    assert "Install Rust and cargo (https://rustup.rs)" in out
    assert "Or set CARGO to the full path of the cargo binary (or pass CargoRun(cargo=...))." in out
    assert f"Rebuild the program so that {tmp_path / 'gone.exe'} exists again: `cargo build" in out


def test_build_exec_builds_then_runs_the_artifact(cargo_dir, tmp_path):
    env = child_env(FAKE_CARGO_ARTIFACT=PY)
    proc = run_py("""
        import sys
        from reexec_native import reexec, CargoRun
        reexec(["xtask.exe", "-c", "import sys; print('artifact argv', sys.argv[1:]); sys.exit(42)", "z"],
               executable=sys.argv[1], fallback=CargoRun(cargo=sys.argv[2], mode="build-exec"))
        """, str(tmp_path / "gone.exe"), str(cargo_dir / "cargo.exe"), env=env)
    assert proc.returncode == 42, proc.stderr
    assert "artifact argv ['z']" in proc.stdout
    build = json.loads(next(line for line in proc.stderr.splitlines() if "fake_cargo" in line))
    assert build["fake_cargo"][1:] == ["build", "-p", "xtask", "--features", "crossval-all",
                                       "--message-format=json-render-diagnostics"]
    assert f"[reexec] Built: {PY}" in proc.stderr


def test_build_exec_failed_build_exits_with_cargos_code(cargo_dir, tmp_path):
    env = child_env(FAKE_CARGO_EXIT=str(0xC0000005))
    proc = run_py("""
        import sys
        from reexec_native import reexec, CargoRun
        reexec(["xtask.exe"], executable=sys.argv[1],
               fallback=CargoRun(cargo=sys.argv[2], mode="build-exec"))
        """, str(tmp_path / "gone.exe"), str(cargo_dir / "cargo.exe"), env=env)
    assert proc.returncode == 0xC0000005, proc.stderr
    assert "cargo build failed with exit code 3221225477" in proc.stderr
