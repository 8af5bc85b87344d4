"""The one door to the C core: the only module that imports ``_native``.

Each function makes one C call (or one short sequence) on Python values: it builds
the C arrays, calls, and turns what the C core reported into Python values, or
into the exceptions of ``errors`` (errno, strerror, path; ``tier`` and named
``attempts`` for exec failures). What to try, in what order, and what to log is
decided by the callers.

Also here, because they restrict what the C core is asked to do: the test seams,
environment variables parsed in one place, so tests and benchmarks can force one tier,
copy method or wait (an unknown name is a ValueError naming the variable and what it
knows):

- ``REEXEC_NATIVE_TIERS=execveat,fexecve,path`` (any subset): the exec tiers tried;
- ``REEXEC_NATIVE_SNAPSHOT=memfd,tmpfile`` (any subset, in that order): the snapshot
  methods tried, and their order;
- ``REEXEC_NATIVE_WAIT=poll``: the retry loop sleeps instead of watching the name;

and the command line's choice to keep the caller's signal mask (``keep_caller_mask``).
"""

from __future__ import annotations

import errno
import os

from ._native import ffi, lib  # (not `from . import _native`: its ImportError names the module)

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ._native import CharArray, CharPtrArray, CString, Exe, FdPlan, Report, Sigchld
    from .errors import Attempt, ExecError

    RawExe = Exe  # a reexec_exe * (the descriptor and identity of an opened program)
    RawFdPlan = FdPlan
    RawSigchld = Sigchld  # a reexec_sigchld * (SIGCHLD as the caller had it)

    #: reexec_exec's signature, and what a caller puts in its place (exec_raw(run=)).
    ExecFunction = Callable[[RawExe, CString, CharPtrArray, CharPtrArray, int, Report], int]


def native_file() -> str | None:
    """Where the C extension was loaded from (reexec-native doctor shows it)."""
    import sys

    return getattr(sys.modules.get(f"{__package__}._native"), "__file__", None)


#: The C core's exec tiers (errors.TIERS names them all) as the bits of its masks.
TIER_BITS = {
    "execveat": lib.REEXEC_TIER_EXECVEAT,
    "fexecve": lib.REEXEC_TIER_FEXECVE,
    "path": lib.REEXEC_TIER_PATH,
    "createprocess": lib.REEXEC_TIER_CREATEPROCESS,
}
_TIER_BY_BIT = {bit: name for name, bit in TIER_BITS.items()}
SNAPSHOT_BITS = {"memfd": lib.REEXEC_SNAPSHOT_MEMFD, "tmpfile": lib.REEXEC_SNAPSHOT_TMPFILE}
LISTEN_FDS_START = int(lib.REEXEC_LISTEN_FDS_START)

# REEXEC_NOTE_* as errors.NOTES names them (REEXEC_NOTE_NONE is None).
NOTE_NAMES = {
    lib.REEXEC_NOTE_NOT_ELF: "not-elf",
    lib.REEXEC_NOTE_IDENTITY_CHANGED: "identity-changed",
    lib.REEXEC_NOTE_NEEDS_INTERPRETER: "needs-interpreter",
    lib.REEXEC_NOTE_UNSUPPORTED: "unsupported",
    lib.REEXEC_NOTE_WIN32: "win32",
    lib.REEXEC_NOTE_OPEN_FOR_WRITING: "open-for-writing",
    lib.REEXEC_NOTE_CHANGED_DURING_COPY: "changed-during-copy",
}
#: A snapshot's note on success: the copy of a #! script keeps its descriptor
#: inheritable, because the interpreter opens /dev/fd/N to read the script.
SCRIPT_NOTE = int(lib.REEXEC_NOTE_SCRIPT)
_NOTE_TEXT = {
    "not-elf": "not a verified ELF image, skipped",
    "identity-changed": "path no longer names the opened file",
    "needs-interpreter": "a #! script or binfmt_misc image",
    "unsupported": "tier not available on this platform",
    "open-for-writing": "a writer holds the file open",
    "changed-during-copy": "the file changed during the copy",
}

