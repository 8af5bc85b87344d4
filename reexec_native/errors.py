"""Exceptions raised by reexec_native, and the records they carry.

Every one is an ``OSError`` with errno, strerror and filename as ``os.execv`` gives
them, so ``except OSError`` (what a user of os.execv writes) catches them all:

- ``ExecError``: exec (or opening, checking, copying the program) failed. ``.tier``
  says where, from the closed set ``TIERS``; ``.attempts`` is a tuple of ``Attempt``
  records (tier, errno, note), the note from the closed set ``NOTES`` or None. It is
  also the built-in subclass its errno maps to (``FileNotFoundError`` for ENOENT,
  ``PermissionError`` for EACCES, ...), as ``os.execv``'s errors are.
- ``FallbackError``: the fallback could not hand over; ``.stage`` from ``STAGES``.
- ``ReexecError``: reexec() could neither exec nor hand over. Its errno and filename
  are the fast path's; ``.exec_error`` and ``.fallback_error`` hold both causes and
  the message numbered recovery steps, chosen by the fallback's stage and mode.
  Its subclasses ``RecursionGuardError``, ``CannotRerunError``, ``VerifyError`` and
  ``FlushError`` are refusals before anything ran (errno None, except a verify child
  that could not start and FlushError's EAGAIN).
- ``SnapshotWarning`` (a warning, not an error): ``snapshot=True`` ran the file itself
  because no sealed copy could run; ``snapshot="required"`` raises instead.
"""

from __future__ import annotations

import builtins
import errno as _errno
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypeVar

    _E = TypeVar("_E", bound=OSError)

#: Where an ExecError happened: ``open`` (opening the program, or finding the running
#: one), ``check`` (refused before exec: it would fail, or die, after the point of no
#: return), ``execveat``/``fexecve``/``path``/``createprocess`` (the C core's exec tiers),
#: ``snapshot`` (making a sealed copy), ``fds`` (placing listen_fds/pass_fds),
#: ``verify`` (the verify child could not start: a writer holds the file), ``none``
#: (no tier could be tried: the seam or the platform left none).
TIERS = ("open", "check", "execveat", "fexecve", "path", "createprocess", "snapshot", "fds", "verify", "none")

#: Why an attempt did not run the program, beyond its errno (``Attempt.note``):
#: ``not-elf`` (fexecve skipped: not a verified ELF image), ``identity-changed`` (the
#: path no longer names the opened file), ``needs-interpreter`` (a #! script or binfmt
#: image, or one whose interpreter is missing), ``unsupported`` (the tier does not exist
#: on this platform), ``win32`` (the errno field is a Win32 error code),
#: ``open-for-writing`` (a writer holds the file), ``changed-during-copy``.
NOTES = ("not-elf", "identity-changed", "needs-interpreter", "unsupported", "win32", "open-for-writing",
         "changed-during-copy")

#: Where a FallbackError happened: ``cargo-not-found``, ``no-workspace`` (cargo found
#: no workspace from the working directory or --manifest-path, or could not say:
#: nothing was run), ``no-package`` (the workspace has no such package: nothing was
#: run), ``spawn`` (cargo, or the
#: fallback's child, could not be started), ``no-artifact`` (cargo build succeeded but
#: reported no single executable), ``artifact-exec`` (the built program could not be
#: executed; ``.exec_error`` says why), ``wait`` (cargo build ran but its exit status
#: was lost, ECHILD: nothing is run). A build that fails is not raised: this process
#: exits with cargo's status, as ``cargo run`` would.
STAGES = ("cargo-not-found", "no-workspace", "no-package", "spawn", "no-artifact", "artifact-exec", "wait")

# The spec logs Rust's io::ErrorKind names ("Error kind: NotFound"); keep them.
_ERROR_KINDS = {
    _errno.ENOENT: "NotFound",
    _errno.EACCES: "PermissionDenied",
    _errno.EPERM: "PermissionDenied",
    _errno.ETXTBSY: "ExecutableFileBusy",
    _errno.E2BIG: "ArgumentListTooLong",
    _errno.ENOEXEC: "ExecFormatError",
    _errno.EISDIR: "IsADirectory",
    _errno.ENOTDIR: "NotADirectory",
    _errno.ELOOP: "FilesystemLoop",
    _errno.ENOMEM: "OutOfMemory",
    _errno.ENOSYS: "Unsupported",
    _errno.ESTALE: "StaleNetworkFileHandle",
    _errno.EINVAL: "InvalidInput",
}


