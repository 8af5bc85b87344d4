"""The process's own streams around an exec: the ``[reexec] ...`` lines, stdout and
stderr flushed, stdin rewound.

The lines (the spec's diagnostics) go to stderr by default.

``logging`` is never imported by this package. While the application has not
imported it either, nothing can have configured it, so a line is written straight
to ``sys.stderr`` (importing logging would cost more than the whole exec: about
10 ms, most of a cold ``reexec()``). Once ``logging`` is in ``sys.modules``, lines
go through the ``reexec_native`` logger, which gets one
handler of ours, which writes ``[reexec] ...`` to whatever ``sys.stderr`` is at the
time of the call, but only while the application has configured no handler the
record would propagate to (the root logger's, typically): once it has, the records
go to the application's handlers alone, formatted its way, never printed twice.
Silence it with ``logging.getLogger("reexec_native").disabled = True`` (or
``setLevel(logging.WARNING)``); both work before or after the first line.

Before an exec (``before_exec``): Python's stdout and stderr buffers are flushed (exec
drops them), and stdin is moved back to where Python's reading stopped. Python reads
stdin in blocks: after ``sys.stdin.readline()`` the descriptor's offset is up to 8 KiB
past the line, and exec drops Python's buffer with the process. Where fd 0 is a
regular file, it is moved back to Python's logical read position for the exec (and
forward again if the exec fails, so the old process reads on unchanged). A pipe cannot
be moved back: what Python read ahead from it is lost (README).
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # typing itself is not imported: it costs more than this module
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import TextIO

LOGGER_NAME = "reexec_native"
PREFIX = "[reexec] "

_logger: logging.Logger | None = None
_handler: logging.Handler | None = None
_quiet = False


def _application_handles(logger: logging.Logger) -> bool:
    """Whether a record of `logger` would reach a handler that is not ours."""
    node: logging.Logger | None = logger
    while node is not None:
        if any(h is not _handler for h in node.handlers):
            return True
        if not node.propagate:
            return False
        node = node.parent
    return False


def get_logger() -> logging.Logger:
    """The ``reexec_native`` logger, with our default handler (imports logging)."""
    global _logger, _handler
    if _logger is not None:
        return _logger
    import logging

    class DefaultStderrHandler(logging.Handler):
        """Writes to the current sys.stderr, unless the application handles the record."""

        def emit(self, record: logging.LogRecord) -> None:
            stream = sys.stderr
            if stream is None or _application_handles(logging.getLogger(record.name)):
                return
            try:
                stream.write(self.format(record) + "\n")
                stream.flush()
            except Exception:  # logging's contract: a handler never raises
                self.handleError(record)

    logger = logging.getLogger(LOGGER_NAME)
    _handler = DefaultStderrHandler()
    _handler.setFormatter(logging.Formatter(PREFIX + "%(message)s"))
    logger.addHandler(_handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    _logger = logger
    return logger


def set_quiet(quiet: bool) -> None:
    """Drop every line without importing logging (the CLI's exec without -v)."""
    global _quiet
    _quiet = quiet


def shown(part: str | bytes) -> str:
    """Text for a log line: bytes that are not UTF-8 appear as \\xNN."""
    return os.fsencode(part).decode("utf-8", "backslashreplace")


def log(message: str, *args: object) -> None:
    """One diagnostic line: to logging if the application loaded it, else to stderr."""
    if _quiet:
        return
    if _logger is not None or "logging" in sys.modules:
        get_logger().info(message, *args)
        return
    stream = sys.stderr
    if stream is None:
        return
    try:  # as our handler does: a diagnostic line never raises into the caller
        stream.write(PREFIX + (message % args if args else message) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def log_lines(*lines: str | tuple[object, ...]) -> None:
    """Several lines in one call (a line with arguments is a tuple: message, *args)."""
    for line in lines:
        if isinstance(line, tuple):
            log(str(line[0]), *line[1:])
        else:
            log(line)


#: Seconds a would-block flush waits for its reader to take more (each time it does,
#: the wait starts again); $REEXEC_NATIVE_FLUSH_TIMEOUT changes it.
FLUSH_TIMEOUT = 10.0
FLUSH_TIMEOUT_ENV = "REEXEC_NATIVE_FLUSH_TIMEOUT"


def flush_stdio(*, at_exit: bool = False) -> None:
    """Flush Python's stdio: exec and os._exit drop whatever is still buffered.

    A stream on a non-blocking descriptor whose reader is slow (a full pipe) raises
    BlockingIOError with the rest still buffered: we wait until the descriptor takes
    more (poll) and flush again, as long as the reader keeps reading, and at most
    $REEXEC_NATIVE_FLUSH_TIMEOUT seconds (FLUSH_TIMEOUT) without progress. Then,
    before the point of no return, a FlushError naming the stream (nothing ran, this
    process carries on); `at_exit` (the child already ran, we leave with its status):
    a line saying what was lost. A closed or broken stream (EPIPE): nothing of ours
    can reach it, as before."""
    timeout = _flush_timeout()
    for name, stream in _streams():
        try:
            _flush_waiting(stream, timeout)
        except BlockingIOError:
            from .errors import FlushError

            error = FlushError.of(name, _fileno(stream), timeout)
            if not at_exit:
                raise error from None
            log("Warning: %s; exiting anyway", error)
        except (OSError, ValueError):
            pass  # closed or broken: nothing of ours can still reach it


def _streams() -> list[tuple[str, object]]:
    named = (("stdout", sys.stdout), ("stderr", sys.stderr), ("stdout", sys.__stdout__), ("stderr", sys.__stderr__))
    return list({id(s): (n, s) for n, s in named if s is not None}.values())


def _flush_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get(FLUSH_TIMEOUT_ENV, FLUSH_TIMEOUT)))
    except ValueError:
        return FLUSH_TIMEOUT


