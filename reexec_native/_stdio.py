"""Standard streams around an exec: input Python read ahead, output nobody will read.

Python reads stdin in blocks: after ``sys.stdin.readline()`` the descriptor's offset
is up to 8 KiB past the line, and exec drops Python's buffer with the process. Where
fd 0 is a regular file, it is moved back to Python's logical read position for the
exec (and forward again if the exec fails, so the old process reads on unchanged).
A pipe cannot be moved back: what Python read ahead from it is lost (README).
"""

from __future__ import annotations

import os
import stat
import sys

from ._log import log

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from typing import TextIO

# A TextIOWrapper cookie at or past 2**64 carries decoder state: not a byte offset.
_PLAIN_OFFSET_LIMIT = 1 << 64


def _stdin_on_fd0() -> TextIO | None:
    """sys.stdin (else sys.__stdin__) if it reads from fd 0, else None."""
    for stream in (sys.stdin, sys.__stdin__):
        if stream is None:
            continue
        try:
            if stream.fileno() == 0:
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return None


def rewind_stdin() -> int | None:
    """Move fd 0, a regular file, back to where Python's reading of it stopped; the
    offset to restore if the exec fails, or None when nothing was moved."""
    stream = _stdin_on_fd0()
    if stream is None:
        return None
    try:
        if not stat.S_ISREG(os.fstat(0).st_mode):
            return None
        offset = os.lseek(0, 0, os.SEEK_CUR)
    except OSError:
        return None
    try:
        logical = stream.tell()
    except (OSError, ValueError) as exc:
        # `for line in sys.stdin` disables tell(): the position is Python's secret.
        log("stdin: cannot tell where Python's reading stopped (%s); the new process reads on "
            "from byte %d, after what Python read ahead", exc, offset)
        return None
    if not isinstance(logical, int) or not 0 <= logical < _PLAIN_OFFSET_LIMIT or logical == offset:  # pyright: ignore[reportUnnecessaryIsInstance]
        return None
    os.lseek(0, logical, os.SEEK_SET)
    log("stdin: back to byte %d, where Python's reading stopped (it had read ahead to byte %d)",
        logical, offset)
    return offset


def restore_stdin(offset: int | None) -> None:
    """Undo rewind_stdin() after a failed exec: Python's buffer expects that offset."""
    if offset is not None:
        try:
            os.lseek(0, offset, os.SEEK_SET)
        except OSError:
            pass  # fd 0 was closed or replaced meanwhile: nothing of ours to put back


def note_captured_output() -> None:
    """Log when the new program's output will land in pytest's capture files: inside
    a test (PYTEST_CURRENT_TEST) with fd 1 or 2 an unlinked temporary file, pytest's
    fd capture. Once pytest is replaced nobody reads those files."""
    if not os.environ.get("PYTEST_CURRENT_TEST"):
        return
    captured: list[str] = []
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 0:
            captured.append(str(fd))
    if captured:
        log("Warning: re-exec inside pytest with output capture on: fd %s %s pytest's capture "
            "file%s, which nobody reads once pytest is replaced; re-exec in a child process "
            "(subprocess) in tests, or run pytest with -s", " and ".join(captured),
            "is" if len(captured) == 1 else "are", "" if len(captured) == 1 else "s")
