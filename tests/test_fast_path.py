"""The fast path, run for real in child processes: the process is replaced by the
program that was opened, through each tier, with argv, env and signals intact."""

from __future__ import annotations

import shutil
import signal

import pytest

from conftest import child_env, parse_report, run_python

TRICKY_ARGS = ["with space", "", "ünïcødé ☃", "new\nline", "-leading-dash", "--",
               "--flag=x", "tab\there", "quote\"s'", "back\\slash\\"]


@pytest.mark.proc_self_exe
def test_binary_replaced_while_running_runs_the_new_binary(python_copy, report_prog, tmp_path):
    """The seed scenario: the running program's file is replaced (rename, as a build
    tool does); current_exe() reads '... (deleted)', and the fast path still runs the
    new file, with no cargo."""
    new_binary = tmp_path / "new"
    shutil.copy2(report_prog, new_binary)
    result = run_python(f"""
        import os
        from reexec_native import reexec, CargoRun, current_exe
        print("parent pid=%d" % os.getpid(), flush=True)
        os.rename({str(new_binary)!r}, {str(python_copy)!r})
        assert os.readlink("/proc/self/exe").endswith(" (deleted)")
        print("current_exe=" + current_exe(), flush=True)
        reexec(["prog", "a", "b c"], fallback=CargoRun(cargo="/nonexistent/cargo"))
    """, python=str(python_copy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["current_exe"] == str(python_copy)
    assert report["report pid"] == report["parent pid"]
    assert report["argv"] == [b"prog", b"a", b"b c"]
    assert report["guard"] == "1"
    assert f"[reexec] Fast path: {python_copy}\n" in result.stderr
    assert "[reexec] Binary exists: YES\n" in result.stderr
    assert "[reexec] Attempting exec()...\n" in result.stderr
    assert "cargo" not in result.stderr


@pytest.mark.parametrize("tier", [pytest.param("execveat", marks=pytest.mark.fd_exec),
                                  pytest.param("fexecve", marks=pytest.mark.fd_exec), "path"])
def test_each_tier_runs_the_program(tier, report_prog, tmp_path):
    result = run_python(f"""
        from reexec_native import reexec
        reexec(["report", *{TRICKY_ARGS!r}], executable={str(report_prog)!r}, fallback=None)
    """, env=child_env(REEXEC_NATIVE_TIERS=tier), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["argv"] == [b"report"] + [a.encode() for a in TRICKY_ARGS]
    # The kernel records how the program was named: a descriptor for the fd tiers.
    if tier == "path":
        assert report["execfn"] == str(report_prog)
    else:
        assert report["execfn"].startswith("/dev/fd/")


def test_only_the_forced_tier_is_tried(tmp_path):
    """REEXEC_NATIVE_TIERS restricts the C core: a #! script through fexecve alone is
    refused (not a verified ELF: step 6), and nothing else is tried."""
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho script-ran\n")
    script.chmod(0o755)
    result = run_python(f"""
        from reexec_native import reexec, ReexecError
        try:
            reexec(["script"], executable={str(script)!r}, fallback=None, retry_budget=1)
        except ReexecError as e:
            print("tier=" + e.exec_error.tier)
            print("attempts=%r" % (e.exec_error.attempts,))
            print("errno=%d" % e.exec_error.errno)
    """, env=child_env(REEXEC_NATIVE_TIERS="fexecve"), cwd=tmp_path)
    assert "script-ran" not in result.stdout
    assert "tier=fexecve" in result.stdout
    assert "attempts=(Attempt(tier='fexecve', errno=2, note='not-elf'),)" in result.stdout, result.stdout
    assert "Retry" not in result.stderr  # a script is not a transient ENOENT


@pytest.mark.fd_exec
def test_handle_runs_what_was_opened_even_after_a_swap(report_prog, tmp_path):
    """open_exe() pins the file: replacing the path afterwards does not change what
    runs (fd tiers); the path tier notices the swap and refuses (ESTALE)."""
    target = tmp_path / "target"
    shutil.copy2(report_prog, target)
    code = f"""
        import os, shutil
        from reexec_native import open_exe
        handle = open_exe({str(target)!r})
        shutil.copy2("/bin/true", {str(target)!r} + ".new")
        os.rename({str(target)!r} + ".new", {str(target)!r})
        try:
            handle.exec(["report", "pinned"])
        except OSError as e:
            print("error=%s tier=%s attempts=%r" % (type(e).__name__, e.tier, e.attempts))
    """
    pinned = run_python(code, cwd=tmp_path, env=child_env(REEXEC_NATIVE_TIERS="execveat,fexecve"))
    assert parse_report(pinned.stdout)["argv"] == [b"report", b"pinned"]
    by_path = run_python(code, cwd=tmp_path, env=child_env(REEXEC_NATIVE_TIERS="path"))
    assert "report pid" not in by_path.stdout
    assert ("error=ExecError tier=path attempts=(Attempt(tier='path', errno=116, note='identity-changed'),)"
            in by_path.stdout), by_path.stdout


def test_script_target_runs_with_its_path_as_dollar_zero(tmp_path):
    """A #! script: execveat gives ENOENT (close-on-exec fd), the path tier runs it
    after checking the path still names the same file."""
    script = tmp_path / "script.sh"
    script.write_text('#!/bin/sh\necho "script-ran 0=$0 1=$1 guard=$BITNET_REPAIR_PARENT"\nls /proc/self/fd\n')
    script.chmod(0o755)
    result = run_python(f"""
        from reexec_native import reexec
        reexec(["script.sh", "one arg"], executable={str(script)!r}, fallback=None)
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"script-ran 0={script} 1=one arg guard=1" in result.stdout


def test_new_process_gets_clean_fds_signals_and_all_output(report_prog, tmp_path):
    """No stray descriptors, SIGPIPE/SIGXFSZ not ignored, no blocked signals, and
    output Python still had buffered is not lost."""
    result = run_python(f"""
        import signal, sys
        from reexec_native import reexec
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1, signal.SIGTERM}})
        assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's default
        print("buffered-before-exec", end="")
        reexec(["report"], executable={str(report_prog)!r}, fallback=None)
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("buffered-before-exec")
    report = parse_report(result.stdout.removeprefix("buffered-before-exec"))
    assert report["fds"] == "0,1,2,"
    assert report["SigIgn"] & (1 << (signal.SIGPIPE - 1)) == 0
    assert report["SigIgn"] & (1 << (signal.SIGXFSZ - 1)) == 0
    assert report["SigBlk"] == 0


def test_failed_exec_restores_python_signal_state(tmp_path):
    noexec = tmp_path / "not-executable"
    noexec.write_text("data")
    noexec.chmod(0o755)  # passes the mode check, but the kernel refuses it (ENOEXEC)
    result = run_python(f"""
        import os, signal
        from reexec_native import open_exe
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})
        before = (signal.getsignal(signal.SIGPIPE), signal.pthread_sigmask(signal.SIG_BLOCK, []))
        fds_before = sorted(os.listdir("/proc/self/fd"))
        with open_exe({str(noexec)!r}) as handle:
            try:
                handle.exec(["x"])
            except OSError as e:
                print("error", e.errno, e.tier)
        after = (signal.getsignal(signal.SIGPIPE), signal.pthread_sigmask(signal.SIG_BLOCK, []))
        print("restored", before == after)
        print("fds same", fds_before == sorted(os.listdir("/proc/self/fd")))
    """, cwd=tmp_path)
    assert "error 8 execveat" in result.stdout, result.stdout + result.stderr
    assert "restored True" in result.stdout
    assert "fds same True" in result.stdout


def test_exec_from_a_non_main_thread(report_prog, tmp_path):
    result = run_python(f"""
        import os, threading
        from reexec_native import reexec
        print("parent pid=%d" % os.getpid(), flush=True)
        t = threading.Thread(target=reexec, args=(["report", "from-thread"],),
                             kwargs=dict(executable={str(report_prog)!r}, fallback=None))
        t.start(); t.join()
    """, cwd=tmp_path)
    report = parse_report(result.stdout)
    assert report["argv"] == [b"report", b"from-thread"], result.stderr
    assert report["report pid"] == report["parent pid"]


def test_recursion_guard_refuses_and_runs_nothing(report_prog, tmp_path):
    result = run_python(f"""
        from reexec_native import reexec, RecursionGuardError
        try:
            reexec(["report"], executable={str(report_prog)!r})
        except RecursionGuardError as e:
            print("refused:", e)
    """, env=child_env(BITNET_REPAIR_PARENT="1"), cwd=tmp_path)
    assert "refused: Refusing to re-exec: BITNET_REPAIR_PARENT=1 is already set" in result.stdout
    assert "report pid" not in result.stdout
    assert "[reexec]" not in result.stderr  # nothing was tried, nothing logged


def test_python_reexec_keeps_interpreter_flags(tmp_path):
    """argv=None re-runs the current Python command: flags, -c code and venv prefix survive."""
    code = """
        import sys, json
        from reexec_native import reexec, guard_active
        print(json.dumps([sys.orig_argv[1:], sys.executable, sys.prefix, sys.flags.dev_mode,
                          sys.warnoptions, guard_active()]), flush=True)
        if not guard_active():
            reexec()
    """
    import subprocess, sys, textwrap
    result = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-u", "-c", textwrap.dedent(code), "a b", ""],
                            env=child_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    import json
    first, second = json.loads(first), json.loads(second)
    assert first[:5] == second[:5]
    assert (first[5], second[5]) == (False, True)


def test_handle_exec_refuses_an_oversized_argv_before_exec(tmp_path):
    result = run_python("""
        from reexec_native import open_exe, ArgumentListTooLongError
        with open_exe("/bin/echo") as handle:
            try:
                handle.exec(["echo", "a" * 200000])
            except ArgumentListTooLongError as e:
                print("refused", e.errno, isinstance(e, ValueError))
        print("still here")
    """, cwd=tmp_path)
    assert result.stdout == "refused 7 True\nstill here\n", result.stderr
