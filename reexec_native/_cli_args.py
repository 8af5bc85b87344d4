"""The ``reexec-native`` command line: `exec`'s options (one table), the argparse
parser built from it, and the argparse-free reading of ``exec [options] [--] PROGRAM
ARGS...``, which finds where PROGRAM starts and, for a plain ``exec -- PROGRAM``,
needs no argparse at all (``parse``). The commands are in ``cli``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing, argparse: imported where used (see _quick_exec_options)
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

# Each command's exit statuses, written once: `--help` lists them all, each
# command's own --help its own.
_EXIT_STATUS = {
    "exec": f"""\
the program's own status (the program replaced this process);
{EXIT_NOT_FOUND} PROGRAM not found (not on PATH, or the path does not exist), or its
    #! interpreter or ELF loader does not exist (as the shell and env say it);
{EXIT_CANNOT_EXECUTE} PROGRAM found but could not be executed (permission, format,
    still busy after the retry budget, ...; stderr names path, tier and errno);
{EXIT_INTERNAL} refused before trying: the --guard variable is already set,
    or REEXEC_NATIVE_TIERS is invalid;
with --cargo-fallback: the fallback's status (cargo's, or the program's).""",
    "doctor": "0 if at least one exec tier works, 1 if none does.",
    "any": f"{EXIT_USAGE} for a usage error.",
}


def _exit_status(*commands: str) -> str:
    """The "exit status:" section of a --help: these commands' statuses, labelled."""
    lines = ["exit status:"]
    for command in commands:
        label = f"  {command:<10}" if len(commands) > 1 else "  "
        for i, line in enumerate(_EXIT_STATUS[command].splitlines()):
            lines.append((label if i == 0 else " " * len(label)) + line)
    return "\n".join(lines) + "\n"



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


class _Option:
    """One of `exec`'s options: its names and argparse keywords, the parser group it
    goes in, and, where the library owns its default, whose parameter that is
    (``("reexec", "retry_budget")``): such an option left out is not passed on, so
    the default is the library's own, and --help reads it from there."""

    __slots__ = ("names", "group", "library_default", "kwargs")

    def __init__(self, *names: str, group: str | None = None, library_default: tuple[str, str] | None = None,
                 **kwargs: Any) -> None:
        self.names = names
        self.group = group
        self.library_default = library_default
        self.kwargs = kwargs

    @property
    def dest(self) -> str:
        """The Namespace attribute, as argparse derives it from the long name."""
        return self.names[-1][2:].replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return self.kwargs.get("action") != "store_true"

    @property
    def unset(self) -> object:
        """The value when the option is left out (what argparse is given as default)."""
        action = self.kwargs.get("action")
        return [] if action == "append" else False if action == "store_true" else None


_FALLBACK = "fallback"  # a mutually exclusive group
_UPGRADES = "upgrades (docs/upgrade.md)"

# `exec`'s options, in --help's order: the one table the parser is built from and
# from which the argparse-free paths below learn which words are our options and what
# a left-out option's value is. "{default}" in a help text is the library's default.
_EXEC_OPTIONS = (
    _Option("--retry-budget", type=_seconds, metavar="S", library_default=("reexec", "retry_budget"),
            help="seconds during which ENOENT/ETXTBSY are retried (default {default})"),
    _Option("--guard", metavar="NAME", type=_guard_name,
            help="set NAME=1 in the program's environment, and refuse (exit "
                 f"{EXIT_INTERNAL}) if NAME is already set here (default, or --guard '': no guard)"),
    _Option("--no-fallback", group=_FALLBACK, action="store_true",
            help="never hand over to cargo (the default; accepted for explicitness)"),
    _Option("--cargo-fallback", group=_FALLBACK, action="store_true",
            help="if the exec fails, hand over to cargo, as --cargo-mode says"),
    _Option("--cargo-mode", metavar="MODE", library_default=("CargoRun", "mode"),
            help="with --cargo-fallback: 'run' (cargo run -p PACKAGE --features FEATURES -- ARGS, "
                 "waiting for it) or 'build-exec' (cargo build, then exec the binary); default "
                 "{default}; --cargo-fallback=MODE says both at once"),
    _Option("--package", library_default=("CargoRun", "package"),
            help="cargo package for the fallback (default {default})"),
    _Option("--features", library_default=("CargoRun", "features"),
            help="comma-separated cargo features for the fallback (default {default}; '' for none)"),
    _Option("--manifest-path", type=_non_empty, help="Cargo.toml for the fallback"),
    _Option("--listen-fd", group=_UPGRADES, type=int, action="append", metavar="N",
            help="hand descriptor N to PROGRAM by socket activation: the first --listen-fd "
                 "becomes its descriptor 3, the next 4, ..., with LISTEN_FDS, LISTEN_PID, "
                 "LISTEN_PIDFDID where the kernel has pidfd ids (Linux 6.9+), and LISTEN_FDNAMES "
                 "with --fdname; repeatable"),
    _Option("--fdname", group=_UPGRADES, metavar="NAME[:NAME...]",
            help="names of the --listen-fd descriptors, in order (LISTEN_FDNAMES)"),
    _Option("--pass-fd", group=_UPGRADES, type=int, action="append", metavar="N",
            help="keep descriptor N open in PROGRAM under the same number; repeatable. With "
                 "--listen-fd or --pass-fd, no other descriptor above 2 reaches PROGRAM"),
    _Option("--verify", group=_UPGRADES, metavar="ARGS",
            help="first run the opened PROGRAM with ARGS (one string, split as a shell "
                 "would: --verify=--version) and exec it only if that exits 0; otherwise "
                 f"exit {EXIT_CANNOT_EXECUTE} and nothing is replaced"),
    _Option("--verify-timeout", group=_UPGRADES, type=float, metavar="S",
            library_default=("reexec", "verify_timeout"),
            help="seconds the --verify run may take (default {default})"),
    _Option("--snapshot", action="store_true",
            help="execute a sealed copy of PROGRAM (O_TMPFILE or memfd, Linux), which in-place "
                 "rewrites cannot reach; where none can be made, PROGRAM itself, with a warning "
                 "naming why"),
    _Option("--snapshot-required", action="store_true",
            help=f"like --snapshot, but where no sealed copy can be made exit {EXIT_CANNOT_EXECUTE} "
                 "and run nothing"),
    _Option("-v", "--verbose", action="store_true",
            help="print the library's [reexec] diagnostic lines on stderr"),
)


