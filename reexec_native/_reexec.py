"""reexec(): guard -> fast path (retrying) -> fallback -> exit with the child's status;
and the running Python command it re-runs by default.

The command: ``current_command()`` is what reexec() re-runs when argv is not given,
``start_dir()`` where it was started, and the guard variable tells a re-executed
process that it is one (``guard_active``, ``clear_guard``).

Checks before a Python program re-executes itself (argv=None): the new interpreter
re-reads its command line, ``sys.orig_argv``, and must be able to find what that
command runs. Two things it cannot, found here before the point of
no return (CannotRerunError, nothing run): a script read from standard input (the
new process would read an exhausted stdin, run nothing and exit 0), and a relative
script or a ``-m`` module that will not be found, or would be another file, from the
directory the new process starts in; a script that is gone or unreadable by now
(replaced by a deploy, mid-save by an editor). This narrows the entry script's race
but cannot close it: a script replaced between this check and the new interpreter
opening it is lost with the process (docs/hardening.md). ``-c`` code travels in argv
and is not checked.
Nothing is resolved behind the caller's back (an absolute script path would change
the new process's sys.argv[0]; entering start_dir() would change its working
directory): the error names the fix, usually ``cwd=start_dir()``.
"""

from __future__ import annotations

import os
import sys
import time

from . import _validate
from ._exe import current_exe, first_attempt, is_transient
from ._log import log, note_captured_output
from ._startup import DEFAULT_GUARD as DEFAULT_GUARD  # public: reexec_native.DEFAULT_GUARD
from ._startup import START_DIR

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Literal, NoReturn, Protocol

    from .errors import CannotRerunError, ReexecError

    class Fallback(Protocol):
        """What reexec() hands over to when exec fails: CargoRun, or anything with this
        .run (it should not return; reexec() raises ReexecError if it does). With
        listen_fds/pass_fds/verify, run() is also passed ``handover=``."""

        def run(self, argv: Sequence[bytes], env: Mapping[bytes, bytes], /) -> object: ...


_DEFAULT_FALLBACK = object()  # CargoRun(), made only when the fast path failed


# The working directory when reexec_native was first imported (recorded by _startup,
# since this module loads only at first use): the best available stand-in for "where
# this process started" (relative paths in sys.orig_argv, a relative sys.executable).
# Import reexec_native early if your program chdir()s.
_START_DIR: str | None = START_DIR


def start_dir() -> str | None:
    """The working directory when reexec_native was first imported (None if it was
    already gone then). Pass it as ``reexec(cwd=start_dir())`` so that relative paths
    in the command line (``python script.py``) resolve as they did at start-up."""
    return _START_DIR


def _refused(message: str) -> ReexecError:
    from .errors import ReexecError  # (errors loads on failure only: see _validate._too_long)

    return ReexecError(message)


def _cannot_rerun(message: str) -> CannotRerunError:
    from .errors import CannotRerunError  # (on failure only: see _validate._too_long)

    return CannotRerunError(message)


def current_command() -> list[str]:
    """The running Python command: ``[sys.executable, *sys.orig_argv[1:]]``.

    argv[0] is sys.executable as it is (absolute, not realpath'd), because the new
    interpreter derives sys.executable and sys.prefix (venvs) from argv[0]. A relative
    sys.executable (only embedders set one) is taken relative to start_dir(), the
    directory it was relative to, not to the current one.
    """
    executable = getattr(sys, "executable", None)
    if not executable:
        raise _refused(
            "Cannot re-run the current command: sys.executable is empty (an embedded "
            "interpreter?); pass argv= and executable= explicitly."
        )
    if not os.path.isabs(executable):
        if _START_DIR is None:
            raise _refused(
                f"Cannot re-run the current command: sys.executable={executable!r} is relative "
                "and the start directory is unknown; pass argv= and executable= explicitly."
            )
        executable = os.path.normpath(os.path.join(_START_DIR, executable))
    return [executable, *sys.orig_argv[1:]]


def guard_active(guard: str = DEFAULT_GUARD) -> bool:
    """True in a process started by reexec() with this guard (so: don't re-exec again)."""
    return bool(os.environ.get(guard))


