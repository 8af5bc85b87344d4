"""Input checks done before anything is opened or run: reexec()'s arguments in one
pass (``call_args``), CargoRun's options, descriptors for the hand-over.

Everything that reaches the C core is bytes without NUL; anything else is refused
here with a ValueError or TypeError that says which item is wrong (error labels are
built only when an item is refused).
"""

from __future__ import annotations

import errno
import os
import sys

# collections.abc's classes, from where it takes them: os imported that module at
# start-up, while collections.abc would import all of collections first.
from _collections_abc import Mapping, Sequence

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeGuard

    from .errors import ArgumentListTooLongError

    # What callers may pass as an environment. Mapping is invariant in its key, so one
    # Mapping[str | bytes, ...] would refuse dict[str, str] and os.environ: list the key types.
    EnvArg = Mapping[str, str | bytes] | Mapping[bytes, str | bytes] | Mapping[str | bytes, str | bytes]


# Linux: one argv/env string may be at most 32 pages (MAX_ARG_STRLEN, NUL included),
# and all of them, with their pointers, at most a quarter of the stack limit, capped
# at 3/4 of the kernel's 8 MiB _STK_LIM (fs/exec.c bprm_stack_limits()). glibc's
# sysconf(_SC_ARG_MAX) is rlimit/4 without that cap.
MAX_ARG_STRLEN = 32 * 4096
_LINUX_ARG_CAP = 8 * 1024 * 1024 // 4 * 3
# What exec copies besides argv and env: the file name ("/dev/fd/N" or the path).
_FILENAME_RESERVE = 4096
# Windows: CreateProcessW's lpCommandLine holds at most 32,767 UTF-16 units, its NUL
# included (learn.microsoft.com, CreateProcessW); the environment block has no such limit.
WINDOWS_COMMAND_LINE_MAX = 32767
_WINDOWS = sys.platform == "win32"


def is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    """isinstance(value, Sequence), its items typed as object for the type checkers
    (isinstance alone leaves them unknown to pyright)."""
    return isinstance(value, Sequence)


def is_mapping(value: object) -> TypeGuard[Mapping[object, object]]:
    """isinstance(value, Mapping), its keys and values typed as object (for reading them)."""
    return isinstance(value, Mapping)


def is_path_like(value: object) -> TypeGuard[os.PathLike[str] | os.PathLike[bytes]]:
    """isinstance(value, os.PathLike), typed for os.fspath() (which checks that
    __fspath__ returns str or bytes)."""
    return isinstance(value, os.PathLike)


_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


def _nul_joined(items: Sequence[object]) -> str:
    """The items joined by NUL; TypeError unless every one is a str (that is the test)."""
    return "\0".join(items)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def _encode_all(items: Sequence[object], forbidden: str = "") -> list[bytes] | None:
    """Every item as os.fsencode gives it, in a few C loops over the whole list (no
    Python per item: 100,000 arguments cost what os.execv's own conversion does),
    when all are str without NUL (and, on Windows, UTF-16-representable); None
    otherwise, for the item-by-item pass that names the bad item."""
    try:
        joined = _nul_joined(items)
    except TypeError:
        return None
    if joined.count("\0") != len(items) - 1 or (forbidden and forbidden in joined):
        return None  # an item holds a NUL, or what the caller forbids (for the pass that names it)
    data = joined.encode(_FS_ENCODING, _FS_ERRORS)  # NUL stays one 0 byte in any fs encoding
    if _WINDOWS:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return data.split(b"\0")


def _encode(item: object, what: str) -> bytes:
    if isinstance(item, str):
        data = os.fsencode(item)
    elif isinstance(item, bytes):
        data = item
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(item).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte: {item!r}")
    if _WINDOWS:
        _check_utf16able(item, data, what)
    return data


