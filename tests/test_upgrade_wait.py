"""The retry loop wakes on the file's return (inotify on its directory), the backoff
delay being only the cap; polling where there is no watch. Behaviour, not timing:
an event ends a wait (True), a timeout does not (False)."""

from __future__ import annotations

import shutil
import sys
import threading

import pytest
from conftest import child_env, parse_report, run_python

from reexec_native._wait import NameWaiter, wait_mode

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