ERROR_BAD_EXE_FORMAT, ERROR_FILE_INVALID, ERROR_FILENAME_EXCED_RANGE = 193, 1006, 206
# Python maps 1006 to EINVAL and 206 to ENOENT: the identity check's 1006 is the ESTALE
# of the POSIX path tier (retried: reopen), 206 a command line too long (E2BIG).
_WIN32_ERRNO = {ERROR_FILE_INVALID: errno.ESTALE, ERROR_FILENAME_EXCED_RANGE: errno.E2BIG}


def supported_tiers() -> int:
    """Mask of the exec tiers this build can try."""
    return int(lib.reexec_supported_tiers())


def snapshot_methods() -> int:
    """Mask of the snapshot methods this build has (SNAPSHOT_BITS)."""
    return int(lib.reexec_snapshot_methods())


def has_win_run() -> bool:
    """True in a Windows build: reexec_win_run (the hand-over that returns) exists."""
    return getattr(lib, "reexec_win_run", None) is not None


def tier_name(mask: int) -> str:
    """The name of one tier bit; "none" for anything else (the C core reports the
    requested mask when no tier in it exists in this build)."""
    return _TIER_BY_BIT.get(mask, "none")


# --- opening --------------------------------------------------------------------------

def new_exe() -> RawExe:
    raw = ffi.new("reexec_exe *")
    raw.fd = -1
    return raw


def open_path(path: bytes) -> RawExe:
    """reexec_open: the program at `path`, opened for exec; ExecError (tier "open")."""
    raw = new_exe()
    err = lib.reexec_open(path, raw)
    if err:
        raise open_error(err, os.fsdecode(path))
    return raw


def open_self() -> RawExe | None:
    """reexec_open_self: the running image (Linux: /proc/self/exe); None where the
    platform has no such handle (ENOSYS)."""
    raw = new_exe()
    err = lib.reexec_open_self(raw)
    if err == errno.ENOSYS:
        return None
    if err:
        raise open_error(err, "/proc/self/exe")
    return raw


def open_error(err: int, path: str, why: str = "opening for exec") -> ExecError:
    from .errors import Attempt, ExecError  # (errors loads on failure only: see _validate._too_long)

    return ExecError.of(err, f"{os.strerror(err)} ({why})", path, tier="open", attempts=[Attempt("open", err)])


def close(raw: RawExe) -> int:
    """reexec_close: 0 or errno; safe to call twice."""
    return int(lib.reexec_close(raw))


def view(raw: RawExe, fd: int) -> RawExe:
    """A copy of `raw` naming descriptor `fd` (the same file, moved): not to be closed."""
    moved = ffi.new("reexec_exe *", raw[0])
    moved.fd = fd
    return moved


def current_exe() -> str:
    """reexec_current_exe: the running program's real path (Linux keeps " (deleted)")."""
    size = 4096
    while True:
        buf = ffi.new("char[]", size)
        err = lib.reexec_current_exe(buf, size)
        if err != errno.ERANGE:
            break
        size *= 4
    if err:
        raise open_error(err, "", "reading the running program's path")
    return os.fsdecode(ffi.string(buf))


# --- exec -----------------------------------------------------------------------------

def exec_raw(raw: RawExe, path: str, sealed: bool, argv: Sequence[bytes], env: Mapping[bytes, bytes],
             tiers: int | None = None, run: ExecFunction | None = None) -> tuple[int, list[Attempt]]:
    """reexec_exec (or `run`, same arguments) of the opened `raw` (shown as `path`; a
    `sealed` copy has no path: its descriptor is all) with C vectors of `argv` and `env`
    (``NAME=value``), by `tiers` (default: those the seam allows, the path tier left out
    for a sealed copy; ExecError tier "none" when that leaves none); the signal mask is
    cleared unless keep_caller_mask() was called. Returns only when it did: (status,
    the attempts in order)."""
    if tiers is None:
        tiers = exec_tiers(path, sealed)
    if _keep_mask:
        tiers |= lib.REEXEC_EXEC_KEEP_MASK
    argv_buf, c_argv = c_vector(argv, len(argv))
    env_buf, c_envp = c_vector((envp_block(env),) if env else (), len(env))
    report = ffi.new("reexec_report *")
    c_path: CString = ffi.NULL if sealed else os.fsencode(path)
    status = (run or lib.reexec_exec)(raw, c_path, c_argv, c_envp, tiers, report)
    from .errors import Attempt  # past the exec: it failed, or `run` ran the program

    attempts: list[Attempt] = []
    for i in range(report.count):
        a = report.attempts[i]
        attempts.append(Attempt(tier_name(a.tier), int(a.err), NOTE_NAMES.get(int(a.note))))
    del argv_buf, env_buf  # kept alive until here: c_argv and c_envp point into them
    return int(status), attempts