def _check_utf16able(item: str | bytes, data: bytes, what: str) -> None:
    """Windows takes every string as UTF-16: a lone surrogate (str; os.fsencode lets it
    through as surrogatepass) or bytes that are not UTF-8 cannot become one (the C core
    would fail with Win32 1113 without naming the item)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        kind = "a lone surrogate" if isinstance(item, str) else "bytes that are not UTF-8"
        raise ValueError(f"{what} contains {kind} at index {exc.start}, which Windows cannot "
                         f"represent: {item!r}") from None


def argv_bytes(argv: object) -> list[bytes]:
    """argv as a non-empty list of bytes."""
    if isinstance(argv, (str, bytes)) or not is_sequence(argv):
        raise TypeError(f"argv must be a list or tuple of str/bytes, not {type(argv).__name__}")
    if len(argv) == 0:
        raise ValueError("argv must not be empty: argv[0] is the program name the new process sees")
    result = _encode_all(argv)
    if result is None:  # bytes among the items, or an item to refuse: one by one, named
        result = [_encode(item, f"argv[{index}]") for index, item in enumerate(argv)]
    if not result[0]:
        # As os.execv ("first element cannot be empty"): a program started with an
        # empty argv[0] cannot find itself (a Python loses its venv).
        raise ValueError("argv[0] cannot be empty: it is the program name the new process sees")
    return result


class ExecEnv(dict[bytes, bytes]):
    """The environment an exec gets, NAME -> value, and once packed its envp strings
    (``envp``: NAME=value, NUL-separated; None until packed, and again after any
    change): the size check packs them before anything is opened, and every exec
    attempt (``_binding.envp_block``) uses them (60,000 variables: one join, not one per
    use)."""

    envp: bytes | None = None

    # Any change drops the packed strings.
    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.envp = None
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.envp = None
        super().__delitem__(key)

    def __ior__(self, other: Any) -> ExecEnv:  # type: ignore[override,misc]  # dict's overloads
        self.envp = None
        super().update(other)
        return self

    def update(self, *args: Any, **kwargs: bytes) -> None:
        self.envp = None
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self.envp = None
        return super().pop(*args)

    def popitem(self) -> tuple[bytes, bytes]:
        self.envp = None
        return super().popitem()

    def setdefault(self, key: bytes, default: bytes) -> bytes:
        self.envp = None
        return super().setdefault(key, default)

    def clear(self) -> None:
        self.envp = None
        super().clear()


def _envp(env: Mapping[bytes, bytes]) -> bytes:
    """exec's envp strings of `env`, packed once for an ExecEnv."""
    if not isinstance(env, ExecEnv):
        return b"\0".join(map(b"=".join, env.items()))
    if env.envp is None:
        env.envp = b"\0".join(map(b"=".join, env.items()))
    return env.envp


def env_bytes(env: object) -> ExecEnv:
    """env as a dict of bytes names to bytes values, names non-empty and without '='
    (an ExecEnv: it keeps its envp strings once packed)."""
    if not is_mapping(env):
        raise TypeError(f"env must be a mapping of str/bytes to str/bytes, not {type(env).__name__}")
    names = _encode_all(list(env.keys()), forbidden="=")  # (no fs encoding makes "=" of another character)
    values = None if names is None else _encode_all(list(env.values()))
    if names is not None and values is not None and all(names):
        return ExecEnv(zip(names, values, strict=True))  # keys() and values() iterate in the same order
    result = ExecEnv()
    for name, value in env.items():
        name_b = _encode(name, "environment variable name")
        if not name_b:
            raise ValueError("environment variable name must not be empty")
        if b"=" in name_b:
            raise ValueError(f"environment variable name contains '=': {name!r}")
        result[name_b] = _encode(value, f"environment variable {name!r}")
    return result


def path_bytes(path: object, what: str = "executable") -> bytes:
    """A path (str, bytes or os.PathLike) as non-empty bytes without NUL."""
    try:
        if not isinstance(path, (str, bytes)) and not is_path_like(path):
            raise TypeError  # what os.fspath() would raise
        raw = os.fspath(path)
    except TypeError:
        raise TypeError(f"{what} must be str, bytes or os.PathLike, not {type(path).__name__}") from None
    data = _encode(raw, what)
    if not data:
        raise ValueError(f"{what} must not be empty")
    return data


def guard_name(guard: object) -> str | None:
    """The guard variable's name, or None when the guard is disabled."""
    if guard is None:
        return None
    if not isinstance(guard, str):
        raise TypeError(f"guard must be a str or None, not {type(guard).__name__}")
    _encode(guard, "guard")
    if not guard or "=" in guard:
        raise ValueError(f"guard must be a non-empty variable name without '=': {guard!r}")
    return guard


SNAPSHOT_MODES = (False, True, "required")


