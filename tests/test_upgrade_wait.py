"""The retry loop wakes on the file's return (inotify on its directory), the backoff
delay being only the cap; polling where there is no watch. Behaviour, not timing:
an event ends a wait (True), a timeout does not (False)."""

from __future__ import annotations

import shutil
import sys
import threading

import pytest
from conftest import child_env, parse_report, run_python

from reexec_native._binding import wait_mode
from reexec_native._retry import NameWaiter

linux = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")


@linux
def test_an_event_about_the_name_ends_the_wait(tmp_path):
    target = tmp_path / "prog"
    with NameWaiter(str(target)) as waiter:
        waiter.arm()
        assert waiter.how == "inotify"
        timer = threading.Timer(0.2, lambda: target.write_bytes(b"x"))
        timer.start()
        try:
            assert waiter.wait(30.0) is True  # the 30 s cap did not end it
        finally:
            timer.join()


@linux
def test_events_between_arming_and_waiting_are_not_lost(tmp_path):
    target = tmp_path / "prog"
    with NameWaiter(str(target)) as waiter:
        waiter.arm()
        target.write_bytes(b"x")  # after arming, before the wait starts
        assert waiter.wait(30.0) is True


@linux
def test_other_names_do_not_end_the_wait(tmp_path):
    with NameWaiter(str(tmp_path / "prog")) as waiter:
        waiter.arm()
        (tmp_path / "unrelated").write_bytes(b"x")
        assert waiter.wait(0.1) is False


@linux
def test_directory_gone_falls_back_to_the_timer(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with NameWaiter(str(folder / "prog")) as waiter:
        waiter.arm()
        folder.rmdir()
        assert waiter.wait(0.1) is False
        assert waiter.how.startswith("poll (")  # EIDRM, or ENOENT on re-arming


def test_poll_seam_and_bad_value(monkeypatch, tmp_path):
    monkeypatch.setenv("REEXEC_NATIVE_WAIT", "poll")
    with NameWaiter(str(tmp_path / "prog")) as waiter:
        waiter.arm()
        assert waiter.how == "poll (forced)"
        assert waiter.wait(0.01) is False
    monkeypatch.setenv("REEXEC_NATIVE_WAIT", "sometimes")
    with pytest.raises(ValueError, match="REEXEC_NATIVE_WAIT"):
        wait_mode()


@linux
@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_reexec_runs_the_program_once_it_is_linked_back(mode, report_prog, tmp_path):
    """cargo's unlink + link, slowed down: the target is missing when reexec() starts
    and linked back while it retries; the retry log names how it waits."""
    source = tmp_path / "built"
    shutil.copy2(report_prog, source)
    target = tmp_path / "prog"
    result = run_python(f"""
        import os, threading, time
        from reexec_native import reexec
        def relink():
            time.sleep(0.3)
            os.link({str(source)!r}, {str(target)!r})
        threading.Thread(target=relink, daemon=True).start()
        reexec(["prog", "back"], executable={str(target)!r}, fallback=None, retry_budget=10)
    """, env=child_env(REEXEC_NATIVE_WAIT=mode))
    assert result.returncode == 0, result.stderr
    assert parse_report(result.stdout)["argv"] == [b"prog", b"back"]
    expected = "(inotify)" if mode == "inotify" else "(poll (forced))"
    assert "[reexec] Retry 1 in 5 ms: ENOENT at tier open" in result.stderr
    assert f"or sooner when the name changes {expected}" in result.stderr


# A fallback that reports and exits: the retry loop's decision is what is tested.
_GONE = """
import os, sys
from reexec_native import reexec
class Report:
    def run(self, argv, env):
        print("fallback ran", flush=True)
        os._exit(7)
target = sys.argv[1]
reexec(["prog"], executable=target, guard=None, retry_budget=float(sys.argv[2]),
       fallback=Report() if sys.argv[3] == "fallback" else None)
"""


@linux
def test_a_missing_name_in_a_still_directory_goes_to_the_fallback_without_waiting(tmp_path):
    """Nothing is replacing the program (inotify: the directory stands still), so the
    rest of a 20 s budget would be dead time before the fallback: it is not spent."""
    result = run_python(_GONE, args=(str(tmp_path / "gone"), "20", "fallback"), timeout=60)
    assert result.returncode == 7, result.stderr
    assert "fallback ran" in result.stdout
    assert f"Nothing changed in {tmp_path} for 10 ms (inotify)" in result.stderr
    waits = [int(line.split(" in ")[1].split(" ms")[0]) for line in result.stderr.splitlines() if "] Retry " in line]
    assert 1 <= len(waits) <= 4
    # no wait runs past the moment the directory has stood still for 10 ms (the backoff
    # alone would wait 5 + 10)
    assert sum(waits) <= 10, waits


@linux
def test_without_a_fallback_the_whole_budget_is_waited(tmp_path):
    result = run_python(_GONE, args=(str(tmp_path / "gone"), "0.3", "none"), timeout=60)
    assert result.returncode == 1
    assert "ReexecError" in result.stderr and "Nothing changed" not in result.stderr
    assert sum("] Retry " in line for line in result.stderr.splitlines()) >= 5


@linux
def test_a_busy_directory_keeps_the_retry_going_until_the_name_returns(tmp_path):
    """Other names come and go next to the missing one (a build tool at work): the
    loop keeps retrying, and runs the program once it is linked in."""
    busy = """
import os, shutil, sys, time
folder, source = sys.argv[1], sys.argv[2]
end = time.monotonic() + 0.3
while time.monotonic() < end:
    scratch = os.path.join(folder, "scratch")
    open(scratch, "w").close()
    os.unlink(scratch)
    if not sys.stdout.closed:
        print("busy", flush=True)
        sys.stdout.close()
    time.sleep(0.002)
os.link(source, os.path.join(folder, "gone"))
"""
    source = tmp_path / "true"
    shutil.copy("/bin/true", source)
    folder = tmp_path / "bin"
    folder.mkdir()
    import subprocess

    worker = subprocess.Popen([sys.executable, "-c", busy, str(folder), str(source)], stdout=subprocess.PIPE)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == b"busy\n"  # at work before we start
        result = run_python(_GONE, args=(str(folder / "gone"), "20", "fallback"), timeout=60)
    finally:
        worker.wait(timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "fallback ran" not in result.stdout and "Nothing changed" not in result.stderr
    assert "] Retry " in result.stderr  # it did find the name missing first
