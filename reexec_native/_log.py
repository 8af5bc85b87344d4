"""The ``reexec_native`` logger: the spec's ``[reexec] ...`` lines, on stderr by default.

The logger has its own handler, which writes to whatever ``sys.stderr`` is at the
time of the call (so tests and callers that swap stderr see the lines), and does not
propagate. Silence it with ``logging.getLogger("reexec_native").disabled = True``;
route it by replacing its handlers.
"""

from __future__ import annotations

import logging
import sys

TYPE_CHECKING = False  # typing is not imported at run time (import cost)
if TYPE_CHECKING:
    from typing import TextIO

logger = logging.getLogger("reexec_native")


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # StreamHandler[TextIO] is not subscriptable at run time on 3.10
    """A StreamHandler bound to the current sys.stderr, not the one at import."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


if not logger.handlers:
    _handler = _CurrentStderrHandler()
    _handler.setFormatter(logging.Formatter("[reexec] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def log(message: str, *args: object) -> None:
    logger.info(message, *args)


def flush_stdio() -> None:
    """Flush Python's stdio: exec and os._exit drop whatever is still buffered."""
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken: nothing of ours can still reach it