def snapshot_mode(snapshot: object) -> bool | str:
    """snapshot=: False, True (a sealed copy, else the file itself with a warning) or
    "required" (a sealed copy, else a refusal)."""
    if isinstance(snapshot, bool):
        return snapshot
    if not isinstance(snapshot, str):
        raise TypeError(f"snapshot must be True, False or 'required', not {type(snapshot).__name__}")
    if snapshot != "required":
        raise ValueError(f"snapshot must be True, False or 'required', not {snapshot!r}")
    return snapshot


def is_finite(value: float) -> bool:
    """math.isfinite without importing math (a quarter of a millisecond of every start):
    inf - inf and nan - nan are nan, which is not 0."""
    return value - value == 0


def budget_seconds(budget: object) -> float:
    """Seconds, finite and >= 0."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise TypeError(f"retry_budget must be a number of seconds, not {type(budget).__name__}")
    if not is_finite(budget) or budget < 0:
        raise ValueError(f"retry_budget must be finite and >= 0, not {budget!r}")
    return float(budget)


def arg_max() -> int | None:
    """Bytes exec accepts for argv + envp (strings, NULs and pointers), or None if unknown."""
    sysconf = getattr(os, "sysconf", None)  # not on Windows: see windows_command_line_length()
    if sysconf is None:
        return None
    try:
        limit = sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        return None
    if not isinstance(limit, int) or limit <= 0:
        return None
    if sys.platform.startswith("linux"):
        limit = min(limit, _LINUX_ARG_CAP)
    return limit


def check_exec_size(argv: Sequence[bytes], env: Mapping[bytes, bytes]) -> None:
    """Refuse (ArgumentListTooLongError, errno E2BIG) an argv + env that exec would
    refuse, before anything is opened or run: each string within MAX_ARG_STRLEN on
    Linux, the total within arg_max(). The kernel's own E2BIG is still handled (the
    limit can change between this check and exec, e.g. by setrlimit)."""
    if _WINDOWS:
        _check_windows_command_line(argv)
        return
    pointer = 8 if sys.maxsize > 2**32 else 4
    # argv joined, env as the envp strings exec will get (an ExecEnv keeps them for the
    # exec): no pass per string in Python (60,000 variables: map(len) passes cost more
    # than the rest of the call). The longest string is measured (by the C core) only
    # when the whole list could hold one too long; the offending item is looked for only
    # when one is.
    args_data, envp_data = b"\0".join(argv), _envp(env)
    if sys.platform.startswith("linux"):
        if _longest(args_data) + 1 > MAX_ARG_STRLEN:
            index = next(i for i, arg in enumerate(argv) if len(arg) + 1 > MAX_ARG_STRLEN)
            raise _too_long(
                f"argv[{index}] is {len(argv[index])} bytes; exec accepts at most "
                f"{MAX_ARG_STRLEN - 1} bytes per argument (MAX_ARG_STRLEN)")
        if _longest(envp_data) + 1 > MAX_ARG_STRLEN:
            too_long = [(n, v) for n, v in env.items() if len(n) + len(v) + 2 > MAX_ARG_STRLEN]
            if too_long:
                name, value = too_long[0]
                raise _too_long(
                    f"environment variable {os.fsdecode(name)!r} is {len(name) + 1 + len(value)} "
                    f"bytes as NAME=VALUE; exec accepts at most {MAX_ARG_STRLEN - 1} bytes per string "
                    "(MAX_ARG_STRLEN)")
    # a joined list is its strings' bytes plus one NUL fewer than it has strings
    total = (_FILENAME_RESERVE + len(args_data) + (1 if argv else 0) + len(envp_data) + (1 if env else 0)
             + (len(argv) + len(env) + 2) * pointer)  # the pointers and the two NULL terminators
    limit = arg_max()
    if limit is not None and total > limit:
        raise _too_long(
            f"argv ({len(argv)} items) and environment ({len(env)} variables) take "
            f"{total} bytes; exec accepts at most {limit} (ARG_MAX, from the stack limit)")


def _too_long(message: str) -> ArgumentListTooLongError:
    """The E2BIG refusal (errors is loaded only when something fails: its classes cost
    a cold call more than the call itself)."""
    from .errors import ArgumentListTooLongError

    return ArgumentListTooLongError(errno.E2BIG, message)


def _longest(joined: bytes) -> int:
    """The longest of the NUL-separated strings in `joined` (a bound: their total when
    that is under MAX_ARG_STRLEN, where none can be too long)."""
    if len(joined) < MAX_ARG_STRLEN:
        return len(joined)
    from ._binding import string_sizes  # (not at import: cargo's option checks need no C core)

    return string_sizes(joined)[1]


def windows_command_line(argv: Sequence[bytes]) -> str:
    """The command line the C shim builds (csrc/windows/win_cmdline.c): argv[0] quoted and
    verbatim, the rest quoted by the MSVCRT rules (those of subprocess.list2cmdline)."""
    parts = [os.fsdecode(item) for item in argv]
    return " ".join(['"' + parts[0] + '"', *(_msvcrt_quote(p) for p in parts[1:])])


def _msvcrt_quote(arg: str) -> str:
    """Quoted when empty or holding a space or tab; backslashes doubled before a quote
    (and before the closing one), the quote itself escaped."""
    quoted = not arg or " " in arg or "\t" in arg
    out: list[str] = []
    backslashes = 0
    for char in arg:
        if char == "\\":
            backslashes += 1
            continue
        if char == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + char)
        backslashes = 0
    out.append("\\" * (2 * backslashes if quoted else backslashes))
    return '"' + "".join(out) + '"' if quoted else "".join(out)


def _check_windows_command_line(argv: Sequence[bytes]) -> None:
    """Refuse what CreateProcessW would: a command line of 32,767 UTF-16 units or more
    (its Win32 206 would read as 'not found'), an argv[0] with a '"' (cannot be quoted)."""
    if b'"' in argv[0]:
        raise ValueError(f"argv[0] contains '\"', which a Windows command line cannot carry in "
                         f"the program name: {os.fsdecode(argv[0])!r}")
    units = len(windows_command_line(argv).encode("utf-16-le")) // 2
    if units >= WINDOWS_COMMAND_LINE_MAX:
        raise _too_long(
            f"argv ({len(argv)} items) makes a command line of {units} UTF-16 units; "
            f"CreateProcessW accepts at most {WINDOWS_COMMAND_LINE_MAX - 1}")


def verify_args(verify: object, timeout: object) -> tuple[list[bytes] | None, float]:
    """Checked verify= / verify_timeout= (before anything runs)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"verify_timeout must be a number of seconds, not {type(timeout).__name__}")
    if not is_finite(timeout) or timeout <= 0:
        raise ValueError(f"verify_timeout must be finite and > 0, not {timeout!r}")
    if verify is None:
        return None, float(timeout)
    if isinstance(verify, (str, bytes)) or not is_sequence(verify):
        raise TypeError(f"verify must be a list of arguments (e.g. ['--version']), not {type(verify).__name__}")
    return [_encode(arg, f"verify[{i}]") for i, arg in enumerate(verify)], float(timeout)


