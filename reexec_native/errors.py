"""Exceptions raised by reexec_native.

Every failure names the tier, the path and the errno: OSErrors from the fast path
carry ``.tier`` and ``.attempts``; a ReexecError carries both causes when both the
fast path and the fallback failed.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Sequence

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


class ReexecError(RuntimeError):
    """The process could not be replaced, nor handed over to the fallback.

    ``exec_error`` is the fast path's OSError (with ``.tier`` and ``.filename``),
    ``fallback_error`` the fallback's; either may be None. ``rebuild_command``, when
    known (the cargo fallback's build), goes into the recovery steps.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        exec_error: BaseException | None = None,
        fallback_error: BaseException | None = None,
        backend: str = "unknown",
        rebuild_command: str | None = None,
    ) -> None:
        self.exec_error = exec_error
        self.fallback_error = fallback_error
        self.backend = backend
        super().__init__(message or _describe(exec_error, fallback_error, rebuild_command))


class ArgumentListTooLongError(OSError, ValueError):
    """argv + environment exceed what exec accepts (errno E2BIG), found before
    anything was opened or run. Both an OSError with errno E2BIG (what exec itself
    would raise) and a ValueError (bad input refused up front): catch either."""


class RecursionGuardError(ReexecError):
    """The guard variable is already set: this process is itself a re-exec."""


class CannotRerunError(ReexecError):
    """reexec() with no argv, refused before anything ran: the running Python command
    cannot be re-run by a new process (its script came from standard input, or its
    script or -m module would not be found from the directory the new process starts
    in). The message says why and what to pass instead (``cwd=start_dir()``, ``argv=``)."""


class VerifyError(ReexecError):
    """``reexec(verify=...)``: the opened program, run as a child with the verify
    arguments, did not exit 0 in time, so it was not executed; this process carries
    on. ``path``, ``args``; ``returncode`` (negative: killed by that signal; None: it
    never ran, see ``errno``, or it timed out, see ``timed_out``); ``stderr_tail``
    (the last bytes it wrote to stderr, decoded)."""

    def __init__(self, message: str, *, path: str, args: Sequence[str | bytes], returncode: int | None = None,
                 timed_out: bool = False, errno: int | None = None, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.args_run = args
        self.returncode = returncode
        self.timed_out = timed_out
        self.errno = errno
        self.stderr_tail = stderr_tail


def _describe(exec_error: BaseException | None, fallback_error: BaseException | None,
              rebuild_command: str | None = None) -> str:
    if fallback_error is None:
        head = "Re-exec failed: exec() failed and no fallback was tried."
    elif exec_error is None:
        head = "Re-exec failed: the fast path was not available and cargo run failed."
    else:
        head = "Re-exec failed: exec() and cargo run both failed."
    lines = [head]
    if exec_error is not None:
        lines.append(f"exec() error: {exec_error} (kind: {error_kind(exec_error)})")
    if fallback_error is not None:
        lines.append(f"cargo run error: {fallback_error}")
    steps = _recovery_steps(exec_error if isinstance(exec_error, OSError) else None, fallback_error, rebuild_command)
    if steps:
        lines.append("")
        lines.append("To recover:")
        lines.extend(f"  {n}. {step}" for n, step in enumerate(steps, 1))
    return "\n".join(lines)


def _recovery_steps(exec_error: OSError | None, fallback_error: BaseException | None, rebuild_command: str | None) -> list[str]:
    steps: list[str] = []
    cargo_missing = isinstance(fallback_error, FileNotFoundError)
    if cargo_missing:
        steps.append(
            "Install Rust and cargo (https://rustup.rs) so that `cargo` is on PATH "
            f"(PATH={os.environ.get('PATH', '')!r})."
        )
        steps.append("Or set CARGO to the full path of the cargo binary.")
    elif fallback_error is not None:
        steps.append(f"Check that the fallback command can start: {fallback_error}.")
    if isinstance(exec_error, OSError) and exec_error.filename:
        target = exec_error.filename
        if _interpreter_missing(exec_error):
            steps.append(f"{target} exists, but the interpreter it names (its #! line, or the "
                         "ELF loader) is missing: install it or fix the #! line.")
        elif exec_error.errno in (_errno.ENOENT, _errno.ESTALE):
            how = f": `{rebuild_command}`" if rebuild_command else ""
            steps.append(f"Rebuild the program so that {target} exists again{how}.")
        elif exec_error.errno == _errno.EACCES:
            steps.append(f"Make {target} executable (chmod +x) and check its filesystem "
                         "is not mounted noexec.")
        elif exec_error.errno == _errno.ETXTBSY:
            steps.append(f"Wait for the process writing {target} to finish, then retry.")
        elif exec_error.errno == _errno.ENOEXEC and (diagnosis := getattr(exec_error, "diagnosis", None)):
            steps.append(f"{target} cannot be executed here: {diagnosis}.")
        elif exec_error.errno == _errno.ENOEXEC:
            steps.append(f"{target} is not a complete executable (truncated or half-written): "
                         "rebuild it.")
        steps.append(f"Run it by hand: {target} ARGS...")
    return steps


def _interpreter_missing(exec_error: OSError) -> bool:
    """The path tier's ENOENT with the file still there (the C core's note)."""
    attempts = getattr(exec_error, "attempts", None)
    if exec_error.errno != _errno.ENOENT or not attempts:
        return False
    from ._native import lib

    tier, _err, note = attempts[-1]
    return tier in ("path", "check") and note == lib.REEXEC_NOTE_NEEDS_INTERPRETER
