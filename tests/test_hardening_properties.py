"""Property-based round trips (hypothesis): whatever argv and environment reexec() is
given, within the rules, is exactly what the new program receives, through each
fast-path tier and through the cargo fallback. Inputs that break the rules are
refused before anything runs, and the calling process is left as it was.

Each exec example is one child process, so the example counts are small and fixed
(derandomized: the same examples on every run, for CI stability)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURE_WS, PYTHON, TESTS, child_env, parse_xtask, run_python

GUARD = b"BITNET_REPAIR_PARENT"

# Text that os.fsencode can encode (no lone surrogates other than the
# surrogateescape range, which stands for undecodable bytes) and without NUL.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b""))
_escaped = st.binary(min_size=1, max_size=10).map(lambda b: os.fsdecode(b.replace(b"\0", b"\x01")))
ARG = st.one_of(_text, _bytes, _escaped)
# argv[0] is never empty: refused as os.execv refuses it (tests/test_prexec_refusals.py).
ARGV = st.tuples(ARG.filter(bool), st.lists(ARG, max_size=7)).map(lambda t: [t[0], *t[1]])
ENV_NAME = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0="), min_size=1, max_size=20),
    st.binary(min_size=1, max_size=20).map(lambda b: b.replace(b"\0", b"_").replace(b"=", b"_")),
)
ENV_VALUE = st.one_of(_text, _bytes)
ENV = st.dictionaries(ENV_NAME, ENV_VALUE, max_size=8)

EXEC_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CARGO_SETTINGS = settings(EXEC_SETTINGS, max_examples=5)
# Refusals run no process: many examples. too_slow off: generating them is cheap, but a
# full-system emulator (the kernels leg's TCG VMs) stalled one draw for 36 s.
REFUSAL_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                            suppress_health_check=[HealthCheck.too_slow])


def compile_prog(name: str, out_dir) -> str:
    out = out_dir / name
    subprocess.run(["gcc", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(TESTS / "progs" / f"{name}.c")], check=True)
    return str(out)


@pytest.fixture(scope="session")
def envdump(tmp_path_factory) -> str:
    """tests/progs/envdump.c: prints argv, the whole environ and open fds, in hex."""
    return compile_prog("envdump", tmp_path_factory.mktemp("hardening-progs"))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hardening-props")


def parse_envdump(stdout: str) -> dict:
    info: dict = {"argv": [], "env": []}
    for line in stdout.splitlines():
        key, _, value = line.partition("=")
        if key in ("argv", "env"):
            info[key].append(bytes.fromhex(value))
        elif key in ("pid", "fds"):
            info[key] = value
    return info


def expected_env(env: dict) -> list[bytes]:
    merged: dict[bytes, bytes] = {}
    for name, value in env.items():
        merged[os.fsencode(name)] = os.fsencode(value)
    merged[GUARD] = b"1"
    return [name + b"=" + value for name, value in merged.items()]


def _distinct_names(env: dict) -> bool:
    return len({os.fsencode(name) for name in env}) == len(env)


@EXEC_SETTINGS
@given(argv=ARGV, env=ENV.filter(_distinct_names), tier=st.sampled_from(["execveat", "fexecve", "path"]))
def test_fast_path_round_trips_argv_and_env(envdump, workdir, argv, env, tier):
    result = run_python(f"""
        from reexec_native import reexec
        reexec({argv!r}, executable={envdump!r}, env={env!r}, fallback=None)
    """, env=child_env(REEXEC_NATIVE_TIERS=tier), cwd=workdir, timeout=60)
    assert result.returncode == 0, result.stderr
    report = parse_envdump(result.stdout)
    assert report["argv"] == [os.fsencode(a) for a in argv]
    assert report["env"] == expected_env(env)
    assert report["fds"] == ""


@CARGO_SETTINGS
@given(args=st.lists(ARG, max_size=6))
def test_cargo_fallback_round_trips_argv(cargo_target, workdir, args):
    """The real `cargo run` on the fixture workspace: argv[1:] arrive byte for byte."""
    result = run_python(f"""
        from reexec_native import reexec, CargoRun
        reexec(["xtask", *{args!r}], executable="/nonexistent/xtask", retry_budget=0,
               fallback=CargoRun(manifest_path={str(FIXTURE_WS / 'Cargo.toml')!r}, cargo_args=["--quiet"]))
    """, env=child_env(CARGO_TARGET_DIR=str(cargo_target), CARGO=None), cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr
    xtask = parse_xtask(result.stdout)
    assert xtask["args"] == [os.fsencode(a) for a in args]
    assert xtask["guard"] == "1"


@CARGO_SETTINGS
@given(argv=ARGV, env=ENV.filter(_distinct_names))
def test_fallback_round_trips_env(envdump, workdir, argv, env):
    """The fallback child gets exactly the environment reexec() was given (+ guard):
    $CARGO is envdump, so the spawned "cargo" reports what it received."""
    result = run_python(f"""
        from reexec_native import reexec, CargoRun
        reexec({argv!r}, executable="/nonexistent/xtask", env={env!r}, retry_budget=0,
               fallback=CargoRun(cargo={envdump!r}, check_workspace=False))
    """, cwd=workdir, timeout=60)
    assert result.returncode == 0, result.stderr
    report = parse_envdump(result.stdout)
    assert report["argv"] == [envdump.encode(), b"run", b"-p", b"xtask", b"--features", b"crossval-all",
                              b"--", *[os.fsencode(a) for a in argv[1:]]]
    assert report["env"] == expected_env(env)
    assert report["fds"] == ""


# ---- inputs that break the rules: refused before anything runs -------------------

class _Recorder:
    """A fallback that records whether it was reached (it must not be)."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, argv, env):
        self.calls += 1
        raise OSError(errno.EIO, "fallback must not run")