def _is_empty_tuple(value: object) -> bool:
    """`value` is exactly (). A call, not an inline test: pyright would narrow `value`
    through it to tuple[Unknown, ...] wherever the result is tested."""
    return type(value) is tuple and not value


def fds_asked(listen_fds: object, listen_fdnames: object, pass_fds: object) -> bool:
    """Whether reexec() was asked to pass descriptors (pass_fds' default is ())."""
    return listen_fds is not None or listen_fdnames is not None or not (pass_fds is None or _is_empty_tuple(pass_fds))


class CallArgs:
    """reexec()'s arguments, checked: argv and env as bytes (env with the guard variable
    set to "1"), the guard's name, the retry budget, the snapshot mode, the executable
    and the working directory as str (None: not given), and whether descriptors or a
    verify run were asked for (then the caller checks those and the exec size)."""

    __slots__ = ("argv", "env", "guard", "budget", "snapshot", "executable", "cwd", "handover_asked")

    def __init__(self, argv: list[bytes], env: dict[bytes, bytes], guard: str | None, budget: float,
                 snapshot: bool | str, executable: str | None, cwd: str | None, handover_asked: bool) -> None:
        self.argv, self.env, self.guard, self.budget = argv, env, guard, budget
        self.snapshot, self.executable, self.cwd, self.handover_asked = snapshot, executable, cwd, handover_asked


