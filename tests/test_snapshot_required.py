"""A snapshot you can require: ``snapshot="required"`` (``exec --snapshot-required``)
gives a sealed copy or a refusal before the point of no return; ``snapshot=True``
still runs the file itself when no copy can run, but says so (SnapshotWarning and the
log) with why each method failed; doctor says which of the two will happen here, and
lists the methods in the order they are tried. The no-copy case is forced with the
test seams: REEXEC_NATIVE_SNAPSHOT="" (no method) and REEXEC_NATIVE_TIERS=path (copies
are made but none can run: a copy has no path). Each exec in a child process."""

from __future__ import annotations

import json
import sys

import pytest

from _cli_helpers import console_script, run
from conftest import child_env, parse_report, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="snapshot mode is Linux's")

# A fallback that says so if it is reached: a refusal must not reach it.
ATTEMPT = """
    import os, sys, warnings
    from reexec_native import reexec, ReexecError, ExecError
    class Recorder:
        def run(self, argv, env):
            print("FALLBACK RAN", flush=True)
            raise OSError(5, "recorder")
    try:
        reexec(["report", "x"], executable=TARGET, snapshot=SNAPSHOT, fallback=Recorder())
    except ReexecError as e:
        x = e.exec_error
        print("refused type=%s exec_error=%s tier=%s errno=%s" % (type(e).__name__, isinstance(x, ExecError),
                                                                  x.tier, x.errno))
        print("MESSAGE", e)
    print("carried on pid=%d" % os.getpid())
"""


def attempt(report_prog, tmp_path, snapshot, **seams):
    code = ATTEMPT.replace("TARGET", repr(str(report_prog))).replace("SNAPSHOT", repr(snapshot))
    return run_python(code, env=child_env(**seams), cwd=tmp_path)


def test_required_without_any_method_refuses_and_runs_nothing(report_prog, tmp_path):
    result = attempt(report_prog, tmp_path, "required", REEXEC_NATIVE_SNAPSHOT="")
    out = result.stdout
    assert "refused type=ReexecError exec_error=True tier=snapshot errno=38" in out, result.stderr
    assert "carried on pid=" in out
    assert "report pid" not in out and "FALLBACK RAN" not in out
    assert ("MESSAGE Re-exec refused: snapshot='required', and no sealed copy of the program could be made "
            "or run (no method to try (REEXEC_NATIVE_SNAPSHOT='' leaves none that this build has))") in out
    assert "[reexec] Snapshot required, none could run (no method to try" in result.stderr


def test_required_names_why_each_copy_could_not_run(report_prog, tmp_path):
    """Copies are made (tmpfile next to the program, memfd, tmpfile in TMPDIR) but the
    tier seam leaves only the path tier, which a copy cannot use."""
    result = attempt(report_prog, tmp_path, "required", REEXEC_NATIVE_TIERS="path")
    out = result.stdout
    assert "refused type=ReexecError exec_error=True tier=snapshot" in out, result.stderr
    message = out.split("MESSAGE ", 1)[1]
    reasons = message.split("could be made or run (", 1)[1]
    assert reasons.count("copy could not run:") == 3, message
    assert reasons.index("tmpfile copy") < reasons.index("memfd copy")  # in the order tried
    assert "report pid" not in out and "FALLBACK RAN" not in out


def test_required_with_a_copy_runs_the_copy(report_prog, tmp_path):
    result = attempt(report_prog, tmp_path, "required")
    report = parse_report(result.stdout)
    assert report["argv"] == [b"report", b"x"], result.stderr
    assert "[reexec] Snapshot: tmpfile copy in" in result.stderr


def test_true_runs_the_file_itself_with_a_warning_naming_why(report_prog, tmp_path):
    """Before: only a log line "no sealed copy could run, using the file itself"."""
    result = attempt(report_prog, tmp_path, True, REEXEC_NATIVE_SNAPSHOT="")
    assert parse_report(result.stdout)["argv"] == [b"report", b"x"], result.stderr
    err = result.stderr
    assert (f"SnapshotWarning: snapshot=True: no sealed copy of {report_prog} could be made or run (no method "
            "to try (REEXEC_NATIVE_SNAPSHOT='' leaves none that this build has)); running the file itself") in err
    assert "[reexec] Snapshot: no sealed copy could run (no method to try" in err
    # The warning points at the caller's line, not inside the package.
    assert "<string>:9: SnapshotWarning" in err


def test_open_exe_required_raises_the_snapshot_error(report_prog, tmp_path):
    result = run_python(f"""
        import warnings
        from reexec_native import open_exe, ExecError, SnapshotWarning
        try:
            open_exe({str(report_prog)!r}, snapshot="required")
        except ExecError as e:
            print("refused tier=%s" % e.tier, e)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            handle = open_exe({str(report_prog)!r}, snapshot=True)
        print("plain", handle.snapshot, [w.category is SnapshotWarning for w in caught])
    """, env=child_env(REEXEC_NATIVE_SNAPSHOT=""), cwd=tmp_path)
    assert "refused tier=snapshot [Errno 38] no sealed copy of the program" in result.stdout, result.stderr
    assert "plain None [True]" in result.stdout


