"""Fault injection: each case forces the re-exec down one path, for real, in a child
process, and checks what ran (or which error came back, with its tier and every
attempt), that the caller is intact after a failure (descriptors, signal state),
and what the fallback does when cargo is missing or cannot build.

Faults come from the kernel, not from mocks: missing execute bits, a directory, a
truncated ELF, a writer holding the file (ETXTBSY), a #! script whose interpreter is
missing, a cargo that is missing or fails to build. The sandbox faults (seccomp, no
/proc, noexec mounts) are in test_hardening_faults_sandbox.py; shared helpers in
_faults.py."""


from __future__ import annotations

import errno
import shutil

import pytest

from _faults import assert_clean_failure, result_of, run_child, truncated_copy
from conftest import FIXTURE_WS, child_env

pytest_plugins = ["_faults"]  # session fixtures: seccomp_launcher, mount_ns_ok, envdump


def test_no_execute_permission(report_prog, tmp_path):
    """Refused at open by the mode check (nothing exec'd); and if the bits go away
    after the open, exec itself says EACCES."""
    target = tmp_path / "target"
    shutil.copy2(report_prog, target)
    target.chmod(0o644)
    info = result_of(run_child(f"attempt(['t'], executable={str(target)!r})", cwd=tmp_path))
    assert (info["type"], info["tier"], info["errno"]) == ("PermissionError", "open", errno.EACCES)
    assert info["kind"] == "ExecError"
    assert "no execute permission bit set" in info["message"]
    assert_clean_failure(info)
    target.chmod(0o755)
    proc = run_child(f"""
        import os
        from reexec_native import open_exe
        handle = open_exe({str(target)!r})
        os.chmod({str(target)!r}, 0o644)
        fds = _open_fds()
        try:
            handle.exec(["t"])
        except PermissionError as e:
            print("error", e.errno, e.tier, e.attempts)
        print("fds same", fds == _open_fds())
    """, cwd=tmp_path)
    assert "error 13 execveat (Attempt(tier='execveat', errno=13, note=None),)" in proc.stdout, proc.stdout + proc.stderr
    assert "fds same True" in proc.stdout


def test_directory_is_refused_at_open(tmp_path):
    info = result_of(run_child(f"attempt(['d'], executable={str(tmp_path)!r})", cwd=tmp_path))
    assert (info["type"], info["tier"], info["errno"]) == ("PermissionError", "open", errno.EACCES)
    assert "a directory" in info["message"]
    assert_clean_failure(info)


@pytest.mark.parametrize("tiers", ["execveat,fexecve,path", "fexecve", "path"])
def test_truncated_elf_is_enoexec_before_any_tier(tiers, report_prog, tmp_path):
    """Headers cut short: refused before exec by the format check, whatever the
    tiers; not retried (it will not heal), reported with a rebuild hint."""
    target = truncated_copy(report_prog, tmp_path / "truncated", 100)
    proc = run_child(f"attempt(['t'], executable={str(target)!r}, retry_budget=1)",
                     env=child_env(REEXEC_NATIVE_TIERS=tiers), cwd=tmp_path)
    info = result_of(proc)
    assert info["attempts"] == [("check", errno.ENOEXEC, None)]
    assert info["errno"] == errno.ENOEXEC
    assert "truncated ELF image: 100 bytes, but its program headers end at byte" in info["message"]
    assert "rebuild it" in info["message"]
    assert "Retry" not in proc.stderr
    assert_clean_failure(info)


def test_empty_file_is_enoexec(tmp_path):
    target = tmp_path / "empty"
    target.write_bytes(b"")
    target.chmod(0o755)
    info = result_of(run_child(f"attempt(['t'], executable={str(target)!r})", cwd=tmp_path))
    assert info["attempts"] == [("execveat", errno.ENOEXEC, None)]
    assert_clean_failure(info)


# An ELF whose headers are intact but whose body is cut short used to pass exec and
# die of SIGSEGV after the point of no return: tests/test_preflight.py shows it is
# refused now.


