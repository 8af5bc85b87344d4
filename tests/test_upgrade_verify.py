"""reexec(verify=[...]): the opened image runs as a child first; only if it exits 0 in
time is it executed, else VerifyError and the old process carries on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import child_env, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="verify runs through the C core's fork")


def test_verify_passes_then_the_program_runs(report_prog):
    result = run_python(f"""
        import os
        from reexec_native import reexec
        print("parent pid=%d" % os.getpid(), flush=True)
        reexec(["report", "real-run"], executable={str(report_prog)!r}, fallback=None,
               verify=["verify-run"], env={{"REPORT_EXIT": "0"}})
    """)
    assert result.returncode == 0, result.stderr
    assert "[reexec] Verify: " in result.stderr and " verify-run (timeout 5.0 s)" in result.stderr
    assert "[reexec] Verify: passed (exit 0 in " in result.stderr
    # Only the real run's output reaches stdout: the verify run's is captured.
    assert result.stdout.count("report pid=") == 1
    parent = result.stdout.split("parent pid=")[1].split()[0]
    assert f"report pid={parent}" in result.stdout
    assert bytes.hex(b"real-run") in result.stdout and bytes.hex(b"verify-run") not in result.stdout


@pytest.fixture
def missing_library_prog(tmp_path):
    """A program that links, then loses its shared library: the kernel execs it
    fine, and ld.so kills it right after (exit 127), past the point of no return."""
    (tmp_path / "lib.c").write_text("int answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text("int answer(void);\nint main(void) { return answer() - 42; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libgone.so"), str(tmp_path / "lib.c")], check=True)
    prog = tmp_path / "prog"
    subprocess.run(["gcc", "-o", str(prog), str(tmp_path / "main.c"), f"-L{tmp_path}", "-lgone",
                    f"-Wl,-rpath,{tmp_path}"], check=True)
    assert subprocess.run([str(prog)]).returncode == 0
    (tmp_path / "libgone.so").unlink()
    return prog


def test_a_binary_that_dies_at_start_is_refused_and_the_old_process_carries_on(missing_library_prog):
    """The upgrade that would have killed the server: without verify, the exec
    succeeds and the process dies (127); with verify, VerifyError, same process."""
    bare = subprocess.run([sys.executable, "-c", f"""
import reexec_native
reexec_native.reexec(["prog"], executable={str(missing_library_prog)!r}, fallback=None)
"""], capture_output=True, text=True)
    assert bare.returncode == 127 and "libgone.so" in bare.stderr  # the control: lost
    result = run_python(f"""
        import os
        from reexec_native import reexec, VerifyError, ReexecError
        try:
            reexec(["prog"], executable={str(missing_library_prog)!r}, fallback=None, verify=["--version"])
        except VerifyError as exc:
            assert isinstance(exc, ReexecError)
            print("refused returncode=%s timed_out=%s" % (exc.returncode, exc.timed_out))
            print("tail has lib:", "libgone.so" in exc.stderr_tail)
            print("message has lib:", "libgone.so" in str(exc))
        print("still here pid=%d" % os.getpid())
    """)
    assert result.returncode == 0, result.stderr
    assert "refused returncode=127 timed_out=False" in result.stdout
    assert "tail has lib: True" in result.stdout and "message has lib: True" in result.stdout
    assert "still here" in result.stdout
    assert "[reexec] Verify: failed: exited with status 127" in result.stderr


def test_verify_timeout_kills_the_child_and_refuses(python_copy):
    result = run_python(f"""
        import time
        from reexec_native import reexec, VerifyError
        started = time.monotonic()
        try:
            reexec([{str(python_copy)!r}, "-c", "print('real')"], executable={str(python_copy)!r},
                   fallback=None, verify=["-c", "import time; time.sleep(60)"], verify_timeout=0.5)
        except VerifyError as exc:
            print("timed_out=%s returncode=%s fast=%s" % (exc.timed_out, exc.returncode,
                  time.monotonic() - started < 10))
    """)
    assert "timed_out=True returncode=None fast=True" in result.stdout, result.stdout + result.stderr
    assert "did not exit within 0.5 s (killed)" in result.stderr


def test_what_was_verified_is_what_runs(python_copy, tmp_path):
    """The verify run itself replaces the file at the path (as a build finishing
    then would): the real exec still runs the inode that was verified."""
    other = tmp_path / "other"
    shutil.copy2(python_copy, other)
    seen = tmp_path / "verified-ino"
    verify_code = (f"import os; open({str(seen)!r}, 'w').write(str(os.stat('/proc/self/exe').st_ino)); "
                   f"os.rename({str(other)!r}, {str(python_copy)!r})")
    result = run_python(f"""
        from reexec_native import reexec
        reexec([{str(python_copy)!r}, "-c", "import os; print('ran ino=%d' % os.stat('/proc/self/exe').st_ino)"],
               executable={str(python_copy)!r}, fallback=None, verify=["-c", {verify_code!r}])
    """)
    assert result.returncode == 0, result.stderr
    ran = int(result.stdout.split("ran ino=")[1].split()[0])
    assert ran == int(seen.read_text())
    assert ran != os.stat(python_copy).st_ino  # the path now names the other file


def test_verify_child_gets_no_passed_descriptors_and_no_stdin(python_copy):
    result = run_python(f"""
        import os, socket
        from reexec_native import reexec
        sock = socket.create_server(("127.0.0.1", 0))
        code = ("import os, sys; fds = sorted(int(n) for n in os.listdir('/proc/self/fd') if int(n) > 2); "
                "sys.exit(0 if not [f for f in fds if os.path.exists(f'/proc/self/fd/{{f}}') and "
                "os.readlink(f'/proc/self/fd/{{f}}').startswith('socket:')] and sys.stdin.read() == '' "
                "and 'LISTEN_FDS' not in os.environ else 9)")
        reexec([{str(python_copy)!r}, "-c", "import os; print('real', os.environ['LISTEN_FDS'])"],
               executable={str(python_copy)!r}, fallback=None, listen_fds=[sock], verify=["-c", code])
    """)
    assert result.returncode == 0, result.stderr
    assert "real 1" in result.stdout


def test_a_verify_run_with_no_tier_to_run_it_leaks_no_descriptor(tmp_path):
    """A sealed copy has no path: with only the path tier allowed, the verify child cannot
    be started by any tier. The ExecError (ENOSYS, tier "none") is raised before the point
    of no return, and the verify run's pipes are closed (leaked before the fix)."""
    result = run_python(f"""
        import os
        from reexec_native import reexec
        before = sorted(os.listdir("/proc/self/fd"))
        try:
            reexec(["true"], executable={shutil.which("true")!r}, fallback=None, snapshot="required",
                   verify=["--version"], retry_budget=0)
        except OSError as exc:
            print("refused", type(exc).__name__, getattr(exc.exec_error, "tier", None))
        print("intact", sorted(os.listdir("/proc/self/fd")) == before)
    """, cwd=tmp_path, env=child_env(REEXEC_NATIVE_TIERS="path"))
    assert "intact True" in result.stdout, result.stdout + result.stderr
    assert "refused ReexecError" in result.stdout, result.stdout + result.stderr
