"""reexec-native: replace the running process with a program, atomically.

The program is opened once and that very descriptor is executed (execveat on an
O_PATH descriptor on Linux), so what was checked and logged is what runs. Where the
process cannot be replaced, it hands over to ``cargo run`` and exits with the
child's status.
"""

__version__ = "0.2.0"

# start_dir()'s directory, recorded now, and a re-executed process's name (see _startup):
# the one module an import loads, the public names load theirs at first use (PEP 562).
from . import _startup as _startup

# Public name -> the module that defines it, loaded at first use (PEP 562), so that
# `import reexec_native` costs little more than loading the package: a program that
# imports it pays for logging, typing, the C extension, ... only once it uses them.
_LAZY = {
    "ExeHandle": "._exe",
    "current_exe": "._exe",
    "open_exe": "._exe",
    "DEFAULT_GUARD": "._reexec",
    "clear_guard": "._reexec",
    "current_command": "._reexec",
    "guard_active": "._reexec",
    "start_dir": "._reexec",
    "reexec": "._reexec",
    "CargoRun": ".cargo",
    "ArgumentListTooLongError": ".errors",
    "Attempt": ".errors",
    "CannotRerunError": ".errors",
    "ExecError": ".errors",
    "FallbackError": ".errors",
    "FlushError": ".errors",
    "RecursionGuardError": ".errors",
    "SnapshotWarning": ".errors",
    "ReexecError": ".errors",
    "VerifyError": ".errors",
    "listen_fds": ".listen",
    "listen_sockets": ".listen",
}


TYPE_CHECKING = False  # not typing's: importing typing costs more than this package
if TYPE_CHECKING:  # what the type checkers see: the names as plain imports
    from ._exe import ExeHandle, current_exe, open_exe
    from ._reexec import DEFAULT_GUARD, clear_guard, current_command, guard_active, reexec, start_dir
    from .cargo import CargoRun
    from .errors import (
        ArgumentListTooLongError,
        Attempt,
        CannotRerunError,
        ExecError,
        FallbackError,
        FlushError,
        RecursionGuardError,
        ReexecError,
        SnapshotWarning,
        VerifyError,
    )
    from .listen import listen_fds, listen_sockets


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__ with level=1 is import_module(module, __name__) without importing
    # importlib (and its warnings), about a millisecond of a cold reexec()
    value = getattr(__import__(module[1:], globals(), None, (name,), 1), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# A re-executed process whose exec through a descriptor left it named after the fd
# number (kernels before 6.14) gets its name back. Only in a re-exec, so a plain import
# costs two lookups.
if _startup.is_reexec():
    _startup.restore()

__all__ = [
    "ArgumentListTooLongError",
    "Attempt",
    "CannotRerunError",
    "CargoRun",
    "DEFAULT_GUARD",
    "ExeHandle",
    "ExecError",
    "FallbackError",
    "FlushError",
    "RecursionGuardError",
    "ReexecError",
    "SnapshotWarning",
    "VerifyError",
    "clear_guard",
    "current_command",
    "current_exe",
    "guard_active",
    "listen_fds",
    "listen_sockets",
    "open_exe",
    "reexec",
    "start_dir",
]