def error_kind(exc: BaseException | None) -> str:
    """Kind name of an OSError, Rust-style, with the errno symbol: ``NotFound (ENOENT)``."""
    if not isinstance(exc, OSError) or exc.errno is None:
        return type(exc).__name__ if exc is not None else "None"
    symbol = _errno.errorcode.get(exc.errno, str(exc.errno))
    return f"{_ERROR_KINDS.get(exc.errno, 'Uncategorized')} ({symbol})"


class Attempt(tuple[str, int, "str | None"]):
    """One try of one tier: ``tier`` (from TIERS), ``errno`` (a Win32 error code when
    ``note`` is ``"win32"``), ``note`` (from NOTES, or None). A tuple, so
    ``tier, err, note = attempt`` works."""

    __slots__ = ()

    def __new__(cls, tier: str, errno: int, note: str | None = None) -> Attempt:
        return super().__new__(cls, (tier, errno, note))

    @property
    def tier(self) -> str:
        return self[0]

    @property
    def errno(self) -> int:
        return self[1]

    @property
    def note(self) -> str | None:
        return self[2]

    def __reduce__(self) -> tuple[type[Attempt], tuple[str, int, str | None]]:
        return (Attempt, (self[0], self[1], self[2]))

    def __repr__(self) -> str:
        return f"Attempt(tier={self.tier!r}, errno={self.errno!r}, note={self.note!r})"


# The built-in OSError subclasses an errno maps to (as OSError(errno, ...) picks them).
_BUILTIN_SUBCLASSES: tuple[type[OSError], ...] = (
    BlockingIOError, ChildProcessError, BrokenPipeError, ConnectionAbortedError, ConnectionRefusedError,
    ConnectionResetError, FileExistsError, FileNotFoundError, InterruptedError, IsADirectoryError,
    NotADirectoryError, PermissionError, ProcessLookupError, TimeoutError,
)


def _errno_class(base: type[_E], builtin: type[OSError]) -> type[_E]:
    """(base, builtin) as one class named ``<base>_<builtin>`` (ExecError_FileNotFoundError),
    made at first use and kept as a module-level name, so its instances pickle (the
    module's __getattr__ makes it for an unpickler too). Not at import: fourteen classes
    per base cost a millisecond of every start that never fails."""
    if builtin is OSError:
        return base
    name = f"{base.__name__}_{builtin.__name__}"
    made = globals().get(name)
    if made is None:
        made = type(name, (base, builtin), {"__module__": __name__, "__doc__": f"{base.__name__} that is a {builtin.__name__}."})
        globals()[name] = made
    return made  # pyright: ignore[reportReturnType]  # type() of a subclass of base


def _for_errno(base: type[_E], err: int | None) -> type[_E]:
    """`base` combined with the built-in subclass `err` maps to (as OSError(err, ...) picks it)."""
    return base if err is None else _errno_class(base, type(OSError(err, "")))


def __getattr__(name: str) -> object:
    """ExecError_FileNotFoundError and the like, for an unpickler in a new process."""
    base_name, _, builtin_name = name.partition("_")
    base = {"ExecError": ExecError, "FallbackError": FallbackError}.get(base_name)
    builtin = getattr(builtins, builtin_name, None)
    if base is None or not isinstance(builtin, type) or builtin not in _BUILTIN_SUBCLASSES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _errno_class(base, builtin)


