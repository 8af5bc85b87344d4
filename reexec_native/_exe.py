"""A program opened once, and the exec of that very descriptor.

``ExeHandle`` is the descriptor and the identity fstat saw; ``exec()`` runs the C
core's tiers on it after the pre-exec check, ``make_snapshot()`` makes one sealed
copy. ``open_plain()`` opens a path (or the running image); the public
``open_exe()`` (in _open) adds snapshot mode. ``current_exe()`` is the running
program's path with Linux's `` (deleted)`` suffix handled.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from . import _binding
from ._log import flush_stdio
from ._seams import TIERS_ENV, requested_tiers, tiers_spec
from ._sigstate import keeping_mask
from ._stdio import restore_stdin, rewind_stdin
from ._validate import argv_bytes, check_exec_size, env_bytes, env_entries, path_bytes
from .errors import ExecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import NoReturn

    from ._binding import ExecFunction, RawExe
    from ._validate import EnvArg

# The new process's /proc/self/exe names the copy; this tells its current_exe()
# which file the copy was made from.
ORIGINAL_EXE_ENV = "REEXEC_NATIVE_ORIGINAL_EXE"
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


def audit_exec(path: str, argv: Sequence[bytes], env: Mapping[bytes, bytes]) -> None:
    """Raise the ``os.exec`` audit event (path, argv, env), as CPython's os.execve
    does, so audit hooks see reexec() too. A hook that raises stops the exec: its
    exception propagates, before any attempt, and the process goes on."""
    sys.audit("os.exec", path, argv, env)


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

    def exec(self, argv: Sequence[str | bytes], env: EnvArg | None = None) -> NoReturn:
        """Replace this process with the opened program: argv[0] is the name it sees,
        env (default: os.environ) its whole environment. Returns only by raising the
        ExecError of the last tier tried, with ``.tier`` and ``.attempts``."""
        argv_b = argv_bytes(argv)
        env_b = env_bytes(os.environ if env is None else env)
        check_exec_size(argv_b, env_b)
        tiers = requested_tiers()
        audit_exec(self.path, argv_b, env_b)
        self._exec(argv_b, env_b, tiers)
        raise AssertionError("unreachable: _exec returns only with run=")

    def _exec(self, argv_b: Sequence[bytes], env_b: Mapping[bytes, bytes], tiers: int,
              run: ExecFunction | None = None) -> None:
        """reexec_exec (or `run`, same arguments) on this handle, after the pre-exec
        check; raises its failure. Returns only when `run` returned 0."""
        raw = self._raw
        if raw is None:
            raise ValueError(f"exec of a closed ExeHandle ({self.path!r})")
        if self.snapshot:
            tiers &= ~_binding.TIER_BITS["path"]  # the copy has no path: its descriptor is all
        if not tiers:
            raise _no_tier_left(self.path, bool(self.snapshot))
        from ._preflight import check, explain  # before exec, always (lazy: import cost)

        sealed = bool(self.snapshot)
        check(self.fd, self.path, self.st_dev, self.st_ino, sealed)
        entries = env_entries(env_b)
        path = None if self.snapshot else os.fsencode(self.path)
        flush_stdio()
        read_to = rewind_stdin()
        try:
            status, attempts = _binding.exec_raw(raw, path, argv_b, entries, tiers, run, keep_mask=keeping_mask())
        finally:
            restore_stdin(read_to)
        if status == 0 and run:
            return
        raise explain(self.fd, self.path, self.st_dev, self.st_ino, _binding.exec_failure(self.path, attempts),
                      sealed)

    def make_snapshot(self, method: str = "memfd", tmpdir: str | None = None) -> ExeHandle:
        """A sealed copy of this program (``memfd``, or ``tmpfile``: an O_TMPFILE file in
        `tmpdir`) as a new handle; this one stays open. Raises the ExecError of the step
        that refused, with ``.tier`` "snapshot": ETXTBSY while a writer holds the file,
        ESTALE when it changed during the copy."""
        raw = self._raw
        if raw is None:
            raise ValueError(f"snapshot of a closed ExeHandle ({self.path!r})")
        if method not in _binding.SNAPSHOT_BITS:
            raise ValueError(f"unknown snapshot method {method!r}; known: {', '.join(_binding.SNAPSHOT_BITS)}")
        c_tmpdir = None if tmpdir is None else path_bytes(tmpdir, "tmpdir")
        copy = _binding.snapshot(raw, os.fsencode(self.path), method, c_tmpdir)
        return ExeHandle(copy, self.path, snapshot=method)


def _no_tier_left(path: str, snapshot: bool) -> ExecError:
    """The ExecError for an exec with no tier to try (a snapshot copy, which has no
    path, when REEXEC_NATIVE_TIERS allows only the path tier)."""
    if snapshot:
        why = ("a sealed copy has no path, so only the execveat and fexecve tiers can run it, "
               f"and {TIERS_ENV}={tiers_spec()} leaves both out")
    else:
        why = f"{TIERS_ENV}={tiers_spec()} allows none"
    return ExecError.of(errno.ENOSYS, f"{os.strerror(errno.ENOSYS)} (no exec tier to try: {why})", path,
                        tier="none")


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