@pytest.mark.parametrize(("value", "exc"), [("yes", "ValueError"), (1, "TypeError"), (None, "TypeError")])
def test_bad_snapshot_values_are_refused_before_anything(report_prog, tmp_path, value, exc):
    result = run_python(f"""
        from reexec_native import reexec
        try:
            reexec(["report"], executable={str(report_prog)!r}, snapshot={value!r}, fallback=None)
        except Exception as e:
            print(type(e).__name__, e)
    """, cwd=tmp_path)
    assert result.stdout.startswith(f"{exc} snapshot must be True, False or 'required'"), result.stderr


def test_cli_snapshot_required_exits_126_and_runs_nothing(report_prog, tmp_path):
    result = run([console_script(), "exec", "--snapshot-required", "--", str(report_prog), "a"],
                 env=child_env(REEXEC_NATIVE_SNAPSHOT=""), cwd=tmp_path)
    assert result.returncode == 126, result.stderr
    assert "report pid" not in result.stdout
    assert "no sealed copy of the program could be made or run" in result.stderr
    assert "tier snapshot" in result.stderr
    ran = run([console_script(), "exec", "--snapshot", "--", str(report_prog), "a"],
              env=child_env(REEXEC_NATIVE_SNAPSHOT=""), cwd=tmp_path)
    assert parse_report(ran.stdout)["argv"] == [str(report_prog).encode(), b"a"], ran.stderr
    assert "SnapshotWarning" in ran.stderr
    copied = run([console_script(), "exec", "--snapshot-required", "-v", "--", str(report_prog), "a"], cwd=tmp_path)
    assert parse_report(copied.stdout)["argv"] == [str(report_prog).encode(), b"a"], copied.stderr
    assert "[reexec] Snapshot: tmpfile copy in" in copied.stderr


def test_doctor_lists_methods_in_the_order_tried_and_what_snapshot_mode_runs(tmp_path):
    """Before: the methods in the C table's order (memfd first), which is not the
    library's (tmpfile next to the program first), and nothing about the file itself."""
    report = json.loads(run([console_script(), "doctor", "--json"], env=child_env(), cwd=tmp_path).stdout)
    order = report["snapshot_order"]
    assert [m for m, _ in order] == ["tmpfile", "memfd", "tmpfile"], order
    assert order[0][1] != order[2][1] and order[1][1] is None
    assert report["plan"]["snapshot"].startswith(f"a sealed copy (tmpfile in {order[0][1]}")
    text = run([console_script(), "doctor"], env=child_env(), cwd=tmp_path).stdout
    section = text.split("Snapshot methods (snapshot=True, in the order it tries them)\n", 1)[1].split("\n\n")[0]
    assert [line.split()[0] for line in section.splitlines()] == ["tmpfile", "memfd", "tmpfile", "snapshot"]

    none = json.loads(run([console_script(), "doctor", "--json"], env=child_env(REEXEC_NATIVE_SNAPSHOT=""),
                          cwd=tmp_path).stdout)
    assert none["plan"]["snapshot"].startswith("the file itself: no sealed copy can be made here")
    text = run([console_script(), "doctor"], env=child_env(REEXEC_NATIVE_SNAPSHOT=""), cwd=tmp_path).stdout
    assert "snapshot mode runs     the file itself" in text
    assert "snapshot='required' refuses" in text


def test_doctor_on_macos_explains_the_in_place_rewrite_kill(tmp_path):
    """Not testable on macOS here: the note doctor prints there, through the same
    formatting as on a real report."""
    result = run_python("""
        from reexec_native._doctor import diagnose, format_report
        from reexec_native._doctor import platform_notes
        report = diagnose(probe=False)
        assert report["platform_notes"] == []  # nothing to say on Linux
        report["platform_notes"] = platform_notes("darwin")
        print(format_report(report))
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    note = [line for line in result.stdout.splitlines() if line.startswith("  note ")]
    assert len(note) == 1, result.stdout
    assert "SIGKILL" in note[0] and "Killed: 9" in note[0] and "exit 137" in note[0]
    assert "rename() it over the old one" in note[0]


def test_doctor_says_whether_the_default_fallback_would_run_from_here(tmp_path):
    """The workspace check, asked by doctor the way the fallback asks it."""
    from conftest import FIXTURE_WS

    outside = json.loads(run([console_script(), "doctor", "--json", "--no-probe"], cwd=tmp_path).stdout)["cargo"]
    assert outside["workspace"]["runs"] is False
    assert outside["workspace"]["refusal"].startswith(f"no-workspace: no cargo workspace from {tmp_path}")
    inside = run([console_script(), "doctor", "--no-probe"], cwd=FIXTURE_WS).stdout
    assert f"fallback from here     runs (workspace {FIXTURE_WS})" in inside