def exec_tiers(path: str, sealed: bool = False) -> int:
    """The tiers an exec of `path` tries: those $REEXEC_NATIVE_TIERS allows (default: all
    of this build's), without the path tier for a `sealed` copy (it has no path); an
    ExecError (ENOSYS, tier "none") when none is left."""
    tiers = requested_tiers()
    if sealed:
        tiers &= ~TIER_BITS["path"]
    if tiers:
        return tiers
    if sealed:
        why = ("a sealed copy has no path, so only the execveat and fexecve tiers can run it, "
               f"and {TIERS_ENV}={tiers_spec()} leaves both out")
    else:
        why = f"{TIERS_ENV}={tiers_spec()} allows none"
    from .errors import ExecError

    raise ExecError.of(errno.ENOSYS, f"{os.strerror(errno.ENOSYS)} (no exec tier to try: {why})", path, tier="none")


def c_vector(items: Iterable[bytes], count: int) -> tuple[CharArray, CharPtrArray]:
    """(buffer, vector): the `count` items in one C buffer and the NULL-terminated vector
    of pointers into it, built by reexec_vector; the buffer must outlive the vector's use.
    Items hold no NUL (checked by _validate; reexec_vector refuses a count mismatch)."""
    buf = ffi.new("char[]", b"\0".join(items))  # cffi adds the last string's NUL
    vec = ffi.new("char *[]", count + 1)
    if lib.reexec_vector(buf, len(buf), vec, count) != 0:
        raise ValueError("an argv or environment string holds a NUL byte")
    return buf, vec


def envp_block(env: Mapping[bytes, bytes]) -> bytes:
    """`env` as exec's envp strings, NAME=value, NUL-separated: those an ExecEnv
    (_validate) packed for its size check, else packed here."""
    packed = getattr(env, "envp", None)
    return packed if isinstance(packed, bytes) else b"\0".join(map(b"=".join, env.items()))


def string_sizes(joined: bytes) -> tuple[int, int]:
    """(how many strings, the longest's length) of NUL-separated `joined`, in one C pass
    (reexec_strings): exec's size limits checked without a pass per string in Python."""
    longest = ffi.new("size_t *")
    count = lib.reexec_strings(joined, len(joined), longest)
    return int(count), int(longest[0])


class WinRun:
    """reexec_win_run (Windows) in reexec_exec's place (exec_raw(run=)): the
    hand-over that returns 0 once the child exited, its 32-bit code in ``exit_code``."""

    def __init__(self) -> None:
        self._exit_code = ffi.new("unsigned long *")

    def __call__(self, raw: RawExe, path: CString, c_argv: CharPtrArray, c_envp: CharPtrArray,
                 _tiers: int, report: Report) -> int:
        return int(lib.reexec_win_run(raw, path, c_argv, c_envp, report, self._exit_code))

    @property
    def exit_code(self) -> int:
        return int(self._exit_code[0])


def exec_failure(path: str, attempts: Sequence[Attempt]) -> ExecError:
    """The ExecError for what reexec_exec tried: the last attempt's errno and tier,
    every attempt in the message and in ``.attempts``."""
    from .errors import ExecError

    tier, err, note = attempts[-1]
    if note == "win32":
        return ExecError.of(_WIN32_ERRNO.get(err), f"{_win32_message(err, path)} (tier {tier})", path,
                            tier=tier, attempts=attempts, winerror=err)
    details = "; ".join(
        f"{name}: {errno.errorcode.get(e, e)}" + (f" ({_note_text(name, n)})" if n in _NOTE_TEXT else "")
        for name, e, n in attempts
    )
    return ExecError.of(err, f"{os.strerror(err)} (tier {tier}; tried {details})", path,
                        tier=tier, attempts=attempts)


