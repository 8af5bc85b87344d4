"""current_exe() decides Linux's " (deleted)" suffix by the running image's identity
(st_dev, st_ino of /proc/self/exe), never by name: run for real with a private copy
of the interpreter (tests/conftest.py python_copy) that is removed or renamed while
it runs, in a child process."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import parse_report, run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/exe")


def test_a_decoy_named_like_the_deleted_image_is_never_run(python_copy, report_prog, tmp_path):
    """The running binary `prog` is removed and a different program is put at
    `prog (deleted)`: the link reads `.../prog (deleted)`, and that name now exists.
    Before the fix current_exe() returned the decoy (it exists) and reexec() ran it."""
    decoy = python_copy.parent / "prog (deleted)"
    result = run_python(f"""
        import os, shutil
        from reexec_native import ReexecError, current_exe, reexec
        os.unlink({str(python_copy)!r})
        shutil.copy2({str(report_prog)!r}, {str(decoy)!r})
        print("link=" + os.readlink("/proc/self/exe"))
        print("current_exe=" + current_exe(), flush=True)
        try:
            reexec(["prog"], fallback=None, retry_budget=0)
        except ReexecError as exc:
            print("refused errno=%s file=%s" % (exc.exec_error.errno, exc.exec_error.filename))
    """, python=str(python_copy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "report pid" not in result.stdout  # the decoy never ran
    assert result.stdout.splitlines() == [
        f"link={decoy}",
        f"current_exe={python_copy}",
        f"refused errno=2 file={python_copy}",
    ]


def test_a_program_really_named_deleted_keeps_its_name(python_copy, tmp_path):
    """A running file whose name ends in " (deleted)" and that is still there (the
    link reads its plain name) is the running image: its name is kept as it is."""
    named = python_copy.parent / "prog (deleted)"
    shutil.move(python_copy, named)
    result = run_python("""
        import os
        from reexec_native import current_exe
        print("current_exe=" + current_exe())
    """, python=str(named), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"current_exe={named}\n"


def test_the_rebuilt_file_at_the_path_is_found(python_copy, report_prog, tmp_path):
    """The image was replaced (a new file at its path, as cargo does): the suffix is
    stripped and the fast path runs the new file."""
    result = run_python(f"""
        import os, shutil
        from reexec_native import current_exe, reexec
        os.unlink({str(python_copy)!r})
        shutil.copy2({str(report_prog)!r}, {str(python_copy)!r})
        print("current_exe=" + current_exe(), flush=True)
        reexec(["prog", "x"], fallback=None)
    """, python=str(python_copy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["current_exe"] == str(python_copy)
    assert report["argv"] == [b"prog", b"x"]