def call_args(argv: object, env: object, *, guard: object, retry_budget: object, snapshot: object,
              executable: object, cwd: object, listen_fds: object, listen_fdnames: object, pass_fds: object,
              verify: object, verify_timeout: object) -> CallArgs:
    """reexec()'s arguments in one pass. Without descriptors or verify, the exec size
    is checked here too (with the guard variable: what exec will get)."""
    argv_b = argv_bytes(argv)
    env_b = env_bytes(env)
    guard_s = guard_name(guard)
    if guard_s is not None:
        env_b[os.fsencode(guard_s)] = b"1"
    asked = verify is not None or fds_asked(listen_fds, listen_fdnames, pass_fds)
    args = CallArgs(argv_b, env_b, guard_s, budget_seconds(retry_budget), snapshot_mode(snapshot),
                    None if executable is None else os.fsdecode(path_bytes(executable)),
                    None if cwd is None else os.fsdecode(path_bytes(cwd, "cwd")), asked)
    if not asked:
        verify_args(None, verify_timeout)  # checked even when unused
        check_exec_size(argv_b, env_b)
    return args


# --- CargoRun's options ---------------------------------------------------------------

def strings(items: Iterable[object], what: str) -> tuple[str, ...]:
    """Any iterable of str without NUL (not a single str)."""
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of str, not a single {type(items).__name__}")
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} items must be str, not {type(item).__name__}")
        if "\0" in item:
            raise ValueError(f"{what} item contains a NUL byte: {item!r}")
        result.append(item)
    return tuple(result)


def optional_str(value: object, what: str) -> str | None:
    """None, or a non-empty str (an os.PathLike of str too) without NUL."""
    if value is None:
        return None
    value = os.fspath(value) if is_path_like(value) else value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    if not value or "\0" in value:
        raise ValueError(f"{what} must be non-empty and without NUL: {value!r}")
    return value


def flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {type(value).__name__}")
    return value


# --- descriptors for the hand-over (listen_fds, pass_fds) -----------------------------

_NAME_MAX = 255  # systemd: FileDescriptorName= is at most 255 characters


def fd_of(item: object, what: str) -> int:
    if isinstance(item, bool):
        raise TypeError(f"{what} must be a descriptor (int) or have fileno(), not bool")
    if isinstance(item, int):
        fd = item
    elif callable(fileno := getattr(item, "fileno", None)):
        returned: object = fileno()
        if not isinstance(returned, int) or isinstance(returned, bool):
            raise TypeError(f"{what}.fileno() returned {type(returned).__name__}, not int")
        fd = returned
    else:
        raise TypeError(f"{what} must be a descriptor (int) or have fileno() (a socket), "
                        f"not {type(item).__name__}")
    if fd < 0:
        raise ValueError(f"{what} is closed (fileno() is {fd})")
    if fd <= 2:
        raise ValueError(f"{what} is descriptor {fd}: 0-2 are stdin/stdout/stderr, which "
                         "every exec keeps; pass descriptors above 2")
    try:
        os.get_inheritable(fd)
    except OSError as exc:
        raise ValueError(f"{what} is descriptor {fd}, which is not open ({errno.errorcode.get(exc.errno or 0)})") from None
    return fd


def fd_list(items: object, what: str) -> list[int]:
    if isinstance(items, (str, bytes)) or not is_sequence(items):
        raise TypeError(f"{what} must be a list or tuple of descriptors or sockets, not {type(items).__name__}")
    fds = [fd_of(item, f"{what}[{i}]") for i, item in enumerate(items)]
    seen: dict[int, int] = {}
    for i, fd in enumerate(fds):
        if fd in seen:
            raise ValueError(f"{what}[{i}] is descriptor {fd} again ({what}[{seen[fd]}]): each may appear once")
        seen[fd] = i
    return fds


def fd_names(names: object, count: int) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not is_sequence(names):
        raise TypeError(f"listen_fdnames must be a list of str or None, not {type(names).__name__}")
    if len(names) != count:
        raise ValueError(f"listen_fdnames has {len(names)} names for {count} listen_fds: give one per descriptor")
    checked: list[str] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"listen_fdnames[{i}] must be str, not {type(name).__name__}")
        # systemd's fdname_is_valid(): 1-255 printable ASCII characters, no ':'.
        if not 0 < len(name) <= _NAME_MAX or ":" in name or not all(" " <= c <= "~" for c in name):
            raise ValueError(f"listen_fdnames[{i}]={name!r}: a name is 1-{_NAME_MAX} printable ASCII "
                             "characters without ':' (LISTEN_FDNAMES separates names with ':')")
        checked.append(name)
    return checked
