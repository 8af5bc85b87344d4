"""A program opened once, and the exec of that very descriptor.

``ExeHandle`` is the descriptor and the identity fstat saw, and it owns its exec
protocol: the pre-exec check (_elf), the process's streams (_log.before_exec), then
the C core's tiers, all in one place for every caller:

- ``exec()`` (public): checks argv/env, raises the ``os.exec`` audit event, execs;
- ``exec_checked()``: the exec of arguments already checked and audited (the fast
  path, build-exec), with the hand-over's verify run and descriptors when given;
- ``run()``: the Windows hand-over, the program as a child, its exit code returned;
- ``spawn()``: the same descriptor started as a child (the verify run).

``open_exe()`` opens a path (or the running image), as it is or as a sealed copy;
``attempt()`` is one try of the fast path; ``current_exe()`` is the running
program's path with Linux's `` (deleted)`` suffix handled.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from . import _binding
from ._elf import check, explain, inspect_fd, stamp_of
from ._log import before_exec, log, log_lines, restore_stdin
from ._startup import ORIGINAL_EXE_ENV
from ._validate import argv_bytes, check_exec_size, env_bytes, path_bytes, snapshot_mode

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Literal, NoReturn, Protocol

    from ._binding import ExecFunction, FdPlanC, RawExe, RawSigchld
    from ._validate import EnvArg
    from .errors import ExecError

    class Handover(Protocol):
        """What an exec needs of a hand-over (``_handover.Handover``, which knows this
        module, not the other way round): before the exec, its verify run and its
        descriptors placed, giving the handle to exec; after a failed exec, the
        descriptor table put back."""

        def prepare(self, handle: ExeHandle, argv0: bytes, env: Mapping[bytes, bytes]) -> ExeHandle: ...

        def undo(self) -> None: ...

_DELETED = " (deleted)"
_SELF_LINK = "/proc/self/exe"


def current_exe() -> str:
    """Path of the running program. A `` (deleted)`` suffix (the file was replaced
    or removed since start-up) is removed, so the path names what is there *now*;
    it is kept only when the file of that name is the running image itself."""
    path = _binding.current_exe()
    original = os.environ.get(ORIGINAL_EXE_ENV)
    if original and _is_snapshot_image(path):
        return original
    if path.endswith(_DELETED) and not _is_running_image(path):
        path = path[: -len(_DELETED)]
    return path


def _is_running_image(path: str) -> bool:
    """True if `path` is the running image itself (same st_dev and st_ino as
    /proc/self/exe): a program whose file is really named "... (deleted)". Decided
    by identity, never by name: when the image was removed, another file that
    happens to be called "<path> (deleted)" is not it, and must not be run."""
    try:
        running = os.stat(_SELF_LINK)
        there = os.stat(path)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (running.st_dev, running.st_ino)


def _is_snapshot_image(link: str) -> bool:
    """True for /proc/self/exe of a snapshot: a memfd, or an unnamed O_TMPFILE file."""
    if link.startswith("/memfd:reexec-native:"):
        return True
    return link.endswith(_DELETED) and os.path.basename(link).startswith("#")


class ExeHandle:
    """A program opened for exec: one descriptor (O_PATH|O_CLOEXEC) and its identity.

    What was opened is what ``exec()`` runs, even if the path is swapped meanwhile.
    """

    def __init__(self, raw: RawExe, path: str, snapshot: str | None = None) -> None:
        self._raw: RawExe | None = raw
        self.path = path
        #: None, or how the copy being executed was made ("memfd", "tmpfile").
        self.snapshot = snapshot

    def _opened(self) -> RawExe:
        if self._raw is None:
            raise ValueError(f"closed ExeHandle ({self.path!r})")
        return self._raw

    @property
    def fd(self) -> int:
        return int(self._opened().fd)

    @property
    def st_dev(self) -> int:
        return int(self._opened().dev)

    @property
    def st_ino(self) -> int:
        return int(self._opened().ino)

    @property
    def st_mode(self) -> int:
        return int(self._opened().mode)

    @property
    def st_size(self) -> int:
        return int(self._opened().size)

    @property
    def closed(self) -> bool:
        return self._raw is None

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            err = _binding.close(raw)
            if err:
                raise OSError(err, os.strerror(err), self.path)

    def __enter__(self) -> ExeHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)  # absent if __init__ did not finish
        if raw is not None:
            _binding.close(raw)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd} dev={self.st_dev} ino={self.st_ino}"
        copy = f" snapshot={self.snapshot}" if self.snapshot else ""
        return f"<ExeHandle {self.path!r}{copy} {state}>"

    def moved_to(self, fd: int) -> ExeHandle:
        """A handle on the same open file at descriptor `fd` (where a descriptor plan
        moved it), owned by the plan: ``release()`` the view, do not close it."""
        return ExeHandle(_binding.view(self._opened(), fd), self.path, snapshot=self.snapshot)

    def release(self) -> None:
        """Forget the descriptor without closing it (someone else owns it)."""
        self._raw = None

    # --- the exec protocol ------------------------------------------------------------

    def exec(self, argv: Sequence[str | bytes], env: EnvArg | None = None) -> NoReturn:
        """Replace this process with the opened program: argv[0] is the name it sees,
        env (default: os.environ) its whole environment. Returns only by raising the
        ExecError of the last tier tried, with ``.tier`` and ``.attempts``."""
        argv_b = argv_bytes(argv)
        env_b = env_bytes(os.environ if env is None else env)
        check_exec_size(argv_b, env_b)
        sys.audit("os.exec", self.path, argv_b, env_b)
        self.exec_checked(argv_b, env_b)

    def exec_checked(self, argv: Sequence[bytes], env: Mapping[bytes, bytes],
                     handover: Handover | None = None) -> NoReturn:
        """exec() of arguments already checked and audited. With a `handover`: its
        verify run first (VerifyError: this process carries on), then its descriptors
        placed for the exec (and put back when it fails)."""
        if handover is None:
            self._exec_tiers(argv, env)
        target = handover.prepare(self, argv[0], env)
        try:
            target._exec_tiers(argv, env)
        finally:
            handover.undo()

    def run(self, argv: Sequence[bytes], env: Mapping[bytes, bytes]) -> int:
        """The Windows hand-over: the program as a child of the C shim (job, console
        handler, std handles); its exit code, all 32 bits. Where there is no such
        hand-over (off Windows) the C core refuses it: the ExecError is raised."""
        tiers = _binding.TIER_BITS["createprocess"]
        if not _binding.has_win_run():
            self._exec_tiers(argv, env, tiers)  # the C core's refusal
        run = _binding.WinRun()
        self._run_tiers(argv, env, tiers, run)
        return run.exit_code

    def spawn(self, argv: Sequence[bytes], env: Mapping[bytes, bytes], plan: FdPlanC | None,
              stdio: tuple[int, int, int], sigchld: RawSigchld | None) -> tuple[int, int]:
        """Start this very descriptor as a child, by the same tiers as exec (the verify
        run): `plan` applied in it, `stdio` its 0-2, `sigchld` (ChildWait.for_child) as
        the caller had it. (0, pid) or (errno, -1)."""
        sealed = bool(self.snapshot)
        tiers = _binding.exec_tiers(self.path, sealed)
        return _binding.spawn(self._opened(), None if sealed else os.fsencode(self.path), argv, env, tiers,
                              plan, stdio, sigchld=sigchld)

    def _exec_tiers(self, argv: Sequence[bytes], env: Mapping[bytes, bytes], tiers: int | None = None) -> NoReturn:
        self._run_tiers(argv, env, tiers)
        raise AssertionError("unreachable: the tiers return only after a hand-over (run=)")

    def _run_tiers(self, argv: Sequence[bytes], env: Mapping[bytes, bytes], tiers: int | None = None,
                   run: ExecFunction | None = None) -> None:
        """The pre-exec check, the streams, then reexec_exec (or `run`, same arguments)
        on this handle. Returns only when `run` ran the program; raises the ExecError
        of the last tier tried (what ENOEXEC meant added to it)."""
        raw = self._opened()
        sealed = bool(self.snapshot)
        fd, dev, ino = int(raw.fd), int(raw.dev), int(raw.ino)
        check(fd, self.path, dev, ino, sealed)
        read_to = before_exec()
        try:
            status, attempts = _binding.exec_raw(raw, self.path, sealed, argv, env, tiers, run)
        finally:
            restore_stdin(read_to)
        if status == 0 and run is not None:
            return  # a hand-over that ran (see run())
        raise explain(fd, self.path, dev, ino, _binding.exec_failure(self.path, attempts), sealed)

    def make_snapshot(self, method: str = "memfd", tmpdir: str | None = None) -> ExeHandle:
        """A sealed copy of this program (``memfd``, or ``tmpfile``: an O_TMPFILE file in
        `tmpdir`) as a new handle; this one stays open. Raises the ExecError of the step
        that refused, with ``.tier`` "snapshot": ETXTBSY while a writer holds the file,
        ESTALE when it changed during the copy."""
        raw = self._opened()
        if method not in _binding.SNAPSHOT_BITS:
            raise ValueError(f"unknown snapshot method {method!r}; known: {', '.join(_binding.SNAPSHOT_BITS)}")
        c_tmpdir = None if tmpdir is None else path_bytes(tmpdir, "tmpdir")
        copy, script = _binding.snapshot(raw, os.fsencode(self.path), method, c_tmpdir)
        if script:
            log("Snapshot: %s is a #! script: the copy's descriptor stays open across exec, for its "
                "interpreter to read it", self.path)
        return ExeHandle(copy, self.path, snapshot=method)


def open_exe(path: str | bytes | os.PathLike[str] | None = None, *,
             snapshot: bool | Literal["required"] = False) -> ExeHandle:
    """Open a program for exec. ``None`` pins the running image itself (Linux:
    ``/proc/self/exe``, the exact inode even after the file was replaced).

    It must be a regular file with an execute bit: anything else is refused here
    (an ExecError, tier "open": PermissionError, as exec itself would), so the check
    and the exec agree. ``snapshot=True`` returns a sealed copy instead (memfd, else
    O_TMPFILE), which in-place rewrites of the file cannot touch; each refused method
    is logged, and if none works the plain handle is returned (its ``.snapshot`` is
    None) with a SnapshotWarning naming why each method failed; ``snapshot="required"``
    raises that ExecError (tier "snapshot") instead. A file being written (ETXTBSY) or
    changing during the copy (ESTALE) raises.
    """
    mode = snapshot_mode(snapshot)
    handle = open_plain(path)
    if not mode:
        return handle
    try:
        copy = _sealed_copy(handle, required=mode == "required")
    except BaseException:  # mid-write (ETXTBSY, ESTALE), or required: the plain handle is not leaked
        handle.close()
        raise
    if copy is None:
        return handle
    handle.close()
    return copy


def open_plain(path: str | bytes | os.PathLike[str] | None) -> ExeHandle:
    """open_exe() without a snapshot: the program at `path`, or (None) the running image."""
    if path is None:
        raw = _binding.open_self()
        if raw is None:  # no handle on the running image here: its path, now
            return open_plain(current_exe())
        # Linux names the running image by its magic link, which keeps naming that
        # inode once the file is replaced (the path tier can still use it); elsewhere
        # (Windows) the image's path is all there is. Decided by OS, not by whether
        # /proc/self/exe exists: Wine maps it to the Unix one.
        shown = _SELF_LINK if sys.platform.startswith("linux") else current_exe()
    else:
        path_b = path_bytes(path)
        shown = os.fsdecode(path_b)
        raw = _binding.open_path(path_b)
    handle = ExeHandle(raw, shown)
    why = _not_executable_reason(handle.st_mode)
    if why:
        handle.close()
        raise _binding.open_error(errno.EACCES, shown, why)
    return handle


def _not_executable_reason(mode: int) -> str | None:
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        return f"{kind}, cannot be executed"
    if not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        return "no execute permission bit set"
    return None


# --- snapshot mode: the copies (the plan is _snapshot's) ------------------------------

def _sealed_copies(handle: ExeHandle, failures: list[str]) -> Iterator[ExeHandle]:
    """Sealed copies of `handle`'s program, one per method that works, in the plan's
    order; logs each refusal and adds its "method: why" to `failures` (the caller adds
    the copies that could not run). A file being written (ETXTBSY) or changing during
    the copy (ESTALE) raises: that is the moment, not the method (the retry loop waits)."""
    from ._snapshot import NOT_NOW, plan_for, step_name  # snapshot mode only (import cost)

    real = current_exe() if handle.path == _SELF_LINK else handle.path  # open_exe(None)
    origin = inspect_fd(handle.fd, handle.path, handle.st_dev, handle.st_ino).origin_paths
    for method, tmpdir in plan_for(real, origin, failures):
        where = f" in {tmpdir}" if tmpdir else ""
        try:
            copy = handle.make_snapshot(method, tmpdir)
        except OSError as exc:
            if exc.errno in NOT_NOW:
                raise
            log("Snapshot %s%s refused: %s", method, where, exc)
            failures.append(f"{step_name(method, tmpdir)}: {exc}")
            continue
        log("Snapshot: %s copy%s, %d bytes", method, where, copy.st_size)
        yield copy


def _sealed_copy(handle: ExeHandle, required: bool) -> ExeHandle | None:
    """open_exe(snapshot=...)'s copy: the first sealed copy that can be made; None
    (with a SnapshotWarning) when none can, or, when `required`, that ExecError."""
    failures: list[str] = []
    for copy in _sealed_copies(handle, failures):
        return copy
    from ._snapshot import no_copy

    error = no_copy(handle.path, failures, required)
    if required:
        raise error
    return None


def _exec_sealed_copy(handle: ExeHandle, argv: Sequence[bytes], env: Mapping[bytes, bytes],
                     handover: Handover | None, required: bool) -> None:
    """Exec a sealed copy of `handle`'s program, trying each method in turn; returns
    when none could run (each refusal logged, a SnapshotWarning), raises when the file
    is mid-write. `required`: no copy is a refusal instead (ReexecError carrying the
    ExecError, tier "snapshot"): nothing runs, not even the fallback."""
    from ._snapshot import no_copy
    from .errors import ReexecError

    env = {**env, os.fsencode(ORIGINAL_EXE_ENV): os.fsencode(handle.path)}
    failures: list[str] = []
    before = stamp_of(handle.fd, handle.path, handle.st_dev, handle.st_ino)
    for copy in _sealed_copies(handle, failures):
        with copy:
            try:
                copy.exec_checked(argv, env, handover)
            except ReexecError:
                raise  # VerifyError
            except OSError as exc:
                if exc.errno == errno.ENOEXEC and _changed_since(handle, before, copy):
                    raise _torn_copy(copy, exc) from exc
                if getattr(exc, "tier", None) == "check":
                    raise  # about the program, not the copy: every copy would say it
                log("Snapshot %s could not run: %s", copy.snapshot, exc)
                failures.append(f"{copy.snapshot} copy could not run: {exc}")
        before = stamp_of(handle.fd, handle.path, handle.st_dev, handle.st_ino)
    error = no_copy(handle.path, failures, required)
    if required:
        raise ReexecError(f"Re-exec refused: snapshot='required', and {error.strerror}. Nothing ran "
                          "(no fallback either): this process carries on.", exec_error=error) from error


def _changed_since(handle: ExeHandle, before: tuple[int, int, int] | None, copy: ExeHandle) -> bool:
    """`handle`'s file is not what `copy` was made from: its (size, mtime, ctime) moved
    since `before` the copy, or its size is not the copy's. Coarse timestamps (Linux
    before 6.13) hide a truncate and rewrite within one tick from the first test; a copy
    taken during it is short, which the second sees (found on 6.1: 5 of 300 runs)."""
    now = stamp_of(handle.fd, handle.path, handle.st_dev, handle.st_ino)
    return now != before or (now is not None and now[0] != copy.st_size)


def _torn_copy(copy: ExeHandle, exc: OSError) -> ExecError:
    """A copy refused as no executable (ENOEXEC) while its source changed since before
    it was made (_changed_since): the copy caught a write, which the copy's own
    before/after comparison cannot see where timestamps are coarse (Linux before 6.13,
    found on 6.1). ESTALE, as that comparison reports it: the retry loop makes another
    copy."""
    from .errors import Attempt, ExecError

    why = f"{os.strerror(errno.ESTALE)} (snapshot {copy.snapshot}: the file changed during the copy, " \
          f"which the kernel then refused: {exc.strerror})"
    return ExecError.of(errno.ESTALE, why, copy.path, tier="snapshot",
                        attempts=[Attempt("snapshot", errno.ESTALE, "changed-during-copy")])


# The errors a build tool swapping the file causes, which a retry can outlive: ENOENT
# (cargo unlinks the old file before it links the new one), ETXTBSY (a copy still
# being written), ESTALE (the path tier found another file at the path: reopen).
TRANSIENT = frozenset({errno.ENOENT, errno.ETXTBSY, errno.ESTALE})
_NEEDS_PATH_TIER = ("needs-interpreter", "not-elf")


def is_transient(exc: OSError) -> bool:
    """`exc` is one a swap causes (TRANSIENT), and not an ENOENT because the target
    needs an interpreter that only the path tier can give it, and that tier may not
    run: waiting will not change that."""
    if exc.errno not in TRANSIENT:
        return False
    attempts = getattr(exc, "attempts", None)
    return not (attempts and attempts[-1][2] in _NEEDS_PATH_TIER)


def first_attempt(path: str, argv: Sequence[bytes], env: Mapping[bytes, bytes], snapshot: bool | str = False,
                  handover: Handover | None = None) -> OSError:
    """The first try of one exec (the spec's lines logged): sys.audit("os.exec") as
    os.execve raises it, then attempt(). A hook's refusal (even an OSError) propagates:
    it is not an exec failure to retry or hand to the fallback. Retries (_retry) do not
    audit again."""
    sys.audit("os.exec", path, argv, env_without(env, ORIGINAL_EXE_ENV))
    return attempt(path, argv, env, snapshot, handover, first=True)


def attempt(path: str, argv: Sequence[bytes], env: Mapping[bytes, bytes], snapshot: bool | str = False,
            handover: Handover | None = None, first: bool = False) -> OSError:
    """One try of the fast path: open `path` and exec it (with `snapshot`, a sealed
    copy first); the error when it could not (an ExecError; tier "open" when the name
    is missing). `first`: log the spec's lines. A refusal (VerifyError, a required
    snapshot that cannot be had) is raised: this process carries on, no retry."""
    try:
        handle = open_plain(path)
    except OSError as exc:
        if first:
            log_lines(("Fast path: %s", path), "Binary exists: NO")
        return exc
    with handle:
        if first:
            log_lines(("Fast path: %s", path), "Binary exists: YES", "Attempting exec()...")
        try:
            if snapshot:
                _exec_sealed_copy(handle, argv, env, handover, required=snapshot == "required")
            handle.exec_checked(argv, env_without(env, ORIGINAL_EXE_ENV), handover)
        except OSError as exc:
            from .errors import ReexecError  # (errors loads on failure only: see _validate._too_long)

            if isinstance(exc, ReexecError):
                raise  # a refusal (VerifyError, snapshot="required"), not an exec failure
            return exc


def env_without(env: Mapping[bytes, bytes], name: str) -> Mapping[bytes, bytes]:
    """`env` without the variable `name` (itself when it has none)."""
    key = os.fsencode(name)
    return {k: v for k, v in env.items() if k != key} if key in env else env
