"""reexec(): guard -> fast path (retrying) -> fallback -> exit with the child's status."""

from __future__ import annotations

import os

from . import _validate
from ._command import DEFAULT_GUARD, current_command
from ._exe import current_exe
from ._fastpath import exec_with_retry
from ._log import log
from ._stdio import note_captured_output
from .cargo import CargoRun
from .errors import RecursionGuardError, ReexecError, error_kind

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Literal, NoReturn, Protocol

if TYPE_CHECKING:  # a Protocol for type checkers; typing is not imported at run time
    class Fallback(Protocol):
        """What reexec() hands over to when exec fails: CargoRun, or anything with this
        .run (it should not return; reexec() raises ReexecError if it does). With
        listen_fds/pass_fds/verify, run() is also passed ``handover=``."""

        def run(self, argv: Sequence[bytes], env: Mapping[bytes, bytes], /) -> object: ...


_DEFAULT_FALLBACK = object()


class _working_dir:  # noqa: N801 - used as a context manager, like contextlib's
    """chdir to `path` (None: stay) for the block; back where we were if it raises.
    A descriptor of the old directory brings us back even if it was renamed. (A class:
    contextlib would be the dearest import of the exec path.)"""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.saved_fd: int | None = None
        self.saved: str | None = None

    def __enter__(self) -> None:
        if self.path is None:
            return
        if getattr(os, "fchdir", None) is not None:
            saved_fd = os.open(".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                os.chdir(self.path)
            except BaseException:
                os.close(saved_fd)
                raise
            self.saved_fd = saved_fd
        else:
            saved = os.getcwd()
            os.chdir(self.path)
            self.saved = saved
        log("Working directory: %s", self.path)

    def __exit__(self, *exc_info: object) -> None:
        if self.saved_fd is not None:
            try:
                os.fchdir(self.saved_fd)
            finally:
                os.close(self.saved_fd)
                self.saved_fd = None
        elif self.saved is not None:
            os.chdir(self.saved)
            self.saved = None


def reexec(
    argv: Sequence[str | bytes] | None = None,
    *,
    executable: str | bytes | os.PathLike[str] | None = None,
    env: _validate.EnvArg | None = None,
    guard: str | None = DEFAULT_GUARD,
    fallback: Fallback | None = _DEFAULT_FALLBACK,  # type: ignore[assignment]
    retry_budget: float = 0.25,
    snapshot: bool | Literal["required"] = False,
    cwd: str | bytes | os.PathLike[str] | None = None,
    listen_fds: Sequence[object] | None = None,
    listen_fdnames: Sequence[str] | None = None,
    pass_fds: Sequence[object] = (),
    verify: Sequence[str | bytes] | None = None,
    verify_timeout: float = 5.0,
) -> NoReturn:
    """Replace this process with `executable` (default: the running program, as it
    is on disk now), or hand over to `fallback` and exit with its status.

    argv[0] is the name the new program sees; argv[1:] reach it unchanged on every
    path. The guard variable is set to "1" in the new process; if it is already set
    here, RecursionGuardError is raised and nothing runs. Returns only by raising:
    ReexecError carries the fast path's error and the fallback's.
    With `snapshot`, a sealed copy of the program runs (O_TMPFILE or memfd, each step
    logged): in-place rewrites cannot reach it. When no copy can run, snapshot=True
    runs the file itself with a SnapshotWarning naming why each method failed;
    snapshot="required" raises ReexecError (its exec_error an ExecError, tier
    "snapshot") before the point of no return, and runs no fallback.
    cwd: the directory the new process starts in (``start_dir()`` re-runs a command
    from where it was started); entered just before exec, left again if reexec raises.
    listen_fds / listen_fdnames / pass_fds: descriptors for the new program, by
    systemd's socket-activation protocol (docs/upgrade.md). verify: arguments to run
    the opened program with first (e.g. ["--version"]); it is executed only if that
    exits 0 within verify_timeout seconds, else VerifyError and this process carries on.
    """
    argv_b = _validate.argv_bytes(current_command() if argv is None else argv)
    env_b = _validate.env_bytes(os.environ if env is None else env)
    guard = _validate.guard_name(guard)
    budget = _validate.retry_budget(retry_budget)
    snapshot_mode = _validate.snapshot_mode(snapshot)
    target = None if executable is None else os.fsdecode(_validate.path_bytes(executable))
    if fallback is _DEFAULT_FALLBACK:
        fallback = CargoRun()
    elif fallback is not None and not callable(getattr(fallback, "run", None)):
        raise TypeError(f"fallback must be a CargoRun (or have .run(argv, env)) or None, not {type(fallback).__name__}")

    if guard is not None:
        if os.environ.get(guard):
            raise RecursionGuardError(
                f"Refusing to re-exec: {guard}={os.environ[guard]} is already set in this process, "
                "so it is itself a re-exec (the guard stops a re-exec loop at start-up; pass guard=None "
                "to allow it). A long-lived program that re-executes on purpose again and again (a "
                "server upgrading on SIGUSR2/SIGHUP, a reloader) passes guard=None, or calls "
                f"clear_guard({guard!r}) once started; and fallback=None unless cargo builds it. "
                "See docs/upgrade.md, 'Servers and reloaders'."
            )
        env_b[os.fsencode(guard)] = b"1"
    # Too long for exec (E2BIG) is too long for the fallback too: refuse it up front.
    if verify is None and not _validate.fds_asked(listen_fds, listen_fdnames, pass_fds):
        _validate.verify_args(None, verify_timeout)  # checked even when unused
        handover = None
    else:
        from ._handover import Handover  # only with descriptors or verify (import cost)

        handover = Handover.from_args(listen_fds, listen_fdnames, pass_fds, verify, verify_timeout)
    if handover is not None:
        if handover.fds is not None and fallback is not None and not isinstance(fallback, CargoRun):
            raise TypeError("listen_fds/pass_fds need fallback=CargoRun(...) or None: a custom "
                            f"fallback ({type(fallback).__name__}) cannot be handed descriptors")
        env_b = handover.prepare(env_b)
    _validate.check_exec_size(argv_b, env_b)

    if cwd is not None:
        cwd = os.fsdecode(_validate.path_bytes(cwd, "cwd"))
        if target is not None:
            target = os.path.abspath(target)  # relative to where we are, not to cwd
    if argv is None:  # re-running this Python command: can the new process find it?
        from ._selfcheck import check_rerun  # only for argv=None (import cost)

        check_rerun(env_b, cwd)
    note_captured_output()
    with _working_dir(cwd):
        exec_error: OSError | None = None
        try:
            path = current_exe() if target is None else target
        except OSError as exc:
            exec_error = exc
            log("current_exe() failed, skipping exec(): %s", exc)
        else:
            exec_error = exec_with_retry(path, argv_b, env_b, budget, snapshot=snapshot_mode,
                                         handover=handover, give_up_when_quiet=fallback is not None)
            log("Fast path failed: %s", exec_error)
            log("Error kind: %s", error_kind(exec_error))

        rebuild = " ".join(fallback.build_command()) if isinstance(fallback, CargoRun) else None
        if fallback is None:
            raise ReexecError(exec_error=exec_error) from exec_error
        try:
            if handover is None:
                fallback.run(argv_b, env_b)
            else:
                # Beyond the Protocol: only a handover-aware fallback (CargoRun) gets here.
                run_with_handover: Any = fallback.run
                run_with_handover(argv_b, env_b, handover=handover)
        except ReexecError:
            raise  # VerifyError of build-exec's artifact: a refusal, not the fallback failing
        except OSError as fallback_error:
            raise ReexecError(exec_error=exec_error, fallback_error=fallback_error,
                              rebuild_command=rebuild) from fallback_error
        raise ReexecError("the fallback returned instead of exiting", exec_error=exec_error)

