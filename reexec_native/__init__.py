"""reexec-native: replace the running process with a program, atomically.

The program is opened once and that very descriptor is executed (execveat on an
O_PATH descriptor on Linux), so what was checked and logged is what runs. Where the
process cannot be replaced, it hands over to ``cargo run`` and exits with the
child's status.
"""

__version__ = "0.2.0"

from os import environ as _os_environ

# start_dir(): recorded at `import reexec_native`, not when _command first loads (PEP
# 562 below), so an os.chdir() between the import and the first use does not move it.
from . import _startdir as _startdir

# Public name -> the module that defines it, loaded at first use (PEP 562), so that
# `import reexec_native` costs little more than loading the package: a program that
# imports it pays for logging, typing, the C extension, ... only once it uses them.
_LAZY = {
    "ExeHandle": "._exe",
    "current_exe": "._exe",
    "open_exe": "._open",
    "DEFAULT_GUARD": "._command",
    "clear_guard": "._command",
    "current_command": "._command",
    "guard_active": "._command",
    "start_dir": "._command",
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
    from ._command import DEFAULT_GUARD, clear_guard, current_command, guard_active, start_dir
    from ._exe import ExeHandle, current_exe
    from ._open import open_exe
    from ._reexec import reexec
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
# number (kernels before 6.14) gets its name back: see _comm. Only in a re-exec (the
# default guard or a snapshot's marker is set), so a plain import costs one lookup.
if _os_environ.get("BITNET_REPAIR_PARENT") or _os_environ.get("REEXEC_NATIVE_ORIGINAL_EXE"):
    from ._comm import restore as _restore_name

    _restore_name()

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