def _note_text(tier: str, note: str | None) -> str:
    if tier == "path" and note == "needs-interpreter":
        return "the file is there: its interpreter (#! line or ELF loader) is missing"
    return _NOTE_TEXT[note or ""]


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
    """csrc/windows/win_cmdline.c's test: Windows strips trailing dots and spaces."""
    return path.rstrip(". ").lower().endswith((".bat", ".cmd"))


# --- snapshot, pre-exec check ---------------------------------------------------------

def snapshot(raw: RawExe, path: bytes, method: str, tmpdir: bytes | None) -> tuple[RawExe, bool]:
    """reexec_snapshot: (a sealed copy made by `method`, whether it is a #! script's,
    whose descriptor stays inheritable: SCRIPT_NOTE); ExecError (tier "snapshot"),
    ETXTBSY while a writer holds the file, ESTALE when it changed during the copy."""
    out = new_exe()
    note = ffi.new("int *")
    c_tmpdir: CString = ffi.NULL if tmpdir is None else tmpdir
    err = lib.reexec_snapshot(raw, path, SNAPSHOT_BITS[method], c_tmpdir, out, note)
    if err:
        name = NOTE_NAMES.get(note[0])
        why = f"; {_NOTE_TEXT[name]}" if name in _NOTE_TEXT else ""
        from .errors import Attempt, ExecError

        raise ExecError.of(err, f"{os.strerror(err)} (snapshot {method}{why})", os.fsdecode(path),
                           tier="snapshot", attempts=[Attempt("snapshot", err, name)])
    return out, note[0] == SCRIPT_NOTE


def kernel_check(fd: int) -> int:
    """reexec_check: 0, the errno exec would give, or ENOSYS (no AT_EXECVE_CHECK here)."""
    return int(lib.reexec_check(fd))


# --- descriptors, children ------------------------------------------------------------

class FdPlanC:
    """A reexec_fdplan and the arrays it points into (kept alive with it)."""

    def __init__(self, listen: Sequence[int], inherit: Sequence[int], cloexec: Sequence[int]) -> None:
        self._arrays = (ffi.new("int[]", list(listen) or [0]), ffi.new("int[]", list(inherit) or [0]),
                        ffi.new("int[]", list(cloexec) or [0]),
                        ffi.new("int[]", 3 * len(listen) + len(inherit) + len(cloexec) + 1))
        self.raw: RawFdPlan = ffi.new("reexec_fdplan *", {
            "nlisten": len(listen), "listen": self._arrays[0], "ninherit": len(inherit),
            "inherit": self._arrays[1], "ncloexec": len(cloexec), "cloexec": self._arrays[2],
            "scratch": self._arrays[3]})

    def place(self) -> int:
        """reexec_fds_place: 0 or errno (the table is as it was on failure)."""
        return int(lib.reexec_fds_place(self.raw))

    def restore(self) -> None:
        lib.reexec_fds_restore(self.raw)

    def moved(self, fd: int) -> int:
        """Where `fd` is now (a listen slot displaced it), or `fd`."""
        return int(lib.reexec_fds_moved(self.raw, fd))


def pidfd_id(pid: int) -> tuple[int, int]:
    """reexec_pidfd_id: (0, the pidfd inode id of `pid`: systemd's LISTEN_PIDFDID) or
    (errno, 0): EOPNOTSUPP/ENOSYS where the kernel gives no such id."""
    out = ffi.new("unsigned long long *")
    err = int(lib.reexec_pidfd_id(pid, out))
    return (0, int(out[0])) if err == 0 else (err, 0)


