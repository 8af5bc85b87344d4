"""The ``reexec-native`` command (also ``python -m reexec_native``).

``doctor`` reports what this platform offers; ``exec`` is the shell's ``exec``
through a descriptor, with retry, for shell scripts. See docs/cli.md. The command
line (options, parser, the argparse-free plain exec) is read by ``_cli_args``.
"""

from __future__ import annotations

import errno
import os
import sys

from ._cli_args import (
    EXIT_CANNOT_EXECUTE,
    EXIT_INTERNAL,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    PROG,
    UsageError,
    parse,
    usage_error,
)

TYPE_CHECKING = False  # typing, argparse, json, shutil: imported where used
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from .cargo import CargoRun


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
    """shutil.which(program), on POSIX without importing shutil: that loads re, enum,
    bz2 and lzma, 2 to 4 ms, which would take `exec -- /bin/true` past 1.5x a Python
    os.execv (benchmarks/import_cost.py). The same lookup as CPython's: $PATH
    (confstr CS_PATH if unset), in order, the first entry we may execute that is not
    a directory; a test holds the two to the same answers."""
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
    from ._binding import keep_caller_mask, requested_tiers
    from ._log import set_quiet
    from ._reexec import reexec

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
        return usage_error("--cargo-mode needs --cargo-fallback")
    fallback = None
    if opts.cargo_fallback:
        try:
            fallback = _cargo_fallback(opts)
        except ValueError as exc:  # a --cargo-mode CargoRun does not have
            return usage_error(f"--cargo-mode: {exc}")

    if os.sep in program or (os.altsep and os.altsep in program):
        path = program
    else:
        found = _which(program)
        if found is None and fallback is None:
            _error(f"{program}: not found on PATH={os.environ.get('PATH', '')!r}")
            return EXIT_NOT_FOUND
        path = found or program
    keep_caller_mask()  # as a shell's exec: the interpreter never changed it (docs/cli.md)
    try:
        reexec([program, *args], executable=path, guard=guard, fallback=fallback, **_reexec_options(opts))
    except (OSError, ValueError, TypeError) as exc:
        return _exec_failed(exc, program, path, guard)
    return EXIT_INTERNAL  # unreachable: reexec() never returns


def _exec_failed(exc: BaseException, program: str, path: str, guard: str | None) -> int:
    """What reexec() raised, said and turned into the exit code (errors loads only now:
    see _validate._too_long); anything else is raised on."""
    from .errors import RecursionGuardError, ReexecError, VerifyError

    if isinstance(exc, VerifyError):
        _error(str(exc))
        return EXIT_CANNOT_EXECUTE
    if isinstance(exc, RecursionGuardError):
        _error(f"refusing to run {program}: {guard}={os.environ.get(guard or '', '')} is already set "
               f"here, so this is itself a re-exec (leave out --guard {guard}, or unset {guard}, to allow it)")
        return EXIT_INTERNAL
    if isinstance(exc, ReexecError):
        cause = exc.exec_error
        _error(f"cannot execute {_describe(cause, path)}")
        if exc.fallback_error is not None:
            _error(f"cargo fallback failed too: {exc.fallback_error}")
        return _exit_code_for(cause)
    if isinstance(exc, (ValueError, TypeError)):
        _error(str(exc))
        return EXIT_USAGE
    raise exc


def _cargo_fallback(opts: argparse.Namespace) -> CargoRun:
    """The CargoRun the options ask for; what they leave out is CargoRun's default."""
    from .cargo import CargoRun

    kwargs: dict[str, Any] = {"manifest_path": opts.manifest_path}
    if opts.package is not None:
        kwargs["package"] = opts.package or None
    if opts.features is not None:
        kwargs["features"] = tuple(f for f in opts.features.split(",") if f)
    if opts.cargo_mode is not None:
        kwargs["mode"] = opts.cargo_mode
    return CargoRun(**kwargs)


def _reexec_options(opts: argparse.Namespace) -> dict[str, Any]:
    """reexec()'s retry_budget, listen_fds/listen_fdnames/pass_fds and verify from the
    options given; what they leave out is reexec()'s default."""
    kwargs: dict[str, Any] = {}
    if opts.retry_budget is not None:
        kwargs["retry_budget"] = opts.retry_budget
    if opts.snapshot or opts.snapshot_required:
        kwargs["snapshot"] = "required" if opts.snapshot_required else True
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
        if opts.verify_timeout is not None:
            kwargs["verify_timeout"] = opts.verify_timeout
    return kwargs


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``reexec-native`` and ``python -m reexec_native``."""
    try:
        opts = parse(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        return usage_error(str(exc))
    if opts.command == "doctor":
        return _doctor(opts)
    return _exec(opts)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