def clear_guard(guard: str = DEFAULT_GUARD) -> bool:
    """Remove the guard variable from os.environ, so the programs this process starts
    do not inherit it; True if it was set (non-empty). Call it after guard_active()
    has told you what you needed to know."""
    name = _validate.guard_name(guard)
    if name is None:
        raise TypeError("guard must be a variable name, not None")
    return bool(os.environ.pop(name, None))


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
    fallback: Fallback | None = _DEFAULT_FALLBACK,  # type: ignore[assignment]  # CargoRun() when needed
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
    args = _validate.call_args(
        current_command() if argv is None else argv, os.environ if env is None else env, guard=guard,
        retry_budget=retry_budget, snapshot=snapshot, executable=executable, cwd=cwd, listen_fds=listen_fds,
        listen_fdnames=listen_fdnames, pass_fds=pass_fds, verify=verify, verify_timeout=verify_timeout)
    if fallback is not _DEFAULT_FALLBACK and fallback is not None and not callable(getattr(fallback, "run", None)):
        raise TypeError(f"fallback must be a CargoRun (or have .run(argv, env)) or None, not {type(fallback).__name__}")
    if args.guard is not None and os.environ.get(args.guard):
        from .errors import RecursionGuardError

        raise RecursionGuardError(
            f"Refusing to re-exec: {args.guard}={os.environ[args.guard]} is already set in this process, "
            "so it is itself a re-exec (the guard stops a re-exec loop at start-up; pass guard=None "
            "to allow it). A long-lived program that re-executes on purpose again and again (a "
            "server upgrading on SIGUSR2/SIGHUP, a reloader) passes guard=None, or calls "
            f"clear_guard({args.guard!r}) once started; and fallback=None unless cargo builds it. "
            "See docs/upgrade.md, 'Servers and reloaders'."
        )
    env_b = args.env
    handover = None
    if args.handover_asked:  # descriptors or verify: only then is _handover loaded (import cost)
        from ._handover import Handover

        handover = Handover.from_args(listen_fds, listen_fdnames, pass_fds, verify, verify_timeout)
        if handover is not None:
            custom = fallback is not None and fallback is not _DEFAULT_FALLBACK and not _is_cargo_run(fallback)
            if handover.fds is not None and custom:
                raise TypeError("listen_fds/pass_fds need fallback=CargoRun(...) or None: a custom "
                                f"fallback ({type(fallback).__name__}) cannot be handed descriptors")
            env_b = handover.listen_env(env_b)
        # Too long for exec (E2BIG) is too long for the fallback too: refuse it up front
        # (call_args did when nothing was asked for).
        _validate.check_exec_size(args.argv, env_b)
    target = args.executable
    if args.cwd is not None and target is not None:
        target = os.path.abspath(target)  # relative to where we are, not to cwd
    if argv is None:  # re-running this Python command: can the new process find it?
        check_rerun(env_b, args.cwd)
    if "PYTEST_CURRENT_TEST" in os.environ:  # inside a test: say where the output will go
        note_captured_output()
    with _working_dir(args.cwd):
        exec_error: OSError | None = None
        try:
            path = current_exe() if target is None else target
        except OSError as exc:
            exec_error = exc
            log("current_exe() failed, skipping exec(): %s", exc)
        else:
            exec_error = first_attempt(path, args.argv, env_b, args.snapshot, handover)
            failed_at = time.monotonic()
            if is_transient(exec_error):  # only then is the retry loop loaded (import cost)
                from ._retry import retry

                exec_error = retry(exec_error, failed_at, path, args.argv, env_b, args.budget,
                                   args.snapshot, handover, give_up_when_quiet=fallback is not None)
            from .errors import error_kind

            log("Fast path failed: %s", exec_error)
            log("Error kind: %s", error_kind(exec_error))
        _hand_over(fallback, args.argv, env_b, handover, exec_error)


def failure(exec_error: OSError | None, fallback_error: OSError | None = None,
            rebuild_command: str | None = None) -> ReexecError:
    """The ReexecError for a fast path and a fallback that both failed (or no fallback):
    both errors, and the numbered recovery steps of their owners (the fallback's by its
    stage and mode, then the exec's; `rebuild_command` names the cargo build to run)."""
    from ._retry import exec_recovery_steps
    from .errors import ReexecError, describe

    steps = exec_recovery_steps(exec_error, rebuild_command)
    if fallback_error is not None:
        from .cargo import recovery_steps  # the fallback's path only (import cost)

        steps = recovery_steps(fallback_error) + steps
    return ReexecError(describe(exec_error, fallback_error, steps), exec_error=exec_error,
                       fallback_error=fallback_error)


def _is_cargo_run(fallback: object) -> bool:
    from .cargo import CargoRun  # only when descriptors go to a fallback (import cost)

    return isinstance(fallback, CargoRun)