def _flush_waiting(stream: object, timeout: float) -> None:
    """stream.flush(), waiting while its descriptor would block. The binary buffer
    (the older bytes) goes first; then the text layer's pending bytes, into the
    emptied buffer once the descriptor has room: io's TextIOWrapper drops what its
    buffer's write cannot take when that raises BlockingIOError."""
    fd = _fileno(stream)
    if fd is not None and _blocking(fd):
        stream.flush()  # type: ignore[attr-defined]  # blocks until written, as it always did
        return
    buffer = getattr(stream, "buffer", None)
    if fd is not None and callable(getattr(buffer, "flush", None)):
        _until_flushed(buffer.flush, fd, timeout)  # type: ignore[union-attr]
        _wait_writable(fd, timeout)  # no room after the timeout: flush anyway (nothing may be pending)
    _until_flushed(stream.flush, fd, timeout)  # type: ignore[attr-defined]


def _until_flushed(flush: Callable[[], object], fd: int | None, timeout: float) -> None:
    """flush() until it does not raise BlockingIOError; between tries, wait for room.
    Each time the descriptor takes more, the `timeout` starts again; re-raised once it
    passed without."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            flush()
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not _wait_writable(fd, left):
                raise
            if fd is not None and _can_poll():
                deadline = time.monotonic() + timeout  # the reader took some: progress


def _blocking(fd: int) -> bool:
    try:
        return os.get_blocking(fd)
    except (AttributeError, OSError):
        return True  # cannot tell (Windows before 3.12): flush as before


def _fileno(stream: object) -> int | None:
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def _can_poll() -> bool:
    import select

    return hasattr(select, "poll")


def _wait_writable(fd: int | None, timeout: float) -> bool:
    """Until `fd` has room (or is broken: the next flush says so), at most `timeout`
    seconds; False when it did not. Without poll (Windows) or a descriptor: a short
    sleep, True while `timeout` is not used up."""
    import select

    if fd is None or not _can_poll():
        import time

        time.sleep(min(0.01, timeout))
        return timeout > 0.01
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    try:
        return bool(poller.poll(int(timeout * 1000)))
    except InterruptedError:
        return True  # a signal: look again


def before_exec() -> int | None:
    """What an exec needs done to this process's streams first: stdout and stderr
    flushed (FlushError when a reader blocks them: nothing ran), stdin rewound. Returns
    what restore_stdin() takes if the exec fails."""
    flush_stdio()
    return rewind_stdin()


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