def _process_state():
    import signal
    return (sorted(os.listdir("/proc/self/fd")), dict(os.environ), signal.getsignal(signal.SIGPIPE),
            signal.pthread_sigmask(signal.SIG_BLOCK, []), os.getcwd())


@st.composite
def bad_argv(draw):
    """An argv that breaks one rule, and the exception it must raise."""
    kind = draw(st.sampled_from(["nul-text", "nul-bytes", "empty", "type", "container"]))
    argv = draw(st.lists(ARG, min_size=1, max_size=5))
    if kind == "empty":
        return [], ValueError
    if kind == "container":
        # (None is not here: argv=None means "the current command")
        return draw(st.one_of(st.text(), st.binary(), st.integers(), st.floats())), TypeError
    index = draw(st.integers(0, len(argv) - 1))
    if kind == "type":
        argv[index] = draw(st.one_of(st.integers(), st.floats(), st.none(), st.lists(st.text(), max_size=2)))
        return argv, TypeError
    item = os.fsencode(argv[index]) if kind == "nul-bytes" else os.fsdecode(argv[index])
    at = draw(st.integers(0, len(item)))
    argv[index] = item[:at] + (b"\0" if kind == "nul-bytes" else "\0") + item[at:]
    return argv, ValueError


@st.composite
def bad_env(draw):
    env = draw(ENV)
    kind = draw(st.sampled_from(["eq-name", "empty-name", "nul-name", "nul-value", "type-value", "type-name"]))
    name = draw(ENV_NAME)
    value = draw(ENV_VALUE)
    if kind == "eq-name":
        at = draw(st.integers(0, len(name)))
        name = name[:at] + ("=" if isinstance(name, str) else b"=") + name[at:]
    elif kind == "empty-name":
        name = "" if isinstance(name, str) else b""
    elif kind == "nul-name":
        name = name + ("\0" if isinstance(name, str) else b"\0")
    elif kind == "nul-value":
        value = value + ("\0" if isinstance(value, str) else b"\0")
    elif kind == "type-value":
        value = draw(st.one_of(st.integers(), st.none(), st.floats()))
    else:
        name = draw(st.one_of(st.integers(), st.none(), st.tuples(st.text())))
    env[name] = value
    return env, (TypeError if kind.startswith("type") else ValueError)


@REFUSAL_SETTINGS
@given(case=bad_argv())
def test_bad_argv_is_refused_before_anything_runs(case):
    from reexec_native import reexec
    argv, exc = case
    before = _process_state()
    fallback = _Recorder()
    with pytest.raises(exc):
        reexec(argv, executable="/nonexistent/never-run", fallback=fallback)
    assert fallback.calls == 0
    assert _process_state() == before


@REFUSAL_SETTINGS
@given(case=bad_env())
def test_bad_env_is_refused_before_anything_runs(case):
    from reexec_native import reexec
    env, exc = case
    before = _process_state()
    fallback = _Recorder()
    with pytest.raises(exc):
        reexec(["x"], executable="/nonexistent/never-run", env=env, fallback=fallback)
    assert fallback.calls == 0
    assert _process_state() == before


# ---- E2BIG: refused up front, and the kernel's own E2BIG handled cleanly ------------

