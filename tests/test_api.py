"""Pure-Python parts, in process: input checks, the cargo command, error messages,
the tier seam. Nothing here execs."""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys

import pytest

import reexec_native
from reexec_native import (
    ArgumentListTooLongError,
    Attempt,
    CargoRun,
    ExecError,
    FallbackError,
    ReexecError,
    _binding,
    open_exe,
    reexec,
)
from reexec_native._binding import TIER_BITS as TIERS
from reexec_native._binding import requested_tiers, supported_tiers
from reexec_native._reexec import failure
from reexec_native.cargo import format_command
from reexec_native.errors import TIERS as TIER_NAMES


@pytest.mark.parametrize("argv, exc", [
    ([], ValueError),
    ("prog", TypeError),
    (b"prog", TypeError),
    (["prog", 3], TypeError),
    (["prog", None], TypeError),
    (["prog", "a\0b"], ValueError),
    ([b"prog\0"], ValueError),
    (42, TypeError),
])
def test_bad_argv_is_refused_before_anything_runs(argv, exc, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(exc, match="argv"):
        reexec(argv, executable=f"/bin/sh -c 'touch {marker}'", fallback=None)
    assert not marker.exists()


@pytest.mark.parametrize("env, exc, match", [
    ({"": "x"}, ValueError, "empty"),
    ({"A=B": "x"}, ValueError, "'='"),
    ({"A\0": "x"}, ValueError, "NUL"),
    ({"A": "x\0y"}, ValueError, "NUL"),
    ({"A": 1}, TypeError, "str or bytes"),
    ({1: "x"}, TypeError, "str or bytes"),
    ([("A", "x")], TypeError, "mapping"),
])
def test_bad_env_is_refused(env, exc, match):
    with pytest.raises(exc, match=match):
        reexec(["x"], executable="/bin/true", env=env, fallback=None)


@pytest.mark.parametrize("kwargs, exc", [
    ({"executable": ""}, ValueError),
    ({"executable": "a\0b"}, ValueError),
    ({"executable": 3}, TypeError),
    ({"guard": ""}, ValueError),
    ({"guard": "A=B"}, ValueError),
    ({"guard": 1}, TypeError),
    ({"retry_budget": -1}, ValueError),
    ({"retry_budget": float("nan")}, ValueError),
    ({"retry_budget": "1"}, TypeError),
    ({"retry_budget": True}, TypeError),
    ({"fallback": "cargo"}, TypeError),
])
def test_bad_options_are_refused(kwargs, exc):
    with pytest.raises(exc):
        reexec(["x"], **{"executable": "/bin/true", "fallback": None, **kwargs})


def test_cargo_command_default_is_the_spec_command():
    cmd = CargoRun(cargo="cargo").command(["xtask", "preflight", "--backend", "bitnet"])
    assert cmd == ["cargo", "run", "-p", "xtask", "--features", "crossval-all", "--",
                   "preflight", "--backend", "bitnet"]


def test_cargo_command_options(monkeypatch):
    monkeypatch.setenv("CARGO", "/opt/rust/bin/cargo")
    cmd = CargoRun(package="tool", features=("a", "b"), bin="main", manifest_path="ws/Cargo.toml",
                   cargo_args=["--release"]).command(["argv0", "--", "x"])
    assert cmd == ["/opt/rust/bin/cargo", "run", "-p", "tool", "--features", "a,b", "--bin", "main",
                   "--manifest-path", "ws/Cargo.toml", "--release", "--", "--", "x"]
    assert CargoRun(features=()).command(["a"])[2:] == ["-p", "xtask", "--"]


@pytest.mark.parametrize("kwargs, exc", [
    ({"features": "crossval-all"}, TypeError),
    ({"features": [1]}, TypeError),
    ({"cargo_args": ["a\0"]}, ValueError),
    ({"package": ""}, ValueError),
    ({"bin": 3}, TypeError),
])
def test_cargo_run_checks_its_options(kwargs, exc):
    with pytest.raises(exc):
        CargoRun(**kwargs)


def test_cargo_missing_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(f"'cargo' not found on PATH={str(tmp_path)!r}")):
        CargoRun().resolve_cargo()
    monkeypatch.setenv("CARGO", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=r"cargo not found at .*nope \(from \$CARGO\)"):
        CargoRun().resolve_cargo()


