"""Open a program once and execute that very descriptor.

``open_exe()`` gives an ExeHandle (descriptor + the identity fstat saw);
``ExeHandle.exec()`` runs the C core's tiers on it. ``current_exe()`` is the
running program's path with Linux's `` (deleted)`` suffix handled.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ._log import flush_stdio
from ._native import ffi, lib
from ._stdio import restore_stdin, rewind_stdin
from ._validate import argv_bytes, check_exec_size, env_bytes, env_entries, path_bytes

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import NoReturn

    from ._native import CharPtrArray, CString, Exe, Report
    from ._validate import EnvArg

    #: reexec_exec's signature, and what a caller puts in its place (_exec(run=)).
    ExecFunction = Callable[[Exe, CString, CharPtrArray, CharPtrArray, int, Report], int]

TIERS = {
    "execveat": lib.REEXEC_TIER_EXECVEAT,
    "fexecve": lib.REEXEC_TIER_FEXECVE,
    "path": lib.REEXEC_TIER_PATH,
    "createprocess": lib.REEXEC_TIER_CREATEPROCESS,
}
_TIER_NAMES = {bit: name for name, bit in TIERS.items()}
_NOTES = {
    lib.REEXEC_NOTE_NOT_ELF: "not a verified ELF image, skipped",
    lib.REEXEC_NOTE_IDENTITY_CHANGED: "path no longer names the opened file",
    lib.REEXEC_NOTE_NEEDS_INTERPRETER: "a #! script or binfmt_misc image",
    lib.REEXEC_NOTE_UNSUPPORTED: "tier not available on this platform",
    lib.REEXEC_NOTE_OPEN_FOR_WRITING: "a writer holds the file open",
    lib.REEXEC_NOTE_CHANGED_DURING_COPY: "the file changed during the copy",
}
SNAPSHOT_METHODS = {"memfd": lib.REEXEC_SNAPSHOT_MEMFD, "tmpfile": lib.REEXEC_SNAPSHOT_TMPFILE}
# The new process's /proc/self/exe names the copy; this tells its current_exe()
# which file the copy was made from.
ORIGINAL_EXE_ENV = "REEXEC_NATIVE_ORIGINAL_EXE"
TIERS_ENV = "REEXEC_NATIVE_TIERS"
_DELETED = " (deleted)"
_SELF_LINK = "/proc/self/exe"


def supported_tiers() -> int:
    """Mask of the tiers this build can try."""
    return int(lib.reexec_supported_tiers())


def requested_tiers(environ: Mapping[str, str] | None = None) -> int:
    """Tiers to try: all supported ones, or those named in $REEXEC_NATIVE_TIERS (a test seam)."""
    environ = os.environ if environ is None else environ
    spec = environ.get(TIERS_ENV)
    if spec is None:
        return supported_tiers()
    mask = 0
    for name in seam_names(TIERS_ENV, spec, TIERS, "tier"):
        mask |= TIERS[name]
    return mask


def seam_names(variable: str, spec: str, known: Mapping[str, int], what: str,
               skip_blank: bool = False) -> list[str]:
    """The names in a test seam's comma list ($REEXEC_NATIVE_TIERS, ...), lower-cased;
    an unknown one is a ValueError naming the variable and what it knows."""
    names = [part.strip().lower() for part in spec.split(",")]
    if skip_blank:
        names = [name for name in names if name]
    for name in names:
        if name not in known:
            raise ValueError(f"{variable}={spec!r}: unknown {what} {name!r}; known: {', '.join(known)}")
    return names


def current_exe() -> str:
    """Path of the running program. A `` (deleted)`` suffix (the file was replaced
    or removed since start-up) is removed, so the path names what is there *now*;
    it is kept only when the file of that name is the running image itself."""
    size = 4096
    while True:
        buf = ffi.new("char[]", size)
        err = lib.reexec_current_exe(buf, size)
        if err != errno.ERANGE:
            break
        size *= 4
    if err:
        raise OSError(err, f"{os.strerror(err)} (reading the running program's path)")
    path = os.fsdecode(ffi.string(buf))
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


def _oserror(err: int, message: str, path: str, winerror: int | None = None) -> OSError:
    if winerror is not None:
        if winerror in _WIN32_ERRNO:  # Python's own table has no entry that fits
            exc = OSError(_WIN32_ERRNO[winerror], message, path)
            exc.winerror = winerror  # type: ignore[attr-defined]
            return exc
        return OSError(None, message, path, winerror)
    return OSError(err, message, path)


ERROR_BAD_EXE_FORMAT, ERROR_FILE_INVALID, ERROR_FILENAME_EXCED_RANGE = 193, 1006, 206
# Python maps 1006 to EINVAL and 206 to ENOENT: the identity check's 1006 is the ESTALE
# of the POSIX path tier (retried: reopen), 206 a command line too long (E2BIG).
_WIN32_ERRNO = {ERROR_FILE_INVALID: errno.ESTALE, ERROR_FILENAME_EXCED_RANGE: errno.E2BIG}


def _win32_message(err: int, path: str) -> str:
    """What a Win32 error of the hand-over means. The C core refuses some launches
    before CreateProcessW is called (docs/windows.md): those are not worded as its failure."""
    if err == ERROR_BAD_EXE_FORMAT and _is_batch(path):
        return (f"refused before CreateProcessW, Win32 error {err}: a .bat/.cmd file runs "
                "through cmd.exe, which re-parses the arguments by its own rules (BatBadBut)")
    if err == ERROR_FILE_INVALID:
        return (f"refused before CreateProcessW, Win32 error {err}: the path no longer names "
                "the opened file")
    if err == ERROR_FILENAME_EXCED_RANGE:
        return f"Win32 error {err}: the command line is too long"
    return f"starting the program failed, Win32 error {err}"


def _is_batch(path: str) -> bool:
    """csrc/win_cmdline.c's test: Windows strips trailing dots and spaces."""
    return path.rstrip(". ").lower().endswith((".bat", ".cmd"))