class ExecError(OSError):
    """The program could not be opened, checked, copied or executed. ``.tier`` (one of
    TIERS), ``.attempts`` (Attempt records, in order), ``.diagnosis`` (what an ENOEXEC
    or a pre-exec refusal meant for this file, or None). Make one with ``ExecError.of``
    to get the built-in subclass of its errno too."""

    tier: str
    attempts: tuple[Attempt, ...]
    diagnosis: str | None
    if sys.platform != "win32":
        winerror: int  # set only for a Windows error (Windows' OSError has its own)

    def __init__(self, *args: object, tier: str = "none", attempts: Sequence[Attempt] = (),
                 diagnosis: str | None = None) -> None:
        super().__init__(*args)
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
        self.tier = tier
        self.attempts = tuple(attempts)
        self.diagnosis = diagnosis

    @classmethod
    def of(cls, err: int | None, strerror: str, filename: str | None, *, tier: str,
           attempts: Sequence[Attempt] = (), diagnosis: str | None = None, winerror: int | None = None) -> ExecError:
        """An ExecError that is also the built-in subclass its errno maps to. With
        `winerror` (Windows) and no `err`, the errno is Python's for that Win32 code;
        with both, `err` is kept and ``.winerror`` set."""
        if err is None and winerror is not None:
            err = OSError(None, "", None, winerror).errno  # Python's own Win32 -> errno table
            args: tuple[object, ...] = (None, strerror, filename, winerror)
        else:
            args = (err, strerror) if filename is None else (err, strerror, filename)
        exc = _for_errno(ExecError, err)(*args, tier=tier, attempts=attempts, diagnosis=diagnosis)
        if winerror is not None and getattr(exc, "winerror", None) != winerror:
            exc.winerror = winerror
        return exc


class FallbackError(OSError):
    """The fallback could not hand over. ``.stage`` (one of STAGES), ``.mode`` (the
    CargoRun mode: "run" or "build-exec"), ``.command`` (what it ran or would run, as
    text), ``.exec_error`` (stage "artifact-exec": the built program's ExecError)."""

    stage: str
    mode: str | None
    command: str | None
    exec_error: ExecError | None
    if sys.platform != "win32":
        winerror: int  # the hand-over's Win32 error, when it was one

    @classmethod
    def of(cls, err: int, strerror: str, filename: str | None, *, stage: str, mode: str | None = None,
           command: str | None = None, exec_error: ExecError | None = None) -> FallbackError:
        """A FallbackError that is also the built-in subclass `err` maps to."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
        kind = _for_errno(FallbackError, err)
        exc = kind(err, strerror, filename) if filename is not None else kind(err, strerror)
        exc.stage, exc.mode, exc.command, exc.exec_error = stage, mode, command, exec_error
        return exc


class ReexecError(OSError, RuntimeError):
    """The process could not be replaced, nor handed over to the fallback.

    An OSError whose errno, strerror and filename are the fast path's (None when it
    was not tried). ``exec_error`` is that ExecError, ``fallback_error`` the fallback's
    (a FallbackError from CargoRun); either may be None. The message reexec() gives
    ends in numbered recovery steps (their text is the fast path's and the fallback's:
    _retry, cargo). ``rebuild_command`` is deprecated (ignored). Still a
    RuntimeError in 0.2, for ``except RuntimeError`` written against 0.1 (deprecated).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        exec_error: BaseException | None = None,
        fallback_error: BaseException | None = None,
        **deprecated: object,
    ) -> None:
        for name in ("backend", "rebuild_command"):
            if name in deprecated:
                _warn_deprecated(f"ReexecError({name}=...) is ignored and will be removed")
                deprecated.pop(name)
        if deprecated:
            raise TypeError(f"ReexecError() got unexpected keyword arguments: {', '.join(deprecated)}")
        self.exec_error = exec_error
        self.fallback_error = fallback_error
        self.message = message or describe(exec_error, fallback_error)
        if isinstance(exec_error, OSError) and exec_error.errno is not None:
            super().__init__(exec_error.errno, exec_error.strerror, exec_error.filename)
        else:
            super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def backend(self) -> str:
        """Deprecated (0.1 never set it): "unknown". Use ``fallback_error.stage``/``.mode``."""
        _warn_deprecated("ReexecError.backend is always 'unknown' and will be removed in 0.3; "
                         "see fallback_error.stage and .mode")
        return "unknown"


def _warn_deprecated(message: str) -> None:
    import warnings

    warnings.warn(message, DeprecationWarning, stacklevel=3)


class SnapshotWarning(UserWarning):
    """``snapshot=True`` found no sealed copy that could run, so the file itself runs
    (in-place rewrites can reach it); the message names why each method failed.
    ``snapshot="required"`` refuses instead."""


class ArgumentListTooLongError(OSError, ValueError):
    """argv + environment exceed what exec accepts (errno E2BIG), found before
    anything was opened or run. Both an OSError with errno E2BIG (what exec itself
    would raise) and a ValueError (bad input refused up front): catch either."""