def test_fallback_command_is_logged_like_the_spec():
    cmd = ["cargo", "run", "-p", "xtask", "--features", "crossval-all", "--", "preflight", "a b", b"\xff"]
    assert format_command(cmd) == ('cargo run -p xtask --features crossval-all -- '
                                   '["preflight", "a b", "\\\\xff"]')


@pytest.mark.parametrize("arg", ["", "plain", 'quo"te', "back\\slash", "tab\tnew\nline\r", "\x00\x01\x1f\x7f",
                                 "\b\f", "é中\U0001f600", "\u2028\u2029", "\udcff", "/"])
def test_the_logged_arguments_are_what_json_writes(arg):
    """The spec's line writes the arguments as json.dumps(..., ensure_ascii=False) would,
    without importing json on the fallback's path."""
    import json

    from reexec_native._log import shown  # bytes that are not UTF-8 as \\xNN first

    cmd = ["cargo", "run", "--", arg, "x"]
    assert format_command(cmd) == "cargo run -- " + json.dumps([shown(arg), "x"], ensure_ascii=False)


def test_which_finds_cargo_as_shutil_does(tmp_path, monkeypatch):
    """resolve_cargo's own PATH search (POSIX): the first executable, non-directory match."""
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "cargo").mkdir(parents=True)  # a directory named cargo: skipped
    second.mkdir()
    (second / "cargo").write_text("#!/bin/sh\n")
    (second / "cargo").chmod(0o755)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cargo").write_text("not executable")
    monkeypatch.setenv("PATH", os.pathsep.join(map(str, (tmp_path / "c", first, second))))
    monkeypatch.delenv("CARGO", raising=False)
    assert CargoRun().resolve_cargo() == shutil.which("cargo") == str(second / "cargo")


def test_reexec_error_message_has_both_causes_and_fitting_steps():
    """The message reexec() raises (its failure()): both causes, and the recovery steps
    written by their owners (cargo's by stage, the fast path's by errno)."""
    exec_error = FileNotFoundError(errno.ENOENT, "No such file or directory", "/w/target/debug/xtask")
    fallback_error = FallbackError.of(errno.ENOENT, "'cargo' not found on PATH", "cargo", stage="cargo-not-found",
                                      mode="run")
    message = str(failure(exec_error, fallback_error, " ".join(CargoRun(cargo="cargo").build_command())))
    assert message.splitlines()[:3] == [
        "Re-exec failed: exec() and cargo run both failed.",
        "exec() error: [Errno 2] No such file or directory: '/w/target/debug/xtask' (kind: NotFound (ENOENT))",
        "cargo run error: [Errno 2] 'cargo' not found on PATH: 'cargo'",
    ]
    assert "  1. Install Rust and cargo" in message
    assert "exists again: `cargo build -p xtask --features crossval-all`." in message
    busy = str(failure(OSError(errno.ETXTBSY, "Text file busy", "/x")))
    assert busy.startswith("Re-exec failed: exec() failed and no fallback was tried.")
    assert "Wait for the process writing /x to finish" in busy


def test_recovery_steps_follow_the_fallback_stage_and_mode_not_the_class():
    """A cargo that builds but reports no binary (a FileNotFoundError too) is not told
    to install Rust; build-exec is named as such; a custom fallback's error is quoted."""
    exec_error = FileNotFoundError(errno.ENOENT, "No such file or directory", "/w/target/debug/xtask")
    no_artifact = FallbackError.of(errno.ENOENT, "cargo build reported no executable for bin 'x'", None,
                                   stage="no-artifact", mode="build-exec", command="cargo build -p xtask")
    assert isinstance(no_artifact, FileNotFoundError) and no_artifact.stage == "no-artifact"
    message = str(failure(exec_error, no_artifact))
    assert message.splitlines()[0] == "Re-exec failed: exec() and cargo build fallback both failed."
    assert "cargo build fallback error: [Errno 2] cargo build reported no executable" in message
    assert "Install Rust" not in message
    assert "1. `cargo build -p xtask` succeeded but cargo build reported no executable" in message
    custom = str(failure(exec_error, FileNotFoundError(errno.ENOENT, "gone", "tool")))
    assert "exec() and the fallback both failed" in custom and "Install Rust" not in custom
    assert "1. Check that the fallback command can start: [Errno 2] gone: 'tool'." in custom