def pidfd_open(pid: int) -> tuple[int, int]:
    """reexec_pidfd_open: (0, a close-on-exec pidfd naming `pid`) or (errno, -1):
    ENOSYS where there are no pidfds (for an os module without pidfd_open: PyPy)."""
    out = ffi.new("int *", -1)
    err = int(lib.reexec_pidfd_open(pid, out))
    return (0, int(out[0])) if err == 0 else (err, -1)


def pidfd_send_signal(pidfd: int, signum: int) -> int:
    """reexec_pidfd_send_signal: 0, or the errno (ESRCH: the process has ended)."""
    return int(lib.reexec_pidfd_send_signal(pidfd, signum))


_DIGITS = b"0" * 24  # room for a PID or a 64-bit id, written by the child


def spawn(raw: RawExe | None, path: bytes | None, argv: Sequence[bytes], env: Mapping[bytes, bytes],
          tiers: int, plan: FdPlanC | None, stdio: tuple[int, int, int] = (-1, -1, -1),
          listen_pid: bool = False, listen_pidfdid: bool = False,
          sigchld: RawSigchld | None = None) -> tuple[int, int]:
    """reexec_spawn: fork, apply `plan` in the child, exec `raw` by `tiers` (or, with no
    `raw`, the program at `path`) with `env` (made ``NAME=value`` here, as exec_raw
    does), with `stdio` as its 0-2 (-1: inherited); with `listen_pid`, LISTEN_PID is the
    child's own PID, with `listen_pidfdid`, LISTEN_PIDFDID its own pidfd inode id (ask
    only where pidfd_id() works here);
    `sigchld` (from sigchld_default): the child gets SIGCHLD back as the caller had
    it; the signal mask is cleared unless keep_caller_mask() was called. Returns
    (0, pid) or (errno, -1)."""
    if _keep_mask:
        tiers |= lib.REEXEC_EXEC_KEEP_MASK
    argv_buf, c_argv = c_vector(argv, len(argv))
    # NAME=<digits> entries the child fills in, last in envp: found by index there.
    extra = [name + b"=" + _DIGITS for name, asked in ((b"LISTEN_PID", listen_pid),
                                                        (b"LISTEN_PIDFDID", listen_pidfdid)) if asked]
    env_buf, c_envp = c_vector([envp_block(env), *extra] if env else extra, len(env) + len(extra))
    first = len(env)
    pid_digits = c_envp[first] + len(b"LISTEN_PID=") if listen_pid else ffi.NULL
    pidfdid_digits = c_envp[first + listen_pid] + len(b"LISTEN_PIDFDID=") if listen_pidfdid else ffi.NULL
    pid = ffi.new("int *")
    c_path: CString = ffi.NULL if path is None else path
    err = lib.reexec_spawn(ffi.NULL if raw is None else raw, c_path, c_argv, c_envp, tiers,
                           ffi.NULL if plan is None else plan.raw, pid_digits, pidfdid_digits,
                           ffi.new("int[3]", list(stdio)), ffi.NULL if sigchld is None else sigchld, pid)
    del argv_buf, env_buf  # kept alive until here: c_argv and c_envp point into them
    return (0, int(pid[0])) if err == 0 else (int(err), -1)


# --- SIGCHLD while we wait for a child ------------------------------------------------

SIGCHLD_IGNORED = int(lib.REEXEC_SIGCHLD_IGNORED)
#: REEXEC_SIGCHLD_* as the log names them.
SIGCHLD_NAMES = {
    lib.REEXEC_SIGCHLD_DEFAULT: "default",
    lib.REEXEC_SIGCHLD_IGNORED: "ignored (SIG_IGN)",
    lib.REEXEC_SIGCHLD_NOCLDWAIT: "default with SA_NOCLDWAIT",
    lib.REEXEC_SIGCHLD_HANDLED: "handled",
}


def sigchld_default() -> tuple[int, RawSigchld]:
    """reexec_sigchld_default: (0 or errno, the saved state); SIGCHLD is at SIG_DFL
    until sigchld_restore(state)."""
    state = ffi.new("reexec_sigchld *")
    return int(lib.reexec_sigchld_default(state)), state