class RecursionGuardError(ReexecError):
    """The guard variable is already set: this process is itself a re-exec. Nothing
    ran (errno None); a ReexecError like every refusal of reexec()."""


class CannotRerunError(ReexecError):
    """reexec() with no argv, refused before anything ran: the running Python command
    cannot be re-run by a new process (its script came from standard input, or its
    script or -m module would not be found from the directory the new process starts
    in). The message says why and what to pass instead (``cwd=start_dir()``, ``argv=``)."""


class VerifyError(ReexecError):
    """``reexec(verify=...)``: the opened program, run as a child with the verify
    arguments, did not exit 0 in time, so it was not executed; this process carries
    on. ``path`` (also ``filename``), ``args_run``; ``returncode`` (negative: killed by
    that signal; None: it never ran, see ``errno``, or it timed out, see ``timed_out``);
    ``stderr_tail`` (the last bytes it wrote to stderr, decoded)."""

    def __init__(self, message: str, *, path: str, args: Sequence[str | bytes], returncode: int | None = None,
                 timed_out: bool = False, errno: int | None = None, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.strerror = os.strerror(errno) if errno is not None else None
        self.filename = path
        self.path = path
        self.args_run = args
        self.returncode = returncode
        self.timed_out = timed_out
        self.stderr_tail = stderr_tail


class FlushError(ReexecError):
    """Python's buffered output could not be written before the exec, which would have
    dropped it: ``stream`` ("stdout" or "stderr", also ``filename`` as "<stdout>") is on
    a non-blocking descriptor ``fd`` whose reader took nothing for ``timeout`` seconds.
    Nothing ran; this process carries on (errno EAGAIN). What io could keep stays
    buffered: its text layer drops what its binary buffer cannot take when the write
    would block (docs/hardening.md)."""

    stream: str
    fd: int | None
    timeout: float

    @classmethod
    def of(cls, stream: str, fd: int | None, timeout: float) -> FlushError:
        where = f"{stream} (fd {fd})" if fd is not None else stream
        exc = cls(f"Python's buffered {where} could not be written: its descriptor is non-blocking and "
                  f"its reader took nothing for {timeout:g} s (a full pipe); exec would drop that output, "
                  "so nothing was run and this process carries on "
                  "($REEXEC_NATIVE_FLUSH_TIMEOUT sets the wait)")
        exc.errno = _errno.EAGAIN
        exc.strerror = os.strerror(_errno.EAGAIN)
        exc.filename = f"<{stream}>"
        exc.stream, exc.fd, exc.timeout = stream, fd, timeout
        return exc


def _fallback_label(fallback_error: BaseException) -> str:
    mode = getattr(fallback_error, "mode", None)
    if not isinstance(fallback_error, FallbackError):
        return "the fallback"
    return "cargo build fallback" if mode == "build-exec" else "cargo run"


def describe(exec_error: BaseException | None, fallback_error: BaseException | None,
             steps: Sequence[str] = ()) -> str:
    """ReexecError's message: what failed, each error, and the numbered recovery `steps`
    (reexec() gives them: the fallback's from cargo.recovery_steps, the exec's from
    _exe.exec_recovery_steps)."""
    refused = getattr(fallback_error, "stage", None) in ("no-workspace", "no-package")
    if fallback_error is None:
        head = "Re-exec failed: exec() failed and no fallback was tried."
    elif refused:
        head = (f"Re-exec failed: {'the fast path was not available' if exec_error is None else 'exec() failed'}"
                f" and {_fallback_label(fallback_error)} was refused before it ran anything.")
    elif exec_error is None:
        head = f"Re-exec failed: the fast path was not available and {_fallback_label(fallback_error)} failed."
    else:
        head = f"Re-exec failed: exec() and {_fallback_label(fallback_error)} both failed."
    lines = [head]
    if exec_error is not None:
        lines.append(f"exec() error: {exec_error} (kind: {error_kind(exec_error)})")
    if fallback_error is not None:
        lines.append(f"{_fallback_label(fallback_error)} error: {fallback_error}")
    if steps:
        lines.append("")
        lines.append("To recover:")
        lines.extend(f"  {n}. {step}" for n, step in enumerate(steps, 1))
    return "\n".join(lines)
