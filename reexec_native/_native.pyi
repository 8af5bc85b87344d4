# Stub for the CFFI module compiled from csrc/ (cdef: made from csrc/include/*.h by csrc/ffi_build.py). cffi ships no
# types, so this names what the package uses: the cdata it allocates with ffi.new (one
# class per C type), the constants and the functions of lib.
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, overload

class CData:
    """Any cffi cdata object (a pointer or array); ffi.NULL is one."""

class CharArray(CData):
    """char[] / char *: a NUL-terminated buffer."""
    def __add__(self, offset: int) -> CharArray: ...
    def __len__(self) -> int: ...

class CharPtrArray(CData):
    """char *[]: a NULL-terminated vector (argv, envp)."""
    def __getitem__(self, index: int) -> CharArray: ...

class IntArray(CData):
    """int * / int[]: read and written by index."""
    def __getitem__(self, index: int) -> int: ...
    def __setitem__(self, index: int, value: int) -> None: ...
    def __len__(self) -> int: ...

class ULongPtr(CData):
    def __getitem__(self, index: int) -> int: ...

class ULongLongPtr(CData):
    def __getitem__(self, index: int) -> int: ...

class Exe(CData):
    """reexec_exe *: the descriptor and the identity fstat saw at open time."""
    fd: int
    dev: int
    ino: int
    mode: int
    size: int
    def __getitem__(self, index: Literal[0]) -> Exe: ...

class Attempt:
    tier: int
    err: int
    note: int

class Report(CData):
    """reexec_report *: what reexec_exec tried, in order."""
    count: int
    attempts: Sequence[Attempt]

class FdPlan(CData):
    """reexec_fdplan *."""

class Sigchld(CData):
    """reexec_sigchld *: SIGCHLD's disposition as the caller had it."""
    was: int

CString = CData | bytes  # const char *: cffi passes bytes as a temporary char[]

class FFI:
    NULL: CData
    @overload
    def new(self, cdecl: Literal["char[]"], init: bytes | int) -> CharArray: ...
    @overload
    def new(self, cdecl: Literal["char *[]"], init: Iterable[CData] | int) -> CharPtrArray: ...
    @overload
    def new(self, cdecl: Literal["int *", "int[]", "int[3]"], init: Iterable[int] | int | None = None) -> IntArray: ...
    @overload
    def new(self, cdecl: Literal["unsigned long *"]) -> ULongPtr: ...
    @overload
    def new(self, cdecl: Literal["unsigned long long *"]) -> ULongLongPtr: ...
    @overload
    def new(self, cdecl: Literal["reexec_exe *"], init: Exe | None = None) -> Exe: ...
    @overload
    def new(self, cdecl: Literal["reexec_report *"]) -> Report: ...
    @overload
    def new(self, cdecl: Literal["reexec_fdplan *"], init: Mapping[str, int | CData]) -> FdPlan: ...
    @overload
    def new(self, cdecl: Literal["reexec_sigchld *"]) -> Sigchld: ...
    def string(self, cdata: CData, maxlen: int = -1) -> bytes: ...

class Lib:
    REEXEC_TIER_EXECVEAT: int
    REEXEC_TIER_FEXECVE: int
    REEXEC_TIER_PATH: int
    REEXEC_TIER_CREATEPROCESS: int
    REEXEC_NOTE_NONE: int
    REEXEC_NOTE_NOT_ELF: int
    REEXEC_NOTE_IDENTITY_CHANGED: int
    REEXEC_NOTE_NEEDS_INTERPRETER: int
    REEXEC_NOTE_UNSUPPORTED: int
    REEXEC_NOTE_WIN32: int
    REEXEC_NOTE_OPEN_FOR_WRITING: int
    REEXEC_NOTE_CHANGED_DURING_COPY: int
    REEXEC_NOTE_SCRIPT: int
    REEXEC_SNAPSHOT_MEMFD: int
    REEXEC_SNAPSHOT_TMPFILE: int
    REEXEC_MAX_ATTEMPTS: int
    REEXEC_LISTEN_FDS_START: int
    REEXEC_EXEC_KEEP_MASK: int
    REEXEC_SIGCHLD_DEFAULT: int
    REEXEC_SIGCHLD_IGNORED: int
    REEXEC_SIGCHLD_NOCLDWAIT: int
    REEXEC_SIGCHLD_HANDLED: int
    def reexec_supported_tiers(self) -> int: ...
    def reexec_open(self, path: CString, out: Exe) -> int: ...
    def reexec_open_self(self, out: Exe) -> int: ...
    def reexec_close(self, exe: Exe) -> int: ...
    def reexec_current_exe(self, buf: CharArray, size: int) -> int: ...
    def reexec_vector(self, buf: CharArray, len: int, vec: CharPtrArray, count: int) -> int: ...
    def reexec_exec(self, exe: Exe, path: CString, argv: CharPtrArray, envp: CharPtrArray,
                    tiers: int, report: Report) -> int: ...
    def reexec_snapshot_methods(self) -> int: ...
    def reexec_snapshot(self, src: Exe, src_path: CString, method: int, tmpdir: CString,
                        out: Exe, note: IntArray) -> int: ...
    def reexec_check(self, fd: int) -> int: ...
    # Windows only (the #ifdef _WIN32 part of reexec.h).
    def reexec_win_run(self, exe: Exe, path: CString, argv: CharPtrArray, envp: CharPtrArray,
                       report: Report, exit_code: ULongPtr) -> int: ...
    # reexec_upgrade.h.
    def reexec_fds_place(self, plan: FdPlan) -> int: ...
    def reexec_fds_restore(self, plan: FdPlan) -> None: ...
    def reexec_fds_moved(self, plan: FdPlan, fd: int) -> int: ...
    def reexec_pidfd_id(self, pid: int, id_out: ULongLongPtr) -> int: ...
    def reexec_spawn(self, exe: Exe | CData, path: CString, argv: CharPtrArray, envp: CharPtrArray,
                     tiers: int, plan: FdPlan | CData, pid_digits: CharArray | CData,
                     pidfdid_digits: CharArray | CData, stdio: IntArray, sigchld: Sigchld | CData,
                     pid_out: IntArray) -> int: ...
    def reexec_sigchld_default(self, state: Sigchld) -> int: ...
    def reexec_sigchld_restore(self, state: Sigchld, notify: int) -> None: ...
    def reexec_watch_open(self, dir: CString, fd_out: IntArray) -> int: ...
    def reexec_watch_wait(self, fd: int, name: CString, timeout_ms: int) -> int: ...
    def reexec_watch_hold(self, fd: int, release_out: IntArray) -> int: ...

ffi: FFI
lib: Lib
