"""The ``reexec-native`` command (also ``python -m reexec_native``).

``doctor`` reports what this platform offers; ``exec`` is the shell's ``exec``
through a descriptor, with retry, for shell scripts. See docs/cli.md.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing, argparse, json, shutil: imported where used (see _quick_exec_options)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, TypeGuard

PROG = "reexec-native"

# Exit codes of `exec` when the program does not replace us (the shell's and GNU
# env's conventions); once it runs, the exit status is the program's own.
EXIT_USAGE = 2
EXIT_INTERNAL = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127

EXIT_CODES = f"""\
exit status:
  exec      the program's own status (the program replaced this process);
            {EXIT_NOT_FOUND} PROGRAM not found (not on PATH, or the path does not exist);
            {EXIT_CANNOT_EXECUTE} PROGRAM found but could not be executed (permission, format,
                still busy after the retry budget, ...);
            {EXIT_INTERNAL} refused before trying: the --guard variable is already set,
                or REEXEC_NATIVE_TIERS is invalid;
            with --cargo-fallback: the fallback's status (cargo's, or the program's).
  doctor    0 if at least one exec tier works, 1 if none does.
  any       {EXIT_USAGE} for a usage error.
"""


CARGO_MODES = ("run", "build-exec")


def _seconds(text: str) -> float:
    """--retry-budget's value: finite seconds >= 0."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, finite and >= 0, not {text!r}")
    return value


def _guard_name(text: str) -> str | None:
    """--guard's value: a variable name ('' for no guard)."""
    import argparse

    if not text:
        return None
    if "=" in text:
        raise argparse.ArgumentTypeError(f"must be an environment variable name, without '=': {text!r}")
    return text


