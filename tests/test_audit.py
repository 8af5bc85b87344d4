"""reexec() and ExeHandle.exec() raise CPython's ``os.exec`` audit event (path, argv,
env) before exec, as os.execve does: an audit hook sees them, and a hook that raises
stops the exec (the old process goes on with that exception). Run in child processes."""

from __future__ import annotations

import textwrap

import pytest

from conftest import parse_report, run_python

HOOK = """
import sys
def hook(event, args):
    if event == "os.exec":
        path, argv, env = args
        print("AUDIT %s %r %s" % (path, argv, env.get(b"BITNET_REPAIR_PARENT")), flush=True)
        if REFUSE is not None:
            raise REFUSE("blocked by the audit hook")
sys.addaudithook(hook)
"""


@pytest.mark.parametrize("how", ["reexec", "handle"])
def test_audit_hook_sees_the_exec(how, report_prog, tmp_path):
    """Before the fix no os.exec event was raised: the hook printed nothing."""
    call = (f"reexec(['report', 'a'], executable={str(report_prog)!r}, fallback=None)" if how == "reexec"
            else f"open_exe({str(report_prog)!r}).exec(['report', 'a'], env={{'BITNET_REPAIR_PARENT': '-'}})")
    result = run_python("REFUSE = None\n" + HOOK + "from reexec_native import open_exe, reexec\n" + call,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    guard = b"1" if how == "reexec" else b"-"
    assert result.stdout.splitlines()[0] == f"AUDIT {report_prog} [b'report', b'a'] {guard!r}"
    assert parse_report(result.stdout)["argv"] == [b"report", b"a"]  # and then it ran


@pytest.mark.parametrize("refusal", ["RuntimeError", "PermissionError"])
def test_a_raising_audit_hook_stops_the_exec_and_the_fallback(refusal, report_prog, tmp_path):
    """The hook's exception comes out of reexec() as it is: not retried, not taken for
    an exec failure that the fallback would then paper over (an OSError included)."""
    marker = tmp_path / "fallback-ran"
    cargo = tmp_path / "cargo"
    cargo.write_text(f"#!/bin/sh\ntouch {marker}\n")
    cargo.chmod(0o755)
    result = run_python(f"REFUSE = {refusal}\n" + HOOK + textwrap.dedent(f"""
        from reexec_native import CargoRun, reexec
        try:
            reexec(["report"], executable={str(report_prog)!r}, fallback=CargoRun(cargo={str(cargo)!r}))
        except {refusal} as exc:
            print("raised %s: %s" % (type(exc).__name__, exc))
        print("old process continues")
    """), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [f"raised {refusal}: blocked by the audit hook", "old process continues"]
    assert "report pid" not in result.stdout
    assert not marker.exists()
    assert "[reexec] Fast path" not in result.stderr  # stopped before any attempt
