"""The running command and the guard: what reexec() re-runs by default, and how a
re-executed process knows it is one."""

from __future__ import annotations

import os
import sys

from ._startdir import START_DIR as _recorded_start_dir
from ._validate import guard_name
from .errors import ReexecError

DEFAULT_GUARD = "BITNET_REPAIR_PARENT"

# The working directory when reexec_native was first imported (recorded by the
# package's __init__, since this module loads only at first use): the best available
# stand-in for "where this process started" (relative paths in sys.orig_argv, a
# relative sys.executable). Import reexec_native early if your program chdir()s.
_START_DIR: str | None = _recorded_start_dir


def start_dir() -> str | None:
    """The working directory when reexec_native was first imported (None if it was
    already gone then). Pass it as ``reexec(cwd=start_dir())`` so that relative paths
    in the command line (``python script.py``) resolve as they did at start-up."""
    return _START_DIR


def current_command() -> list[str]:
    """The running Python command: ``[sys.executable, *sys.orig_argv[1:]]``.

    argv[0] is sys.executable as it is (absolute, not realpath'd), because the new
    interpreter derives sys.executable and sys.prefix (venvs) from argv[0]. A relative
    sys.executable (only embedders set one) is taken relative to start_dir(), the
    directory it was relative to, not to the current one.
    """
    executable = getattr(sys, "executable", None)
    if not executable:
        raise ReexecError(
            "Cannot re-run the current command: sys.executable is empty (an embedded "
            "interpreter?); pass argv= and executable= explicitly."
        )
    if not os.path.isabs(executable):
        if _START_DIR is None:
            raise ReexecError(
                f"Cannot re-run the current command: sys.executable={executable!r} is relative "
                "and the start directory is unknown; pass argv= and executable= explicitly."
            )
        executable = os.path.normpath(os.path.join(_START_DIR, executable))
    return [executable, *sys.orig_argv[1:]]


def guard_active(guard: str = DEFAULT_GUARD) -> bool:
    """True in a process started by reexec() with this guard (so: don't re-exec again)."""
    return bool(os.environ.get(guard))


def clear_guard(guard: str = DEFAULT_GUARD) -> bool:
    """Remove the guard variable from os.environ, so the programs this process starts
    do not inherit it; True if it was set (non-empty). Call it after guard_active()
    has told you what you needed to know."""
    name = guard_name(guard)
    if name is None:
        raise TypeError("guard must be a variable name, not None")
    return bool(os.environ.pop(name, None))