def _non_empty(text: str) -> str:
    import argparse

    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replace the running process with a program atomically (exec of an "
                    "O_PATH descriptor), and report what this platform supports.",
        epilog=EXIT_CODES + "\nSee `reexec-native COMMAND --help` and docs/cli.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    doctor = sub.add_parser(
        "doctor", help="what this platform offers and what the library will do",
        description="Report the kernel, libc, native module, each exec tier (probed for real "
                    "by exec'ing a small program in a child; a tier left out of "
                    "REEXEC_NATIVE_TIERS shows as disabled), current_exe() and cargo.",
        epilog=f"exit status: 0 if at least one exec tier works, 1 if none does, {EXIT_USAGE} usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object (for tools)")
    doctor.add_argument("--no-probe", action="store_true",
                        help="do not exec anything; report tiers as 'not probed'")

    ex = sub.add_parser(
        "exec", help="replace this process with PROGRAM (like the shell's exec)",
        usage=f"{PROG} exec [options] -- PROGRAM [ARGS...]",
        description="Replace this process with PROGRAM, like the shell's `exec`, but through a "
                    "descriptor: PROGRAM is opened once and that file is executed, retrying "
                    "while a build tool swaps it. PROGRAM without a slash is looked up on PATH; "
                    "the program sees argv[0] = PROGRAM as given. No guard variable is set and "
                    "no fallback is tried unless asked for.",
        epilog=f"""\
exit status:
  the program's own status once it runs (it replaced this process);
  {EXIT_NOT_FOUND}  PROGRAM not found;   {EXIT_CANNOT_EXECUTE}  found but not executable (stderr names
  path, tier and errno);   {EXIT_INTERNAL}  refused: the --guard variable is already set,
  or REEXEC_NATIVE_TIERS is invalid;   {EXIT_USAGE}  usage error.
  With --cargo-fallback, a failed exec hands over to cargo, whose status (or the
  program's) becomes ours.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("--retry-budget", type=_seconds, default=0.25, metavar="S",
                    help="seconds during which ENOENT/ETXTBSY are retried (default 0.25)")
    ex.add_argument("--guard", metavar="NAME", type=_guard_name,
                    help="set NAME=1 in the program's environment, and refuse (exit "
                         f"{EXIT_INTERNAL}) if NAME is already set here (default, or --guard '': no guard)")
    fb = ex.add_mutually_exclusive_group()
    fb.add_argument("--no-fallback", action="store_true",
                    help="never hand over to cargo (the default; accepted for explicitness)")
    fb.add_argument("--cargo-fallback", action="store_true",
                    help="if the exec fails, hand over to cargo, as --cargo-mode says")
    ex.add_argument("--cargo-mode", choices=CARGO_MODES, metavar="MODE",
                    help="with --cargo-fallback: 'run' (the default: cargo run -p PACKAGE --features "
                         "FEATURES -- ARGS, waiting for it) or 'build-exec' (cargo build, then exec "
                         "the binary); --cargo-fallback=MODE says both at once")
    ex.add_argument("--package", default="xtask", help="cargo package for the fallback (default xtask)")
    ex.add_argument("--features", default="crossval-all",
                    help="comma-separated cargo features for the fallback (default crossval-all; '' for none)")
    ex.add_argument("--manifest-path", type=_non_empty, help="Cargo.toml for the fallback")
    up = ex.add_argument_group("upgrades (docs/upgrade.md)")
    up.add_argument("--listen-fd", type=int, action="append", default=[], metavar="N",
                    help="hand descriptor N to PROGRAM by socket activation: the first --listen-fd "
                         "becomes its descriptor 3, the next 4, ..., with LISTEN_FDS, LISTEN_PID "
                         "(and LISTEN_FDNAMES with --fdname); repeatable")
    up.add_argument("--fdname", metavar="NAME[:NAME...]",
                    help="names of the --listen-fd descriptors, in order (LISTEN_FDNAMES)")
    up.add_argument("--pass-fd", type=int, action="append", default=[], metavar="N",
                    help="keep descriptor N open in PROGRAM under the same number; repeatable. With "
                         "--listen-fd or --pass-fd, no other descriptor above 2 reaches PROGRAM")
    up.add_argument("--verify", metavar="ARGS",
                    help="first run the opened PROGRAM with ARGS (one string, split as a shell "
                         "would: --verify=--version) and exec it only if that exits 0; otherwise "
                         f"exit {EXIT_CANNOT_EXECUTE} and nothing is replaced")
    up.add_argument("--verify-timeout", type=float, default=5.0, metavar="S",
                    help="seconds the --verify run may take (default 5)")
    ex.add_argument("-v", "--verbose", action="store_true",
                    help="print the library's [reexec] diagnostic lines on stderr")
    ex.add_argument("program", metavar="PROGRAM", help="the program to run")
    ex.add_argument("args", metavar="ARGS", nargs="*", default=[],
                    help="its arguments (everything after PROGRAM, untouched)")
    return parser


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _doctor(opts: argparse.Namespace) -> int:
    from ._doctor import diagnose, format_report

    report = diagnose(probe=not opts.no_probe)
    if opts.json:
        import json

        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return 0 if report["plan"]["ok"] else 1


def _exit_code_for(exc: BaseException | None) -> int:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return EXIT_NOT_FOUND
    return EXIT_CANNOT_EXECUTE


def _describe(exc: BaseException | None, path: str) -> str:
    if not isinstance(exc, OSError):
        return f"{path}: {exc}"
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    tier = getattr(exc, "tier", "?")
    return f"{exc.filename or path}: {exc.strerror or exc} (tier {tier}, errno {name})"


def _which(program: str) -> str | None:
    """shutil.which(program) without importing shutil (it loads bz2, lzma, ...), on
    POSIX, the same lookup as CPython 3.11's: $PATH (confstr CS_PATH if unset), in
    order, the first entry we may execute that is not a directory."""
    if os.name == "nt":
        import shutil

        return shutil.which(program)
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH")
        except (AttributeError, ValueError):
            path = os.defpath
    if not path:
        return None
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory, program)
        if os.path.exists(candidate) and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _exec(opts: argparse.Namespace) -> int:
    from ._log import set_quiet
    from ._reexec import reexec
    from ._seams import requested_tiers
    from .cargo import CargoRun
    from .errors import RecursionGuardError, ReexecError, VerifyError

    program: str = opts.program
    args: list[str] = list(opts.args)
    if not opts.verbose:
        set_quiet(True)  # not logging's `disabled`: that would import logging for nothing
    try:
        requested_tiers()
    except ValueError as exc:
        _error(str(exc))
        return EXIT_INTERNAL
    guard = opts.guard
    if opts.cargo_mode and not opts.cargo_fallback:
        return _usage_error("--cargo-mode needs --cargo-fallback")
    fallback = None
    if opts.cargo_fallback:
        features = tuple(f for f in opts.features.split(",") if f)
        fallback = CargoRun(package=opts.package or None, features=features,
                            manifest_path=opts.manifest_path, mode=opts.cargo_mode or "run")

    if os.sep in program or (os.altsep and os.altsep in program):
        path = program
    else:
        found = _which(program)
        if found is None and fallback is None:
            _error(f"{program}: not found on PATH={os.environ.get('PATH', '')!r}")
            return EXIT_NOT_FOUND
        path = found or program
    try:
        reexec([program, *args], executable=path, guard=guard, fallback=fallback,
               retry_budget=opts.retry_budget, **_upgrade_options(opts))
    except VerifyError as exc:
        _error(str(exc))
        return EXIT_CANNOT_EXECUTE
    except RecursionGuardError:
        _error(f"refusing to run {program}: {guard}={os.environ.get(guard or '', '')} is already set "
               f"here, so this is itself a re-exec (leave out --guard {guard}, or unset {guard}, to allow it)")
        return EXIT_INTERNAL
    except ReexecError as exc:
        cause = exc.exec_error
        _error(f"cannot execute {_describe(cause, path)}")
        if exc.fallback_error is not None:
            _error(f"cargo fallback failed too: {exc.fallback_error}")
        return _exit_code_for(cause)
    except (ValueError, TypeError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    return EXIT_INTERNAL  # unreachable: reexec() never returns


def _upgrade_options(opts: argparse.Namespace) -> dict[str, Any]:
    """reexec()'s listen_fds/listen_fdnames/pass_fds/verify from the upgrade options."""
    kwargs: dict[str, Any] = {}
    if opts.listen_fd:
        kwargs["listen_fds"] = opts.listen_fd
        if opts.fdname is not None:
            kwargs["listen_fdnames"] = opts.fdname.split(":")
    elif opts.fdname is not None:
        raise ValueError("--fdname needs --listen-fd")
    if opts.pass_fd:
        kwargs["pass_fds"] = opts.pass_fd
    if opts.verify is not None:
        import shlex

        kwargs["verify"] = shlex.split(opts.verify)
        kwargs["verify_timeout"] = opts.verify_timeout
    return kwargs


# `exec`'s own options (keep in step with _parser()): PROGRAM is the first word that
# is not one of them, so they must be known here, before argparse sees anything.
_EXEC_VALUE_OPTIONS = frozenset({"--retry-budget", "--guard", "--package", "--features", "--manifest-path",
                                 "--cargo-mode", "--listen-fd", "--fdname", "--pass-fd", "--verify",
                                 "--verify-timeout"})
_EXEC_FLAGS = frozenset({"--help", "--verbose", "--no-fallback", "--cargo-fallback"})
_EXEC_SHORT_FLAGS = frozenset("hv")


# What argparse gives `exec` for an option left out (its defaults; a test keeps the two
# in step), so the plain `exec [-v] [--no-fallback] -- PROGRAM ...` needs no argparse.
_EXEC_DEFAULTS: dict[str, object] = {"retry_budget": 0.25, "guard": None, "no_fallback": False, "cargo_fallback": False,
                  "cargo_mode": None, "package": "xtask", "features": "crossval-all", "manifest_path": None,
                  "listen_fd": [], "fdname": None, "pass_fd": [], "verify": None, "verify_timeout": 5.0,
                  "verbose": False}
_QUICK_FLAGS = {"-v": "verbose", "--verbose": "verbose", "--no-fallback": "no_fallback"}


class _Options:
    """argparse.Namespace's shape, without argparse (it costs a third of a start)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def _is_list(value: object) -> TypeGuard[Sequence[object]]:
    """isinstance(value, list), its items typed as object for the type checkers (to copy)."""
    return isinstance(value, list)


def _quick_exec_options(argv: list[str]) -> _Options | None:
    """`exec`'s options when they are only flags argparse would accept as they are;
    None for anything else (argparse then parses, and reports errors its way)."""
    if argv[:1] != ["exec"] or "--" not in argv:
        return None
    split = argv.index("--")
    flags, rest = argv[1:split], argv[split + 1:]
    if len(rest) != 1 or rest[0].startswith("-") or not all(f in _QUICK_FLAGS for f in flags):
        return None
    values = {name: list(value) if _is_list(value) else value for name, value in _EXEC_DEFAULTS.items()}
    for flag in flags:
        values[_QUICK_FLAGS[flag]] = True
    return _Options(command="exec", program=rest[0], args=[], **values)


class _UsageError(Exception):
    pass


def _usage_error(message: str) -> int:
    """argparse's form: the usage line, then the error, exit status 2."""
    sys.stderr.write(f"usage: {PROG} exec [options] -- PROGRAM [ARGS...]\n{PROG} exec: error: {message}\n")
    return EXIT_USAGE


def _long_option(name: str) -> str:
    """The option `name` means, an unambiguous prefix included (argparse accepts those)."""
    known = _EXEC_VALUE_OPTIONS | _EXEC_FLAGS
    if name in known:
        return name
    matches = sorted(option for option in known if option.startswith(name))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _UsageError(f"ambiguous option {name} (could be {', '.join(matches)})")
    raise _UsageError(f"unknown option {name}")


def _split_exec(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(our options, [PROGRAM, *ARGS]) of `exec`'s arguments. Everything from PROGRAM
    on is the program's, untouched, a ``--`` included (argparse would eat it). An
    unknown option, or a cargo mode written as a separate word after
    --cargo-fallback (it would be PROGRAM), is a _UsageError."""
    options: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            return options, tokens[i + 1:]
        if not token.startswith("-") or token == "-":
            break
        try:
            if token.startswith("--"):
                name, eq, value = token.partition("=")
                option = _long_option(name)
            elif set(token[1:]) <= _EXEC_SHORT_FLAGS:
                option, eq, value = token, "", ""
            else:
                raise _UsageError(f"unknown option {token}")
        except _UsageError as exc:
            raise _UsageError(f"{exc}; a PROGRAM whose name starts with '-' goes after "
                              f"`--`: {PROG} exec [options] -- {token} [ARGS...]") from None
        if option == "--cargo-fallback" and eq:
            options += [option, "--cargo-mode", value]  # --cargo-fallback=MODE
        elif option == "--cargo-fallback" and i + 1 < len(tokens) and tokens[i + 1] in CARGO_MODES:
            mode = tokens[i + 1]
            raise _UsageError(
                f"'{mode}' after --cargo-fallback would be PROGRAM (and cargo would run it): the mode "
                f"is --cargo-mode {mode} (or --cargo-fallback={mode}); for a program named {mode}, "
                f"write --cargo-fallback -- {mode} ...")
        elif option in _EXEC_VALUE_OPTIONS and not eq:
            if i + 1 < len(tokens):  # --verify --version: argparse would take the value for an option
                options.append(f"{option}={tokens[i + 1]}")
            else:
                options.append(token)
            i += 1
        else:
            options.append(token)
        i += 1
    return options, tokens[i:]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``reexec-native`` and ``python -m reexec_native``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = None
    if argv[:1] == ["exec"]:
        try:
            options, command_line = _split_exec(argv[1:])
        except _UsageError as exc:
            return _usage_error(str(exc))
        wants_help = any(o == "--help" or (o.startswith("-") and not o.startswith("--") and "h" in o)
                         for o in options)
        if not command_line and not wants_help:
            return _usage_error(f"PROGRAM required: {PROG} exec [options] -- PROGRAM [ARGS...]")
        argv = ["exec", *options, "--", *command_line[:1]]
    # _Options has argparse.Namespace's shape (its attributes are the parser's dests).
    opts: Any = _quick_exec_options(argv) or _parser().parse_args(argv)
    if command_line is not None:
        opts.args = command_line[1:]
    if opts.command == "doctor":
        return _doctor(opts)
    return _exec(opts)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
