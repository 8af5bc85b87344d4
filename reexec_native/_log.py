"""The ``reexec_native`` logger: the spec's ``[reexec] ...`` lines, on stderr by default.

``logging`` is imported at the first line logged, not at ``import reexec_native``
(it costs about a third of a plain interpreter start). The logger then gets one
handler of ours, which writes ``[reexec] ...`` to whatever ``sys.stderr`` is at the
time of the call, but only while the application has configured no handler the
record would propagate to (the root logger's, typically): once it has, the records
go to the application's handlers alone, formatted its way, never printed twice.
Silence it with ``logging.getLogger("reexec_native").disabled = True`` (or
``setLevel(logging.WARNING)``); both work before or after the first line.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: it costs more than this module
if TYPE_CHECKING:
    import logging

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
    if _quiet:
        return
    get_logger().info(message, *args)


def flush_stdio() -> None:
    """Flush Python's stdio: exec and os._exit drop whatever is still buffered."""
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken: nothing of ours can still reach it
