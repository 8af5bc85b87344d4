"""The command line keeps what a shell's exec keeps, as far as it can know it: the
program starts with the caller's signal mask and with the signals the caller ignored
still ignored. SIGPIPE and SIGXFSZ are the exception, and documented (docs/cli.md):
the interpreter sets both to ignored before any Python code runs and does not keep
what they were, so the program gets them at their defaults, as exec gives a program
started from Python (the library call clears the mask too, on purpose).

The caller here is a process that blocks SIGUSR1 and ignores SIGUSR2 and SIGHUP (and,
for the fallback, SIGCHLD) before it execs `reexec-native exec -- report`; report
prints its /proc/self/status SigBlk and SigIgn."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from _cli_helpers import NEUTRAL_CWD, PY, console_script, run
from _env import fake_workspace
from conftest import child_env, parse_report

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status masks: Linux")


def bit(sig: int) -> int:
    return 1 << (sig - 1)


@pytest.fixture(params=["module", "script"])
def cli(request) -> list[str]:
    return [PY, "-m", "reexec_native"] if request.param == "module" else [console_script()]


def run_as_caller(cmd, *, ignore=(signal.SIGUSR2, signal.SIGHUP), env=None,
                  cwd=NEUTRAL_CWD) -> subprocess.CompletedProcess:
    """Run `cmd` from a caller with SIGUSR1 blocked and `ignore` ignored (set between
    fork and exec, as a shell's `trap '' ...` would)."""
    def caller_state() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)

    return subprocess.run([str(part) for part in cmd], env=child_env() if env is None else env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=caller_state,
                          stdin=subprocess.DEVNULL)


def test_cli_exec_keeps_the_callers_mask_and_ignored_signals(cli, report_prog):
    """Before: SigBlk was 0 (the C core cleared the mask for every exec)."""
    result = run_as_caller([*cli, "exec", "--", report_prog, "x"])
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["SigBlk"] == bit(signal.SIGUSR1)
    assert report["SigIgn"] & bit(signal.SIGUSR2) and report["SigIgn"] & bit(signal.SIGHUP)
    # Unknowable (the interpreter ignored them before any code ran): their defaults.
    assert not report["SigIgn"] & (bit(signal.SIGPIPE) | bit(signal.SIGXFSZ))


@pytest.mark.parametrize("sigchld", ["default", "ignored"])
def test_cli_fallback_child_keeps_the_callers_mask_and_ignored_signals(cli, report_prog, sigchld, tmp_path):
    """--cargo-fallback, with report standing in for cargo: the fallback's child starts
    as the program would have (posix_spawn; with SIGCHLD ignored, fork + exec). Before:
    SigBlk 0, and with SIGCHLD ignored the fallback's status was lost ("could not be
    started", exit 127)."""
    ignore = (signal.SIGUSR2, signal.SIGCHLD) if sigchld == "ignored" else (signal.SIGUSR2,)
    # The "cargo": answers the fallback's workspace check, then becomes report (exec keeps
    # the mask and the ignored signals it was started with). Python, not sh: dash resets an
    # ignored SIGCHLD; Python leaves SIGCHLD and the mask as it found them.
    cargo = tmp_path / "cargo"
    cargo.write_text(f"#!{sys.executable} -I\nimport os, sys\n"
                     "if sys.argv[1:2] == ['metadata']:\n"
                     "    print('{\"packages\": [{\"name\": \"xtask\"}], \"workspace_root\": \"/fake-ws\"}')\n"
                     "    sys.exit(0)\n"
                     f"os.execv({str(report_prog)!r}, [{str(report_prog)!r}, *sys.argv[1:]])\n")
    cargo.chmod(0o755)
    fake_workspace(tmp_path)
    result = run_as_caller([*cli, "exec", "--cargo-fallback", "--retry-budget", "0", "--", "/nonexistent/x"],
                           ignore=ignore, env=child_env(CARGO=str(cargo), REPORT_EXIT="42"), cwd=tmp_path)
    assert result.returncode == 42, result.stderr
    report = parse_report(result.stdout)
    assert report["argv"][1:4] == [b"run", b"-p", b"xtask"]
    assert report["SigBlk"] == bit(signal.SIGUSR1)
    assert report["SigIgn"] & bit(signal.SIGUSR2)
    assert bool(report["SigIgn"] & bit(signal.SIGCHLD)) == (sigchld == "ignored")


def test_the_library_call_clears_the_mask_on_purpose(report_prog):
    """reexec() from Python code: the program starts with an empty mask (what Python
    blocked is Python's business), as documented in docs/hardening.md."""
    code = (f"import signal; signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})\n"
            f"from reexec_native import reexec\nreexec(['r'], executable={str(report_prog)!r}, fallback=None)")
    result = run([PY, "-c", code])
    assert result.returncode == 0, result.stderr
    assert parse_report(result.stdout)["SigBlk"] == 0


def test_missing_interpreter_exits_127_as_the_help_says(cli, tmp_path):
    """A #! script whose interpreter does not exist: 127, as bash, dash and env give
    it (the help and docs/cli.md listed it under 126)."""
    script = tmp_path / "s.sh"
    script.write_text("#!/nonexistent/interp\necho hi\n")
    script.chmod(0o755)
    result = run([*cli, "exec", "--", script])
    assert result.returncode == 127, result.stderr
    shell = subprocess.run(["sh", "-c", f"exec {script}"], capture_output=True)
    assert shell.returncode == 127
    help_text = " ".join(run([*cli, "exec", "--help"]).stdout.split())
    row_127 = help_text.split(" 127 ", 1)[1].split(" 126 ", 1)[0]
    assert "#! interpreter" in row_127, row_127