class ExeHandle:
    """A program opened for exec: one descriptor (O_PATH|O_CLOEXEC) and its identity.

    What was opened is what ``exec()`` runs, even if the path is swapped meanwhile.
    """

    def __init__(self, raw: Exe, path: str, snapshot: str | None = None) -> None:
        self._raw: Exe | None = raw
        self.path = path
        #: None, or how the copy being executed was made ("memfd", "tmpfile").
        self.snapshot = snapshot

    def _opened(self) -> Exe:
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
            err = lib.reexec_close(raw)
            if err:
                raise OSError(err, os.strerror(err), self.path)

    def __enter__(self) -> ExeHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)  # absent if __init__ did not finish
        if raw is not None:
            lib.reexec_close(raw)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd} dev={self.st_dev} ino={self.st_ino}"
        copy = f" snapshot={self.snapshot}" if self.snapshot else ""
        return f"<ExeHandle {self.path!r}{copy} {state}>"

    def exec(self, argv: Sequence[str | bytes], env: EnvArg | None = None) -> NoReturn:
        """Replace this process with the opened program: argv[0] is the name it sees,
        env (default: os.environ) its whole environment. Returns only by raising the
        OSError of the last tier tried, with ``.tier`` and ``.attempts``."""
        argv_b = argv_bytes(argv)
        env_b = env_bytes(os.environ if env is None else env)
        check_exec_size(argv_b, env_b)
        tiers = requested_tiers()
        audit_exec(self.path, argv_b, env_b)
        self._exec(argv_b, env_b, tiers)
        raise AssertionError("unreachable: _exec returns only with run=")

    def _exec(self, argv_b: list[bytes], env_b: Mapping[bytes, bytes], tiers: int, run: ExecFunction | None = None) -> None:
        """lib.reexec_exec (or `run`, same arguments) on this handle; raises its failure.
        Returns only when `run` returned 0 (reexec_win_run: the child has exited)."""
        if self._raw is None:
            raise ValueError(f"exec of a closed ExeHandle ({self.path!r})")
        keep = [ffi.new("char[]", item) for item in argv_b]
        c_argv = ffi.new("char *[]", keep + [ffi.NULL])
        env_keep = [ffi.new("char[]", item) for item in env_entries(env_b)]
        c_envp = ffi.new("char *[]", env_keep + [ffi.NULL])
        report = ffi.new("reexec_report *")
        if self.snapshot:
            # The copy has no path; its identity is the descriptor alone.
            tiers &= ~TIERS["path"]
            path: CString = ffi.NULL
        else:
            path = os.fsencode(self.path)
        if not tiers:
            raise _no_tier_left(self.path, bool(self.snapshot))
        from ._preflight import check, explain  # before exec, always (lazy: import cost)

        check(self)
        flush_stdio()
        read_to = rewind_stdin()
        try:
            status = (run or lib.reexec_exec)(self._raw, path, c_argv, c_envp, tiers, report)
        finally:
            restore_stdin(read_to)
        if status == 0 and run:
            return
        raise explain(self, self._failure(report))

    def make_snapshot(self, method: str = "memfd", tmpdir: str | None = None) -> ExeHandle:
        """A sealed copy of this program (``memfd``, or ``tmpfile``: an O_TMPFILE file in
        `tmpdir`) as a new handle; this one stays open. Raises the OSError of the step
        that refused, with ``.tier`` = ``snapshot-<method>``: ETXTBSY while a writer holds
        the file, ESTALE when it changed during the copy."""
        if self._raw is None:
            raise ValueError(f"snapshot of a closed ExeHandle ({self.path!r})")
        if method not in SNAPSHOT_METHODS:
            raise ValueError(f"unknown snapshot method {method!r}; known: {', '.join(SNAPSHOT_METHODS)}")
        raw = _new_raw()
        note = ffi.new("int *")
        c_tmpdir: CString = ffi.NULL if tmpdir is None else path_bytes(tmpdir, "tmpdir")
        err = lib.reexec_snapshot(self._raw, os.fsencode(self.path), SNAPSHOT_METHODS[method],
                                  c_tmpdir, raw, note)
        if err:
            why = f"; {_NOTES[note[0]]}" if note[0] in _NOTES else ""
            exc = OSError(err, f"{os.strerror(err)} (snapshot {method}{why})", self.path)
            exc.tier = f"snapshot-{method}"  # type: ignore[attr-defined]
            raise exc
        return ExeHandle(raw, self.path, snapshot=method)

    def _failure(self, report: Report) -> OSError:
        attempts: list[tuple[str, int, int]] = []
        for i in range(report.count):
            a = report.attempts[i]
            attempts.append((tier_name(a.tier), int(a.err), int(a.note)))
        tier, err, note = attempts[-1]
        details = "; ".join(
            f"{name}: {errno.errorcode.get(e, e) if n != lib.REEXEC_NOTE_WIN32 else f'Win32 error {e}'}"
            + (f" ({_note_text(name, n)})" if n in _NOTES else "")
            for name, e, n in attempts
        )
        if note == lib.REEXEC_NOTE_WIN32:
            exc = _oserror(0, f"{_win32_message(err, self.path)} (tier {tier})", self.path, err)
        else:
            exc = _oserror(err, f"{os.strerror(err)} (tier {tier}; tried {details})", self.path)
        exc.tier = tier  # type: ignore[attr-defined]
        exc.attempts = attempts  # type: ignore[attr-defined]
        return exc