def _hand_over(fallback: object, argv: list[bytes], env: dict[bytes, bytes], handover: Any,
               exec_error: OSError | None) -> NoReturn:
    """The fast path failed: run the fallback (it leaves this process as its child
    left), or raise ReexecError with both errors and the recovery steps."""
    from .errors import ReexecError

    if fallback is None:
        raise failure(exec_error) from exec_error
    from .cargo import CargoRun  # the fallback's path only (import cost)

    if fallback is _DEFAULT_FALLBACK:
        fallback = CargoRun()
    rebuild = " ".join(fallback.build_command()) if isinstance(fallback, CargoRun) else None
    run: Any = getattr(fallback, "run")  # noqa: B009  # a CargoRun or the Fallback protocol
    try:
        if handover is None:
            run(argv, env)
        else:
            run(argv, env, handover=handover)  # only a handover-aware fallback (CargoRun) gets here
    except ReexecError:
        raise  # VerifyError of build-exec's artifact: a refusal, not the fallback failing
    except OSError as fallback_error:
        raise failure(exec_error, fallback_error, rebuild) from fallback_error
    raise ReexecError("the fallback returned instead of exiting", exec_error=exec_error)


# --- before a Python program re-executes itself (argv=None) -------------------------------

# Interpreter options that take a value (attached, -Wdefault, or the next word).
_WITH_VALUE = "cmWX"
_LONG_WITH_VALUE = "--check-hash-based-pycs"


class PythonCommand(tuple[str, "str | None", frozenset[str]]):
    """What an interpreter command line runs: kind is "script", "module", "code" or
    "stdin"; target the script path, module name or code (None for stdin);
    flags the single-letter options (-I, -P, -E, ...). A tuple (kind, target, flags)."""

    __slots__ = ()

    def __new__(cls, kind: str, target: str | None, flags: frozenset[str]) -> PythonCommand:
        return super().__new__(cls, (kind, target, flags))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def target(self) -> str | None:
        return self[1]

    @property
    def flags(self) -> frozenset[str]:
        return self[2]


def parse_command(orig_argv: Sequence[str]) -> PythonCommand:
    """Parse ``sys.orig_argv`` as CPython's getopt does (Python/getopt.c): clustered
    flags, -c/-m/-W/-X with an attached or separate value, ``--`` ending options,
    ``-`` or no script meaning standard input."""
    flags: set[str] = set()
    i = 1
    while i < len(orig_argv):
        arg = orig_argv[i]
        if arg == "--":
            i += 1
            break
        if arg == "-":
            return PythonCommand("stdin", None, frozenset(flags))
        if arg.startswith("--"):
            i += 2 if arg == _LONG_WITH_VALUE else 1
            continue
        if not arg.startswith("-"):
            break
        for j in range(1, len(arg)):
            letter = arg[j]
            if letter not in _WITH_VALUE:
                flags.add(letter)
                continue
            value = arg[j + 1:]
            if not value:
                i += 1
                value = orig_argv[i] if i < len(orig_argv) else ""
            if letter == "c":
                return PythonCommand("code", value, frozenset(flags))
            if letter == "m":
                return PythonCommand("module", value, frozenset(flags))
            break  # -W/-X: the rest of the word is their value
        i += 1
    if i < len(orig_argv) and orig_argv[i] != "-":
        return PythonCommand("script", orig_argv[i], frozenset(flags))
    return PythonCommand("stdin", None, frozenset(flags))


def check_rerun(env: Mapping[bytes, bytes], cwd: str | None) -> None:
    """Raise CannotRerunError if the running Python command cannot be re-run by a new
    process with environment `env` starting in `cwd` (None: the current directory)."""
    orig_argv = getattr(sys, "orig_argv", None)
    if not orig_argv or getattr(sys, "frozen", False):
        return  # embedded or frozen: the command line is not an interpreter's
    command = parse_command(orig_argv)
    if command.kind == "stdin":
        _check_not_stdin()
        return
    if command.kind == "code":
        return
    new_cwd = _new_working_dir(cwd)
    if command.kind == "script":
        _check_script(command.target or "", new_cwd)
    else:
        _check_module(command.target or "", new_cwd, command.flags, env)


def _check_not_stdin() -> None:
    argv0 = sys.argv[0] if sys.argv else ""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if argv0 not in ("", "-") or main_file not in (None, "<stdin>"):
        return  # the command line says stdin, the running program says otherwise: trust it
    try:
        interactive = os.isatty(0)
    except OSError:
        interactive = False
    if interactive:
        return  # an interactive session: the new one reads the same terminal
    raise _cannot_rerun(
        "Cannot re-run the current command: its script was read from standard input "
        f"({'`python -`' if argv0 == '-' else 'no script named: a pipe or a redirect'}), which "
        "the new process cannot read again (it would run nothing and exit 0). Save the "
        "script to a file and run that file, or pass argv= to run something else.")