def sigchld_restore(state: RawSigchld, notify: bool) -> None:
    """reexec_sigchld_restore: the caller's SIGCHLD back; with `notify`, a handler gets
    one SIGCHLD for the children that ended meanwhile."""
    lib.reexec_sigchld_restore(state, int(notify))


# --- inotify wait ---------------------------------------------------------------------

def watch_open(directory: bytes) -> tuple[int, int]:
    """reexec_watch_open: (0, fd) or (errno, -1)."""
    out = ffi.new("int *")
    err = int(lib.reexec_watch_open(directory, out))
    return (0, int(out[0])) if err == 0 else (err, -1)


def watch_hold(fd: int) -> int:
    """reexec_watch_hold: the release pipe's descriptor, or -1 (best effort)."""
    release = ffi.new("int *")
    return int(release[0]) if lib.reexec_watch_hold(fd, release) == 0 else -1


def watch_wait(fd: int, name: bytes, timeout_ms: int) -> int:
    """reexec_watch_wait: 0 (an event about `name`), ETIMEDOUT, EINTR, or another errno."""
    return int(lib.reexec_watch_wait(fd, name, timeout_ms))


# --- the test seams, and the signal mask ---------------------------------------------

TIERS_ENV = "REEXEC_NATIVE_TIERS"
SNAPSHOT_ENV = "REEXEC_NATIVE_SNAPSHOT"
WAIT_ENV = "REEXEC_NATIVE_WAIT"
WAIT_MODES = ("inotify", "poll")


def _names(variable: str, spec: str, known: Iterable[str], what: str, skip_blank: bool = False) -> list[str]:
    known = tuple(known)
    names = [part.strip().lower() for part in spec.split(",")]
    if skip_blank:
        names = [name for name in names if name]
    for name in names:
        if name not in known:
            raise ValueError(f"{variable}={spec!r}: unknown {what} {name!r}; known: {', '.join(known)}")
    return names


def requested_tiers(environ: Mapping[str, str] | None = None) -> int:
    """Mask of the tiers to try: all this build supports, or those $REEXEC_NATIVE_TIERS names."""
    spec = (os.environ if environ is None else environ).get(TIERS_ENV)
    if spec is None:
        return supported_tiers()
    mask = 0
    for name in _names(TIERS_ENV, spec, TIER_BITS, "tier"):
        mask |= TIER_BITS[name]
    return mask


def tiers_spec(environ: Mapping[str, str] | None = None) -> str:
    """$REEXEC_NATIVE_TIERS as set ("" when unset), for messages."""
    return (os.environ if environ is None else environ).get(TIERS_ENV, "")


def snapshot_seam_set(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get(SNAPSHOT_ENV) is not None


def requested_methods(environ: Mapping[str, str] | None = None) -> list[str]:
    """memfd and tmpfile (those this build has), or those named in
    $REEXEC_NATIVE_SNAPSHOT, in its order."""
    available = [name for name, bit in SNAPSHOT_BITS.items() if snapshot_methods() & bit]
    spec = (os.environ if environ is None else environ).get(SNAPSHOT_ENV)
    if spec is None:
        return available
    names = _names(SNAPSHOT_ENV, spec, SNAPSHOT_BITS, "method", skip_blank=True)
    return [name for name in names if name in available]


def wait_mode(environ: Mapping[str, str] | None = None) -> str:
    """"inotify" (the default) or "poll" ($REEXEC_NATIVE_WAIT=poll)."""
    spec = (os.environ if environ is None else environ).get(WAIT_ENV, "inotify").strip().lower() or "inotify"
    _names(WAIT_ENV, spec, WAIT_MODES, "wait mode")
    return spec


_keep_mask = False


def keep_caller_mask() -> None:
    """From now on the new program (and the fallback's child) starts with this process's
    signal mask instead of an empty one: the command line's exec. The library clears it,
    on purpose: a signal Python code blocked for its own reasons would stay blocked in a
    program that does not expect it. The command line keeps it, as a shell's exec does
    (the interpreter never changes the mask it was started with, so it is the caller's)."""
    global _keep_mask
    _keep_mask = True


def keeping_mask() -> bool:
    return _keep_mask