def test_argument_size_limits_match_the_kernel():
    """The per-string limit is exactly the kernel's: 131071 bytes + NUL passes the
    check, one more is refused; the total is checked against ARG_MAX."""
    from reexec_native._validate import MAX_ARG_STRLEN, arg_max, check_exec_size
    from reexec_native.errors import ArgumentListTooLongError
    check_exec_size([b"x", b"a" * (MAX_ARG_STRLEN - 1)], {})
    with pytest.raises(ArgumentListTooLongError, match=r"argv\[1\] is 131072 bytes"):
        check_exec_size([b"x", b"a" * MAX_ARG_STRLEN], {})
    check_exec_size([b"x"], {b"N": b"v" * (MAX_ARG_STRLEN - 3)})
    with pytest.raises(ArgumentListTooLongError, match="environment variable 'N'"):
        check_exec_size([b"x"], {b"N": b"v" * (MAX_ARG_STRLEN - 2)})
    limit = arg_max()
    assert limit is not None and 131072 <= limit <= 6 * 1024 * 1024
    many = [b"a" * 1000] * (limit // 1000 + 1)
    with pytest.raises(ArgumentListTooLongError, match="ARG_MAX") as info:
        check_exec_size(many, {})
    assert info.value.errno == errno.E2BIG
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)


@pytest.mark.parametrize("shape", ["one-long-arg", "one-long-env", "many-args", "many-args, pass_fds=[]",
                                   "many-args, verify"])
def test_too_long_for_exec_is_refused_before_anything_runs(shape, envdump, tmp_path):
    """Nothing is opened, logged, exec'd or spawned; the caller carries on. Also when a
    hand-over was asked for (the size is checked with its LISTEN_* variables), even an
    empty one (pass_fds=[]: failed before the fix)."""
    many = '["x"] + ["a" * 100000] * 40'
    args = {"one-long-arg": '["x", "a" * 131072]', "one-long-env": '["x"]', "many-args": many,
            "many-args, pass_fds=[]": many + ", pass_fds=[]",
            "many-args, verify": many + ', verify=["--version"]'}[shape]
    env = '{"BIG": "v" * 131072}' if shape == "one-long-env" else "None"
    result = run_python(f"""
        import errno, os, signal
        from reexec_native import reexec, CargoRun
        from reexec_native.errors import ArgumentListTooLongError
        before = (sorted(os.listdir("/proc/self/fd")), signal.getsignal(signal.SIGPIPE))
        try:
            reexec({args}, env={env}, executable={envdump!r}, fallback=CargoRun(cargo={envdump!r}))
        except ArgumentListTooLongError as e:
            print("refused errno=%d value=%s os=%s" % (e.errno, isinstance(e, ValueError), isinstance(e, OSError)))
            print("message=" + str(e))
        after = (sorted(os.listdir("/proc/self/fd")), signal.getsignal(signal.SIGPIPE))
        print("intact", before == after)
    """, cwd=tmp_path)
    assert "refused errno=7 value=True os=True" in result.stdout, result.stdout + result.stderr
    assert "intact True" in result.stdout
    assert "pid=" not in result.stdout  # neither the target nor the fallback ran
    assert "[reexec]" not in result.stderr


def test_kernel_e2big_past_the_check_is_a_clean_error(envdump, tmp_path):
    """With the pre-check out of the way (its limit source stubbed), the kernel's own
    E2BIG comes back from execveat as an OSError with .tier/.attempts, the fallback's
    spawn fails the same way, and one ReexecError carries both; the caller's signal
    state and descriptors are as before."""
    result = run_python(f"""
        import os, signal
        from reexec_native import reexec, CargoRun, ReexecError
        import reexec_native._validate as v
        v.arg_max = lambda: None
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})
        before = (sorted(os.listdir("/proc/self/fd")), signal.getsignal(signal.SIGPIPE),
                  signal.pthread_sigmask(signal.SIG_BLOCK, []))
        try:
            reexec(["x"] + ["a" * 100000] * 80, executable={envdump!r}, retry_budget=0,
                   fallback=CargoRun(cargo={envdump!r}, check_workspace=False))
        except ReexecError as e:
            print("exec_error errno=%s tier=%s attempts=%r" % (e.exec_error.errno, e.exec_error.tier,
                                                               e.exec_error.attempts))
            print("fallback_error errno=%s" % e.fallback_error.errno)
        after = (sorted(os.listdir("/proc/self/fd")), signal.getsignal(signal.SIGPIPE),
                 signal.pthread_sigmask(signal.SIG_BLOCK, []))
        print("intact", before == after)
    """, cwd=tmp_path)
    out = result.stdout
    assert "exec_error errno=7 tier=execveat attempts=(Attempt(tier='execveat', errno=7, note=None),)" in out, \
        out + result.stderr
    assert "fallback_error errno=7" in out
    assert "intact True" in out
    assert "Retry" not in result.stderr  # E2BIG is not transient
    assert "Error kind: ArgumentListTooLong (E2BIG)" in result.stderr