def tier_name(mask: int) -> str:
    """A tier's name; a mask of several (the C core reports the requested mask when
    none of them exists in this build) as their names joined by '+'."""
    if mask in _TIER_NAMES:
        return _TIER_NAMES[mask]
    names = [name for bit, name in _TIER_NAMES.items() if mask & bit]
    return "+".join(names) if names else "none"


def _no_tier_left(path: str, snapshot: bool) -> OSError:
    """The OSError for an exec with no tier to try (a snapshot copy, which has no path,
    when REEXEC_NATIVE_TIERS allows only the path tier)."""
    if snapshot:
        why = ("a sealed copy has no path, so only the execveat and fexecve tiers can run it, "
               f"and {TIERS_ENV}={os.environ.get(TIERS_ENV, '')} leaves both out")
    else:
        why = f"{TIERS_ENV}={os.environ.get(TIERS_ENV, '')} allows none"
    exc = OSError(errno.ENOSYS, f"{os.strerror(errno.ENOSYS)} (no exec tier to try: {why})", path)
    exc.tier = "none"  # type: ignore[attr-defined]
    exc.attempts = []  # type: ignore[attr-defined]
    return exc


def _note_text(tier: str, note: int) -> str:
    if tier == "path" and note == lib.REEXEC_NOTE_NEEDS_INTERPRETER:
        return "the file is there: its interpreter (#! line or ELF loader) is missing"
    return _NOTES[note]


def _new_raw() -> Exe:
    raw = ffi.new("reexec_exe *")
    raw.fd = -1
    return raw


def open_exe(path: str | bytes | os.PathLike[str] | None = None, *, snapshot: bool = False) -> ExeHandle:
    """Open a program for exec. ``None`` pins the running image itself (Linux:
    ``/proc/self/exe``, the exact inode even after the file was replaced).

    It must be a regular file with an execute bit: anything else is refused here
    (PermissionError, as exec itself would), so the check and the exec agree.
    ``snapshot=True`` returns a sealed copy instead (memfd, else O_TMPFILE), which
    in-place rewrites of the file cannot touch; each refused method is logged, and
    if none works the plain handle is returned (its ``.snapshot`` is None). A file
    being written (ETXTBSY) or changing during the copy (ESTALE) raises.
    """
    handle = _open_plain(path)
    if not snapshot:
        return handle
    from ._snapshot import snapshots  # _snapshot builds on ExeHandle

    for copy in snapshots(handle):
        handle.close()
        return copy
    return handle


def _open_plain(path: str | bytes | os.PathLike[str] | None) -> ExeHandle:
    raw = _new_raw()
    if path is None:
        err = lib.reexec_open_self(raw)
        if err == errno.ENOSYS:
            return open_exe(current_exe())
        # Linux names the running image by its magic link, which keeps naming that
        # inode once the file is replaced (the path tier can still use it); elsewhere
        # (Windows) the image's path is all there is. Decided by OS, not by whether
        # /proc/self/exe exists: Wine maps it to the Unix one.
        shown = _SELF_LINK if sys.platform.startswith("linux") else current_exe()
    else:
        path_b = path_bytes(path)
        shown = os.fsdecode(path_b)
        err = lib.reexec_open(path_b, raw)
    if err:
        raise OSError(err, f"{os.strerror(err)} (opening for exec)", shown)
    handle = ExeHandle(raw, shown)
    why = _not_executable_reason(handle.st_mode)
    if why:
        handle.close()
        raise PermissionError(errno.EACCES, f"{os.strerror(errno.EACCES)} ({why})", shown)
    return handle


def _not_executable_reason(mode: int) -> str | None:
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        return f"{kind}, cannot be executed"
    if not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        return "no execute permission bit set"
    return None
