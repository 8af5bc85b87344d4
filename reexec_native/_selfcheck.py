"""Checks before a Python program re-executes itself (reexec() with argv=None).

The new interpreter re-reads its command line, ``sys.orig_argv``: it must be able to
find what that command runs. Two things it cannot, found here before the point of
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
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ._command import start_dir
from .errors import CannotRerunError

# Interpreter options that take a value (attached, -Wdefault, or the next word).
_WITH_VALUE = "cmWX"
_LONG_WITH_VALUE = "--check-hash-based-pycs"


class PythonCommand(NamedTuple):
    """What an interpreter command line runs: kind is "script", "module", "code" or
    "stdin"; target the script path, module name or code (None for stdin);
    flags the single-letter options (-I, -P, -E, ...)."""

    kind: str
    target: str | None
    flags: frozenset[str]


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
    raise CannotRerunError(
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
            raise CannotRerunError(
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
    raise CannotRerunError(
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
            raise CannotRerunError(
                f"Cannot re-run the current command: the new process would start in {new_cwd!r}, "
                f"first on its sys.path, where -m {module} finds another {top!r} than the running "
                f"one ({origin!r}); {_fix('-m ' + module, finds_it)}.")
    if any(entry and _same_path(entry, base) for entry in sys.path[1:]):
        return  # found through an entry the new process has too (site-packages, PYTHONPATH)
    where = "a working directory that was removed" if new_cwd is None else repr(new_cwd)
    raise CannotRerunError(
        f"Cannot re-run the current command: -m {module} was found in {base!r}, the directory "
        f"the command was started in, but the new process would start in {where}, which "
        f"-m puts on sys.path instead; {_fix('-m ' + module, finds_it)}.")