def _library_defaults() -> dict[str, str]:
    """The defaults --help shows for the options the library owns, as a user would
    write them, read from reexec()'s and CargoRun's signatures (only when help is
    printed: it imports the library, which needs the C extension)."""
    import inspect

    try:
        from ._reexec import reexec
        from .cargo import CargoRun
    except ImportError:  # a broken install (`doctor` says what is wrong): --help still works
        return {option.dest: f"{option.library_default[0]}'s"
                for option in _EXEC_OPTIONS if option.library_default}
    owners = {"reexec": inspect.signature(reexec), "CargoRun": inspect.signature(CargoRun)}
    shown: dict[str, str] = {}
    for option in _EXEC_OPTIONS:
        if option.library_default:
            owner, parameter = option.library_default
            value = owners[owner].parameters[parameter].default
            if _is_tuple(value):  # features: the command line's comma-separated form
                value = ",".join(str(part) for part in value)
            shown[option.dest] = "''" if value in (None, "") else f"{value:g}" if isinstance(value, float) else str(value)
    return shown


def _parser() -> argparse.ArgumentParser:
    """argparse's parser of both commands: for what the quick path does not take."""
    import argparse

    shown_defaults: dict[str, str] = {}

    class _ExecHelp(argparse.RawDescriptionHelpFormatter):
        """exec's help: "{default}" is the library's default (see _Option), looked up
        only when the help is printed."""

        def _get_help_string(self, action: argparse.Action) -> str | None:
            text = super()._get_help_string(action)
            if text and "{default}" in text:
                if not shown_defaults:
                    shown_defaults.update(_library_defaults())
                text = text.replace("{default}", shown_defaults[action.dest].replace("%", "%%"))
            return text

    top = argparse.ArgumentParser(
        prog=PROG,
        description="Replace the running process with a program atomically (exec of an "
                    "O_PATH descriptor), and report what this platform supports.",
        epilog=_exit_status("exec", "doctor", "any") + "\nSee `reexec-native COMMAND --help` and docs/cli.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    doctor = sub.add_parser(
        "doctor", help="what this platform offers and what the library will do",
        description="Report the kernel, libc, native module, each exec tier (probed for real "
                    "by exec'ing a small program in a child; a tier left out of "
                    "REEXEC_NATIVE_TIERS shows as disabled), current_exe() and cargo.",
        epilog=_exit_status("doctor", "any"),
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
        epilog=_exit_status("exec", "any"),
        formatter_class=_ExecHelp,
    )
    groups: dict[str | None, Any] = {
        None: ex, _FALLBACK: ex.add_mutually_exclusive_group(), _UPGRADES: ex.add_argument_group(_UPGRADES)}
    for option in _EXEC_OPTIONS:
        groups[option.group].add_argument(*option.names, default=option.unset, **option.kwargs)
    ex.add_argument("program", metavar="PROGRAM", help="the program to run")
    ex.add_argument("args", metavar="ARGS", nargs="*", default=[],
                    help="its arguments (everything after PROGRAM, untouched)")
    return top