def test_reexec_error_is_an_oserror_with_the_fast_path_errno():
    exec_error = ExecError.of(errno.ENOENT, "No such file or directory (opening for exec)", "/w/x", tier="open",
                              attempts=[Attempt("open", errno.ENOENT)])
    err = ReexecError(exec_error=exec_error)
    assert isinstance(err, OSError) and isinstance(err, RuntimeError)  # RuntimeError: 0.1's, deprecated
    assert (err.errno, err.filename) == (errno.ENOENT, "/w/x")
    assert str(err).startswith("Re-exec failed:")
    with pytest.warns(DeprecationWarning, match="backend"):
        assert err.backend == "unknown"
    with pytest.warns(DeprecationWarning, match="backend"):
        ReexecError("x", backend="cargo")
    assert ReexecError("refused").errno is None
    with pytest.warns(DeprecationWarning, match="rebuild_command"):
        ReexecError(exec_error=exec_error, rebuild_command="cargo build")


def test_exec_error_is_the_builtin_subclass_of_its_errno_and_names_a_known_tier():
    missing = ExecError.of(errno.ENOENT, "gone", "/x", tier="path", attempts=[Attempt("path", 2, "needs-interpreter")])
    assert isinstance(missing, FileNotFoundError) and isinstance(missing, ExecError)
    assert missing.attempts[0].note == "needs-interpreter" and missing.attempts[0] == ("path", 2, "needs-interpreter")
    assert type(ExecError.of(errno.E2BIG, "long", "/x", tier="execveat")) is ExecError
    assert isinstance(ExecError.of(errno.EACCES, "no", "/x", tier="check"), PermissionError)
    with pytest.raises(ValueError, match="unknown tier 'snapshot-memfd'"):
        ExecError(errno.EIO, "x", tier="snapshot-memfd")
    import pickle

    again = pickle.loads(pickle.dumps(missing))
    assert type(again) is type(missing) and again.filename == "/x"
    # In a new process, where no ExecError_FileNotFoundError was made yet.
    import subprocess

    loaded = subprocess.run([sys.executable, "-P", "-c", "import pickle, sys; e = pickle.loads(sys.stdin.buffer.read()); "
                             "print(type(e).__name__, isinstance(e, FileNotFoundError), e.tier, e.attempts[0].note)"],
                            input=pickle.dumps(missing), capture_output=True, check=True)
    assert loaded.stdout.decode().split() == ["ExecError_FileNotFoundError", "True", "path", "needs-interpreter"]
    assert set(TIER_NAMES) >= {"open", "check", "execveat", "fexecve", "path", "createprocess", "snapshot", "none"}