def _new_working_dir(cwd: str | None) -> str | None:
    """The directory the new process starts in, absolute (None: it was removed)."""
    try:
        return os.path.abspath(cwd) if cwd is not None else os.getcwd()
    except OSError:
        return None


def _same_path(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _fix(script_or_module: str, found_from: Callable[[str], bool]) -> str:
    """The fix to name: cwd=start_dir() where that finds it, else argv=."""
    start = start_dir()
    if start is not None and found_from(start):
        return f"pass cwd=start_dir() ({start!r}) to start it where the command was started"
    return (f"pass cwd= the directory it was started in (start_dir() is {start!r}, where "
            f"{script_or_module} is not found either), or argv= with an absolute path")


def _readable(path: str) -> bool:
    """What the new interpreter needs of its script: a file it can read, or a
    directory (or zip file) with a __main__.py it can list."""
    if os.path.isdir(path):
        return os.access(path, os.R_OK | os.X_OK)
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _check_script(script: str, new_cwd: str | None) -> None:
    if os.path.isabs(script):
        if not _readable(script):
            raise _cannot_rerun(
                f"Cannot re-run the current command: its script {script!r} "
                f"{'cannot be read' if os.path.exists(script) else 'no longer exists'} (replaced or "
                "removed since it started?): the new interpreter would fail to open it after the "
                "point of no return, losing this process. Re-run once it is back, run the program "
                "as -m from an installed package, or pass argv= with a copy of the script.")
        return
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    running = None
    if isinstance(main_file, str) and os.path.isabs(main_file):
        # A directory or zip file run as a script: __file__ is its __main__.py.
        running = main_file if getattr(main, "__spec__", None) is None else os.path.dirname(main_file)

    def runs_it(directory: str) -> bool:
        candidate = os.path.join(directory, script)
        return os.path.exists(candidate) and (running is None or _same_path(candidate, running))

    if new_cwd is None:
        where = "a working directory that was removed"
    elif not os.path.exists(os.path.join(new_cwd, script)):
        where = f"{new_cwd!r}, where it does not exist"
    elif not runs_it(new_cwd):
        where = f"{new_cwd!r}, where it names another file than the running script {running!r}"
    elif not _readable(os.path.join(new_cwd, script)):
        where = f"{new_cwd!r}, where it cannot be read"
    else:
        return
    raise _cannot_rerun(
        f"Cannot re-run the current command: its script {script!r} is a relative path, and the "
        f"new process would start in {where}; {_fix(repr(script), runs_it)}.")


def _safe_path(flags: frozenset[str], env: Mapping[bytes, bytes]) -> bool:
    """True if the new interpreter will not put its working directory first on
    sys.path for -m (-I, -P, or PYTHONSAFEPATH unless -E ignores the environment)."""
    if "I" in flags or "P" in flags:
        return True
    return bool(env.get(b"PYTHONSAFEPATH")) and "E" not in flags


def _check_module(module: str, new_cwd: str | None, flags: frozenset[str], env: Mapping[bytes, bytes]) -> None:
    if _safe_path(flags, env):
        return  # the working directory is not on sys.path: it does not matter
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    origin = getattr(spec, "origin", None)
    if spec is None or not isinstance(origin, str) or not os.path.isabs(origin):
        return  # cannot tell where it came from
    base = origin  # the sys.path entry it was found in: origin minus the module's parts
    for _ in spec.name.split("."):
        base = os.path.dirname(base)
    if new_cwd is not None and _same_path(new_cwd, base):
        return
    top = module.split(".")[0]

    def finds_it(directory: str) -> bool:
        return _same_path(directory, base)

    if new_cwd is not None:
        from importlib.machinery import PathFinder

        found = PathFinder.find_spec(top, [new_cwd])
        # A bare directory there is only a namespace portion: a regular package or
        # module anywhere on sys.path still wins over it.
        if found is not None and found.origin not in (None, "namespace"):
            raise _cannot_rerun(
                f"Cannot re-run the current command: the new process would start in {new_cwd!r}, "
                f"first on its sys.path, where -m {module} finds another {top!r} than the running "
                f"one ({origin!r}); {_fix('-m ' + module, finds_it)}.")
    if any(entry and _same_path(entry, base) for entry in sys.path[1:]):
        return  # found through an entry the new process has too (site-packages, PYTHONPATH)
    where = "a working directory that was removed" if new_cwd is None else repr(new_cwd)
    raise _cannot_rerun(
        f"Cannot re-run the current command: -m {module} was found in {base!r}, the directory "
        f"the command was started in, but the new process would start in {where}, which "
        f"-m puts on sys.path instead; {_fix('-m ' + module, finds_it)}.")