# What the argparse-free paths need to know of _EXEC_OPTIONS: PROGRAM is the first
# word that is not one of our options, so _split_exec must know them before argparse
# sees anything, and the plain `exec [flags] -- PROGRAM` needs no argparse at all.
_EXEC_VALUE_OPTIONS = frozenset(o.names[-1] for o in _EXEC_OPTIONS if o.takes_value)
_EXEC_FLAGS = frozenset(["--help", *(o.names[-1] for o in _EXEC_OPTIONS if not o.takes_value)])
_EXEC_SHORT_FLAGS = frozenset(["h", *(name[1] for o in _EXEC_OPTIONS if not o.takes_value
                                      for name in o.names if len(name) == 2)])
# What argparse gives `exec` for each option left out.
_EXEC_DEFAULTS = {o.dest: o.unset for o in _EXEC_OPTIONS}
# The flags the quick path takes as they are: every option without a value, by each name.
_QUICK_FLAGS = {name: o for o in _EXEC_OPTIONS if not o.takes_value for name in o.names}


class _Options:
    """argparse.Namespace's shape, without argparse (it costs a third of a start)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def _is_tuple(value: object) -> TypeGuard[tuple[object, ...]]:
    """isinstance(value, tuple), its items typed as object for the type checkers."""
    return isinstance(value, tuple)


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
    exclusive = {_QUICK_FLAGS[f].dest for f in flags if _QUICK_FLAGS[f].group == _FALLBACK}
    if len(exclusive) > 1:  # --no-fallback --cargo-fallback: argparse's error
        return None
    values = {name: list(value) if _is_list(value) else value for name, value in _EXEC_DEFAULTS.items()}
    for flag in flags:
        values[_QUICK_FLAGS[flag].dest] = True
    return _Options(command="exec", program=rest[0], args=[], **values)


def _quick_doctor_options(argv: list[str]) -> _Options | None:
    """`doctor [--json] [--no-probe]` without argparse (building the parser is a fifth of
    a doctor run); None for anything else (argparse parses it, errors and --help too)."""
    if argv[:1] != ["doctor"] or not set(argv[1:]) <= {"--json", "--no-probe"}:
        return None
    return _Options(command="doctor", json="--json" in argv, no_probe="--no-probe" in argv)


class UsageError(Exception):
    pass


def _cargo_modes() -> tuple[str, ...]:
    """CargoRun's modes (imported here: the library needs the C extension, which
    `doctor` must diagnose rather than need)."""
    from .cargo import MODES

    return MODES


def usage_error(message: str) -> int:
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
        raise UsageError(f"ambiguous option {name} (could be {', '.join(matches)})")
    raise UsageError(f"unknown option {name}")


def _split_exec(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(our options, [PROGRAM, *ARGS]) of `exec`'s arguments. Everything from PROGRAM
    on is the program's, untouched, a ``--`` included (argparse would eat it). An
    unknown option, or a cargo mode written as a separate word after
    --cargo-fallback (it would be PROGRAM), is a UsageError."""
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
                raise UsageError(f"unknown option {token}")
        except UsageError as exc:
            raise UsageError(f"{exc}; a PROGRAM whose name starts with '-' goes after "
                              f"`--`: {PROG} exec [options] -- {token} [ARGS...]") from None
        if option == "--cargo-fallback" and eq:
            options += [option, "--cargo-mode", value]  # --cargo-fallback=MODE
        elif option == "--cargo-fallback" and i + 1 < len(tokens) and tokens[i + 1] in _cargo_modes():
            mode = tokens[i + 1]
            raise UsageError(
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


def parse(argv: list[str]) -> Any:
    """The options of a command line (argparse.Namespace's shape: the parser's dests;
    `exec`'s PROGRAM and ARGS as .program and .args, untouched); UsageError for what
    argparse would not see (PROGRAM missing, an unknown option before PROGRAM)."""
    command_line = None
    if argv[:1] == ["exec"]:
        options, command_line = _split_exec(argv[1:])
        wants_help = any(o == "--help" or (o.startswith("-") and not o.startswith("--") and "h" in o)
                         for o in options)
        if not command_line and not wants_help:
            raise UsageError(f"PROGRAM required: {PROG} exec [options] -- PROGRAM [ARGS...]")
        argv = ["exec", *options, "--", *command_line[:1]]
    opts: Any = _quick_exec_options(argv) or _quick_doctor_options(argv) or _parser().parse_args(argv)
    if command_line is not None:
        opts.args = command_line[1:]
    return opts
