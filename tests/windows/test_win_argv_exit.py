"""argv reaches the program exactly (CommandLineToArgvW and the CRT agree with what was
passed), and the full 32-bit exit code comes back, through reexec(), the cargo
fallback and `reexec-native exec`."""

from __future__ import annotations

import json

import pytest

from _win import (CLI, EXIT_CODES, PRINTARGS, PY, child_env, exit_code_program, expected_argv, make_fake_cargo,
                  printed, run_py)

HOSTILE = [
    "plain", "two words", "", " ", "tab\there", "new\nline", 'q"uote', '"', '""', "back\\slash",
    "trail\\", "trail\\\\", 'bs\\"q', 'a\\\\"b', '\\"', "c:\\dir with space\\", "%PATH%", "^&|<>",
    "!bang!", "'single'", "caf\u00e9", "\u65e5\u672c\u8a9e", "\U0001F600 astral", "-c", "--",
]

REEXEC_PRINTARGS = """
import json, sys
from reexec_native import reexec
argv = json.loads(sys.argv[1])
if sys.argv[2] == "bytes":
    argv = [a.encode("utf-8") for a in argv]
reexec(argv, executable=argv[0], fallback=None)
"""


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_hostile_argv_arrives_exactly_through_reexec(kind):
    argv = [PY, PRINTARGS, *HOSTILE]
    proc = run_py(REEXEC_PRINTARGS, json.dumps(argv), kind)
    assert proc.returncode == 0, proc.stderr
    seen = printed(proc.stdout)
    assert seen["clta"] == expected_argv(argv)
    assert seen["crt"] == expected_argv(argv)


def test_argv0_is_the_name_given_not_the_path():
    argv = ["my program name", PRINTARGS, "x"]
    proc = run_py("import sys; from reexec_native import reexec\n"
                  "reexec(sys.argv[2:], executable=sys.argv[1], fallback=None)", PY, *argv)
    assert proc.returncode == 0, proc.stderr
    assert printed(proc.stdout)["clta"] == expected_argv(argv)


def test_hostile_argv_arrives_exactly_through_the_cli():
    proc = run_py(CLI,
                  "exec", "--", PY, PRINTARGS, *HOSTILE)
    assert proc.returncode == 0, proc.stderr
    seen = printed(proc.stdout)
    assert seen["clta"] == expected_argv([PY, PRINTARGS, *HOSTILE]) == seen["crt"]


def test_hostile_argv_reaches_cargo_after_the_double_dash(tmp_path):
    cargo = make_fake_cargo(tmp_path)
    proc = run_py("""
        import json, sys
        from reexec_native import reexec, CargoRun
        reexec(["gone.exe", *json.loads(sys.argv[1])], executable=sys.argv[2],
               fallback=CargoRun(cargo=sys.argv[3]))
        """, json.dumps(HOSTILE), str(tmp_path / "gone.exe"), str(cargo))
    assert proc.returncode == 0, proc.stderr
    argv = printed(proc.stdout)["fake_cargo"]
    assert argv[1:] == ["run", "-p", "xtask", "--features", "crossval-all", "--", *HOSTILE]


@pytest.mark.parametrize("code", EXIT_CODES)
def test_exit_code_through_reexec(code):
    proc = run_py("import json, sys; from reexec_native import reexec\n"
                  "argv = json.loads(sys.argv[1]); reexec(argv, executable=argv[0], fallback=None)",
                  json.dumps(exit_code_program(code)))
    assert proc.returncode == code, proc.stderr


@pytest.mark.parametrize("code", EXIT_CODES)
def test_exit_code_through_the_cli(code):
    proc = run_py(CLI,
                  "exec", "--", *exit_code_program(code))
    assert proc.returncode == code, proc.stderr


@pytest.fixture(scope="module")
def fake_cargo(tmp_path_factory):
    return make_fake_cargo(tmp_path_factory.mktemp("cargo"))


@pytest.mark.parametrize("code", EXIT_CODES)
def test_exit_code_through_the_cargo_fallback(code, fake_cargo, tmp_path):
    env = child_env(FAKE_CARGO_EXIT=str(code))
    proc = run_py("""
        import sys
        from reexec_native import reexec, CargoRun
        reexec(["gone.exe", "a"], executable=sys.argv[1], fallback=CargoRun(cargo=sys.argv[2]))
        """, str(tmp_path / "gone.exe"), str(fake_cargo), env=env)
    assert proc.returncode == code, proc.stderr
    assert "[reexec] Trying cargo run fallback..." in proc.stderr
    # The README's line, on Windows too (the shim logs it before ExitProcess).
    assert f"[reexec] Fallback child exited with code: {code}" in proc.stderr


@pytest.mark.parametrize("code", [0, 3, 0xC0000005])
def test_exit_code_through_the_cli_cargo_fallback(code, fake_cargo, tmp_path):
    env = child_env(FAKE_CARGO_EXIT=str(code), CARGO=str(fake_cargo))
    proc = run_py(CLI,
                  "exec", "--cargo-fallback", "--", str(tmp_path / "gone.exe"), "x", env=env)
    assert proc.returncode == code, proc.stderr
    assert printed(proc.stdout)["fake_cargo"][-2:] == ["--", "x"]


try:
    from hypothesis import HealthCheck, given, settings, strategies as st
except ImportError:  # pragma: no cover - the Windows set-ups install it
    given = None

if given is not None:
    ARGV0 = None

    TRICKY = st.sampled_from(['"', "\\", " ", "\t", "a", "%", "^", "&", "\u00e9", "\U0001F600", "\n"])

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.lists(TRICKY, max_size=6).map("".join), min_size=1, max_size=5))
    def test_generated_argv_arrives_exactly(args):
        """Hypothesis-made argument lists from the characters the quoting must handle,
        each through a real hand-over (one child per example)."""
        global ARGV0
        if ARGV0 is None:
            ARGV0 = expected_argv([PY])[0]
        argv = [PY, PRINTARGS, *args]
        proc = run_py(REEXEC_PRINTARGS, json.dumps(argv), "str")
        assert proc.returncode == 0, proc.stderr
        seen = printed(proc.stdout)
        assert seen["clta"] == seen["crt"] == [ARGV0, *argv[1:]]