def test_etxtbsy_is_retried_until_the_writer_closes(report_prog, tmp_path):
    """A writer holds the file open (a copy still being written): exec gives ETXTBSY,
    reexec() retries with backoff and runs the program once the writer is gone."""
    target = tmp_path / "target"
    shutil.copy2(report_prog, target)
    started = tmp_path / "writer-started"
    proc = run_child(f"""
        import subprocess, time
        writer = subprocess.Popen(["sh", "-c", 'exec 3>>"$1"; : > "$2"; sleep 0.3', "sh",
                                  {str(target)!r}, {str(started)!r}])
        while not os.path.exists({str(started)!r}):
            time.sleep(0.005)
        reexec(["report", "after-busy"], executable={str(target)!r}, fallback=None, retry_budget=5)
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "argv[1]=" + b"after-busy".hex() in proc.stdout
    assert "[reexec] Retry 1 in 5 ms: ETXTBSY at tier execveat" in proc.stderr


def test_etxtbsy_beyond_the_budget_is_a_clean_error(report_prog, tmp_path):
    target = tmp_path / "target"
    shutil.copy2(report_prog, target)
    proc = run_child(f"""
        w = open({str(target)!r}, "ab")
        attempt(["report"], executable={str(target)!r}, retry_budget=0.1)
        w.close()
    """, cwd=tmp_path)
    info = result_of(proc)
    assert info["errno"] == errno.ETXTBSY and info["tier"] == "execveat"
    assert "Wait for the process writing" in info["message"]
    assert "[reexec] Retry 1 in 5 ms: ETXTBSY" in proc.stderr
    assert_clean_failure(info)


def test_script_with_a_missing_interpreter(tmp_path):
    """#!/nonexistent/interp: refused before exec (ENOENT naming the interpreter):
    that is not a build tool's swap, so it is not retried, and the error says the
    interpreter is missing."""
    script = tmp_path / "script"
    script.write_text("#!/nonexistent/interp\necho never\n")
    script.chmod(0o755)
    proc = run_child(f"attempt(['script'], executable={str(script)!r}, retry_budget=1)", cwd=tmp_path)
    info = result_of(proc)
    assert info["type"] == "FileNotFoundError"
    assert info["attempts"] == [("check", errno.ENOENT, "needs-interpreter")]
    assert "Retry" not in proc.stderr
    assert "interpreter" in info["message"]
    assert "Rebuild the program so that" not in info["message"]
    assert_clean_failure(info)


# ---- the fallback fails --------------------------------------------------------------

def test_cargo_missing_from_env_var(tmp_path):
    proc = run_child("attempt(['xtask', 'a'], executable='/nonexistent/xtask', retry_budget=0, "
                     "fallback=CargoRun())", env=child_env(CARGO=str(tmp_path / "no-cargo")), cwd=tmp_path)
    info = result_of(proc)
    assert (info["fallback_type"], info["fallback_stage"]) == ("FileNotFoundError", "cargo-not-found")
    assert f"cargo not found at {tmp_path / 'no-cargo'} (from $CARGO)" in info["message"]
    assert "Or set CARGO to the full path" in info["message"]
    assert_clean_failure(info)


def test_cargo_not_executable(tmp_path):
    fake = tmp_path / "cargo"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o644)
    proc = run_child(f"attempt(['xtask'], executable='/nonexistent/xtask', retry_budget=0, "
                     f"fallback=CargoRun(cargo={str(fake)!r}))", cwd=tmp_path)
    info = result_of(proc)
    assert (info["fallback_type"], info["fallback_stage"]) == ("FileNotFoundError", "cargo-not-found")
    assert_clean_failure(info)


@pytest.mark.cargo
def test_cargo_build_failure_exits_with_cargos_code(tmp_path):
    """A temp copy of the fixture workspace with a compile error: cargo run fails
    (exit 101), the parent leaves with 101 and cargo's diagnostics reach stderr."""
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, ws, ignore=shutil.ignore_patterns("target"))
    main = ws / "xtask" / "src" / "main.rs"
    main.write_text(main.read_text() + "\nfn broken() -> u32 { \"not a number\" }\n")
    proc = run_child(f"""
        reexec(["xtask", "a"], executable="/nonexistent/xtask", retry_budget=0,
               fallback=CargoRun(manifest_path={str(ws / 'Cargo.toml')!r}, cargo_args=["--offline"]))
    """, env=child_env(CARGO_TARGET_DIR=str(tmp_path / "target"), CARGO=None), cwd=tmp_path, timeout=240)
    assert proc.returncode == 101, proc.stderr
    assert "mismatched types" in proc.stderr or "could not compile" in proc.stderr
    assert "[reexec] Fallback child exited with code: 101" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "xtask-fixture" not in proc.stdout


# ---- no descriptor is left behind by a failed exec, whatever the tier ------------------

@pytest.mark.parametrize("tiers", ["execveat", "fexecve", "path", "execveat,fexecve,path"])
def test_failed_exec_leaves_no_descriptor(tiers, report_prog, tmp_path):
    """Many failures in a row (ENOEXEC; and a script refused by the fd tiers) and
    the process has exactly the descriptors it had before."""
    bad = truncated_copy(report_prog, tmp_path / "bad", 64)
    script = tmp_path / "script"
    script.write_text("#!/nonexistent/interp\n")
    script.chmod(0o755)
    proc = run_child(f"""
        from reexec_native import open_exe
        before = _open_fds()
        for i in range(50):
            for target in ({str(bad)!r}, {str(script)!r}):
                try:
                    reexec(["x"], executable=target, fallback=None, retry_budget=0)
                except ReexecError:
                    pass
                with open_exe(target) as h:
                    try:
                        h.exec(["x"])
                    except OSError:
                        pass
        print("fds", before == _open_fds(), before, _open_fds())
    """, env=child_env(REEXEC_NATIVE_TIERS=tiers), cwd=tmp_path)
    assert "fds True" in proc.stdout, proc.stdout + proc.stderr