def test_tier_seam_parses_and_rejects_unknown_names():
    assert requested_tiers({"REEXEC_NATIVE_TIERS": "fexecve,path"}) == TIERS["fexecve"] | TIERS["path"]
    assert requested_tiers({}) == supported_tiers()
    with pytest.raises(ValueError, match="unknown tier 'bogus'"):
        requested_tiers({"REEXEC_NATIVE_TIERS": "path,bogus"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux tiers")
def test_linux_build_supports_all_posix_tiers():
    assert supported_tiers() == TIERS["execveat"] | TIERS["fexecve"] | TIERS["path"]


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="elsewhere sys.executable may be a venv launcher or an unresolved link")
def test_current_exe_is_the_running_interpreter():
    assert reexec_native.current_exe() == os.path.realpath(sys.executable)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes and /bin/sh (tests/windows covers Windows)")
def test_open_exe_reports_identity_and_refuses_non_executables(tmp_path):
    with open_exe("/bin/sh") as handle:
        st = os.stat("/bin/sh")
        assert (handle.st_dev, handle.st_ino, handle.st_mode) == (st.st_dev, st.st_ino, st.st_mode)
        assert handle.fd >= 0 and handle.path == "/bin/sh"
    assert handle.closed
    with pytest.raises(PermissionError, match="a directory"):
        open_exe(tmp_path)
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(PermissionError, match="no execute permission") as info:
        open_exe(plain)
    assert info.value.filename == str(plain)
    with pytest.raises(FileNotFoundError) as info:
        open_exe(tmp_path / "missing")
    assert info.value.filename == str(tmp_path / "missing")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/exe")
@pytest.mark.proc_self_exe
def test_open_self_pins_the_running_image():
    with open_exe() as handle:
        assert handle.st_ino == os.stat("/proc/self/exe").st_ino


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")
def test_handles_do_not_leak_descriptors():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(500):
        open_exe("/bin/sh").close()
    for _ in range(100):
        try:
            open_exe("/nonexistent")
        except FileNotFoundError:
            pass
    assert len(os.listdir("/proc/self/fd")) == before


def test_exec_of_a_closed_handle_is_refused():
    handle = open_exe(sys.executable)
    handle.close()
    with pytest.raises(ValueError, match="closed"):
        handle.exec(["true"])


@pytest.mark.parametrize("strings", [[b""], [b"a"], [b"", b""], [b"prog", b"", b"x=1"], [b"ab"] * 1000,
                                     [b"a" * 70000, b"b", b"c" * 131072]])
def test_the_c_core_measures_joined_strings(strings):
    """reexec_strings: how many NUL-separated strings and the longest, in one C pass (the
    exec size check's numbers)."""
    assert _binding.string_sizes(b"\0".join(strings)) == (len(strings), max(map(len, strings)))


@pytest.mark.skipif(sys.platform != "linux", reason="the POSIX size check")
def test_the_exec_size_total_is_exact(monkeypatch):
    """The total the check compares with ARG_MAX is the kernel's count, per string and
    pointer, made from joined lists: at the limit it passes, one byte under it refuses."""
    from reexec_native import _validate

    pointer = 8 if sys.maxsize > 2**32 else 4

    def kernels_count(argv, env):
        return (_validate._FILENAME_RESERVE + sum(len(a) + 1 + pointer for a in argv)
                + sum(len(n) + len(v) + 2 + pointer for n, v in env.items()) + 2 * pointer)

    for argv, env in (([b"prog", b"", b"a" * 300], {b"N": b"v", b"EMPTY": b"", b"X" * 50: b"y" * 9}),
                      ([b"x"], {})):
        total = kernels_count(argv, env)
        monkeypatch.setattr(_validate, "arg_max", lambda total=total: total)
        _validate.check_exec_size(argv, env)
        monkeypatch.setattr(_validate, "arg_max", lambda total=total: total - 1)
        with pytest.raises(ArgumentListTooLongError):
            _validate.check_exec_size(argv, env)


def test_the_c_vector_points_at_each_packed_string_and_refuses_a_count_mismatch():
    """reexec_vector: one buffer, one vector, exactly `count` strings (a NUL inside an
    item would make more: refused, never a silently shifted argv)."""
    from reexec_native import _binding

    buf, vec = _binding.c_vector([b"prog", b"", b"x=1"], 3)
    assert [_binding.ffi.string(vec[i]) for i in range(3)] == [b"prog", b"", b"x=1"]
    assert vec[3] == _binding.ffi.NULL
    _, empty = _binding.c_vector([], 0)
    assert empty[0] == _binding.ffi.NULL
    with pytest.raises(ValueError, match="NUL"):
        _binding.c_vector([b"a\0b"], 1)
    with pytest.raises(ValueError, match="NUL"):
        _binding.c_vector(iter([b"a", b"b"]), 3)  # fewer strings than counted
    assert buf  # the vector pointed into it until here


@pytest.mark.parametrize("items, message", [
    (["prog", "ok", "bad\0"], r"argv\[2\] contains a NUL byte"),
    (["prog", b"ok", 3], r"argv\[2\] must be str or bytes, not int"),
    (["prog", b"bytes-and-str"], None),
])
def test_argv_checks_name_the_item_after_the_one_pass_conversion(items, message):
    from reexec_native import _validate

    if message is None:
        assert _validate.argv_bytes(items) == [b"prog", b"bytes-and-str"]
        return
    with pytest.raises((TypeError, ValueError), match=message):
        _validate.argv_bytes(items)


def test_env_one_pass_conversion_matches_the_checked_one():
    from reexec_native import _validate

    env = {"A": "1", "EMPTY": "", "U": "\udcff-surrogate-escaped", "EQ": "a=b"}
    assert _validate.env_bytes(env) == {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    for bad, message in (({"A=B": "1"}, "contains '='"), ({"": "1"}, "must not be empty"),
                         ({"A": "1\0"}, "NUL byte")):
        with pytest.raises(ValueError, match=message):
            _validate.env_bytes(bad)
