"""The ``reexec-native`` command (also ``python -m reexec_native``).

``doctor`` reports what this platform offers; ``exec`` is the shell's ``exec``
through a descriptor, with retry, for shell scripts. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence

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


def _parser() -> argparse.ArgumentParser:
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
    ex.add_argument("--retry-budget", type=float, default=0.25, metavar="S",
                    help="seconds during which ENOENT/ETXTBSY are retried (default 0.25)")
    ex.add_argument("--guard", metavar="NAME",
                    help="set NAME=1 in the program's environment, and refuse (exit "
                         f"{EXIT_INTERNAL}) if NAME is already set here (default: no guard)")
    fb = ex.add_mutually_exclusive_group()
    fb.add_argument("--no-fallback", action="store_true",
                    help="never hand over to cargo (the default; accepted for explicitness)")
    fb.add_argument("--cargo-fallback", nargs="?", const="run", choices=("run", "build-exec"),
                    metavar="MODE",
                    help="if the exec fails, hand over to cargo: MODE 'run' (default: cargo run "
                         "-p PACKAGE --features FEATURES -- ARGS) or 'build-exec' (cargo build, "
                         "then exec the binary)")
    ex.add_argument("--package", default="xtask", help="cargo package for the fallback (default xtask)")
    ex.add_argument("--features", default="crossval-all",
                    help="comma-separated cargo features for the fallback (default crossval-all; '' for none)")
    ex.add_argument("--manifest-path", help="Cargo.toml for the fallback")
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
    ex.add_argument("args", metavar="ARGS", nargs="*", help="its arguments (everything after PROGRAM, untouched)")
    return parser


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _doctor(opts: argparse.Namespace) -> int:
    from ._doctor import diagnose, format_report

    report = diagnose(probe=not opts.no_probe)
    if opts.json:
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


def _exec(opts: argparse.Namespace) -> int:
    from ._exe import requested_tiers
    from ._validate import guard_name
    from .cargo import CargoRun
    from .errors import RecursionGuardError, ReexecError, VerifyError
    from ._reexec import reexec

    program: str = opts.program
    args: list[str] = list(opts.args)
    if not opts.verbose:
        logging.getLogger("reexec_native").disabled = True
    try:
        requested_tiers()
        guard = guard_name(opts.guard)
    except (ValueError, TypeError) as exc:
        _error(str(exc))
        return EXIT_INTERNAL
    fallback = None
    if opts.cargo_fallback:
        features = tuple(f for f in opts.features.split(",") if f)
        fallback = CargoRun(package=opts.package or None, features=features,
                            manifest_path=opts.manifest_path, mode=opts.cargo_fallback)

    if os.sep in program or (os.altsep and os.altsep in program):
        path = program
    else:
        found = shutil.which(program)
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
    except RecursionGuardError as exc:
        _error(str(exc))
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


def _upgrade_options(opts: argparse.Namespace) -> dict:
    """reexec()'s listen_fds/listen_fdnames/pass_fds/verify from the upgrade options."""
    import shlex

    kwargs: dict = {}
    if opts.listen_fd:
        kwargs["listen_fds"] = opts.listen_fd
        if opts.fdname is not None:
            kwargs["listen_fdnames"] = opts.fdname.split(":")
    elif opts.fdname is not None:
        raise ValueError("--fdname needs --listen-fd")
    if opts.pass_fd:
        kwargs["pass_fds"] = opts.pass_fd
    if opts.verify is not None:
        kwargs["verify"] = shlex.split(opts.verify)
        kwargs["verify_timeout"] = opts.verify_timeout
    return kwargs


_EXEC_VALUE_OPTIONS = frozenset({"--retry-budget", "--guard", "--package", "--features", "--manifest-path",
                                 "--listen-fd", "--fdname", "--pass-fd", "--verify", "--verify-timeout"})


def _split_exec(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(our options, [PROGRAM, *ARGS]) of `exec`'s arguments. Everything from PROGRAM
    on is the program's, untouched, a ``--`` included (argparse would eat it)."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            return tokens[:i], tokens[i + 1:]
        if token in _EXEC_VALUE_OPTIONS:
            if i + 1 < len(tokens):  # --verify --version: argparse would take the value for an option
                tokens = [*tokens[:i], f"{token}={tokens[i + 1]}", *tokens[i + 2:]]
            i += 1
        elif token.startswith("-") and token != "-":
            i += 1  # a flag, --opt=value, -h
        else:
            break
    return tokens[:i], tokens[i:]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``reexec-native`` and ``python -m reexec_native``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = None
    if argv[:1] == ["exec"]:
        options, command_line = _split_exec(argv[1:])
        argv = ["exec", *options, "--", *command_line[:1]]
    opts = _parser().parse_args(argv)
    if command_line is not None:
        opts.args = command_line[1:]
    if opts.command == "doctor":
        return _doctor(opts)
    return _exec(opts)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
