"""The fallback: hand over to ``cargo run -p xtask --features crossval-all -- ARGS``.

The parent waits for the child and then leaves exactly as the child did: its exit
code, or death by the same signal. While it waits, SIGINT is ignored (the child owns
the terminal and gets its own Ctrl-C) and every other signal that would end or stop
it is forwarded to the child (see _signals).
On Windows the child is run through the C core's CreateProcessW shim
(reexec_win_run), which hands back its full 32-bit code to be logged and exited with.
CargoRun holds the configuration and the command lines; starting and waiting for
the child is _child's, building and executing the artifact _cargo_build's.
"""

from __future__ import annotations

import errno
import os

from ._log import log, shown
from .errors import ExecError, FallbackError, ReexecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import NoReturn, TypeGuard

    from ._handover import Handover


def _strings(items: Iterable[object], what: str) -> tuple[str, ...]:
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


def _is_path_like(value: object) -> TypeGuard[os.PathLike[str] | os.PathLike[bytes]]:
    """isinstance(value, os.PathLike), typed for os.fspath() (which checks that
    __fspath__ returns str or bytes)."""
    return isinstance(value, os.PathLike)


def _optional_str(value: object, what: str) -> str | None:
    if value is None:
        return None
    value = os.fspath(value) if _is_path_like(value) else value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    if not value or "\0" in value:
        raise ValueError(f"{what} must be non-empty and without NUL: {value!r}")
    return value


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {type(value).__name__}")
    return value


MODES = ("run", "build-exec")


class CargoRun:
    """``cargo run -p PACKAGE --features FEATURES [--bin B] [--manifest-path M] [ARGS] -- argv[1:]``.

    ``mode="build-exec"``: ``cargo build`` with the same options instead, then exec
    the built binary in this process (same PID, no waiting parent); see _cargo_build.

    Before it runs anything, it asks cargo (``cargo metadata --no-deps``) whether the
    working directory (or ``manifest_path``) is in a workspace that has ``package``;
    if not, it raises FallbackError (stage "no-workspace" or "no-package") and runs
    nothing, so a program that is not this workspace's is never built and run in its
    place. ``check_workspace=False`` runs cargo unchecked (0.2's behaviour).
    """

    def __init__(
        self,
        package: str | None = "xtask",
        features: Sequence[str] = ("crossval-all",),
        bin: str | None = None,
        manifest_path: str | os.PathLike[str] | None = None,
        cargo: str | os.PathLike[str] | None = None,
        cargo_args: Sequence[str] = (),
        mode: str = "run",
        check_workspace: bool = True,
    ) -> None:
        self.package = _optional_str(package, "package")
        self.features = _strings(features, "features")
        self.bin = _optional_str(bin, "bin")
        self.manifest_path = _optional_str(manifest_path, "manifest_path")
        self.cargo = _optional_str(cargo, "cargo")
        self.cargo_args = _strings(cargo_args, "cargo_args")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
        self.mode = mode
        self.check_workspace = _bool(check_workspace, "check_workspace")

    def __repr__(self) -> str:
        extra = "" if self.mode == "run" else f", mode={self.mode!r}"
        extra += "" if self.check_workspace else ", check_workspace=False"
        return f"CargoRun(package={self.package!r}, features={self.features!r}{extra})"

    def cargo_program(self) -> str:
        """The cargo to run as it is named: ``cargo=``, else $CARGO, else ``cargo``."""
        return self.cargo or os.environ.get("CARGO") or "cargo"

    def command(self, argv: Sequence[str | bytes]) -> list[str | bytes]:
        """The full command line; argv[0] is dropped, argv[1:] follow ``--``."""
        return [self.cargo_program(), "run", *self.selection_args(), *self.cargo_args, "--", *argv[1:]]

    def build_command(self) -> list[str]:
        """``cargo build`` of the same program: what a user runs by hand to rebuild it."""
        return [self.cargo_program(), "build", *self.selection_args(), *self.cargo_args]

    def selection_args(self) -> list[str]:
        """What picks the program, for `cargo run` and `cargo build` alike:
        ``-p PACKAGE --features F,G [--bin B] [--manifest-path M]``."""
        args: list[str] = []
        if self.package:
            args += ["-p", self.package]
        if self.features:
            args += ["--features", ",".join(self.features)]
        if self.bin:
            args += ["--bin", self.bin]
        if self.manifest_path:
            args += ["--manifest-path", self.manifest_path]
        return args

    def resolve_cargo(self) -> str:
        """Full path of cargo, or a FallbackError (stage "cargo-not-found", also a
        FileNotFoundError) saying where it looked."""
        program = self.cargo_program()
        if os.sep in program or (os.altsep and os.altsep in program):
            if os.path.isfile(program) and os.access(program, os.X_OK):
                return program
            where = "cargo=" if self.cargo else "$CARGO"
            why = f"cargo not found at {program} (from {where})"
        else:
            import shutil

            found = shutil.which(program)
            if found is not None:
                return found
            why = f"{program!r} not found on PATH={os.environ.get('PATH', '')!r} and $CARGO is not set"
        raise FallbackError.of(errno.ENOENT, why, program, stage="cargo-not-found", mode=self.mode)

    def check_here(self, program: str, env: Mapping[bytes, bytes], command: str) -> None:
        """Unless check_workspace is off: refuse (FallbackError, stage "no-workspace"
        or "no-package") when cargo, run from here with `env`, finds no workspace
        that has the package (see _cargo_check)."""
        if not self.check_workspace:
            return
        from ._cargo_check import check_workspace, manifest_args

        check_workspace(program, self.package, manifest_args(self.manifest_path, self.cargo_args), env,
                        self.mode, command)

    def run(self, argv: Sequence[str | bytes], env: Mapping[bytes, bytes], handover: Handover | None = None) -> NoReturn:
        """Run the command, wait, and leave this process exactly as the child left.
        mode="build-exec": build, then exec the binary (raises if that exec fails).
        `handover` (from reexec(listen_fds=..., verify=...)): descriptors for the
        program (cargo passes them on: it execs the program in its own process), and
        for build-exec a verify run of the built binary. Raises a FallbackError (with
        its stage) when the hand-over cannot happen."""
        if self.mode == "build-exec":
            from ._cargo_build import MESSAGE_FORMAT, build_and_exec

            program = self.resolve_cargo()
            build_and_exec(program, [*self.build_command(), MESSAGE_FORMAT], self.package, self.bin,
                           [os.fsencode(part) for part in argv], env, handover,
                           check=lambda command: self.check_here(program, env, command))
        from ._child import run_through_shim, spawn_and_wait, uses_shim

        log("Trying cargo run fallback...")
        cmd = self.command(argv)
        shown = format_command(cmd)
        log("Fallback command: %s", shown)
        program = self.resolve_cargo()
        self.check_here(program, env, shown)
        if handover is not None and handover.verify is not None:
            log("Verify: skipped for cargo run (cargo builds and runs the program itself)")
        try:
            if handover is not None and handover.fds is not None:
                spawn_and_wait(program, cmd, env, handover.fds)
            if uses_shim():
                run_through_shim(program, cmd, env)
            spawn_and_wait(program, cmd, env)
        except ReexecError:
            raise  # our output could not be flushed first: a refusal, nothing ran
        except OSError as exc:
            raise _spawn_failed(exc, program, self.mode, shown) from exc


def format_command(cmd: Sequence[str | bytes]) -> str:
    """``cargo run -p xtask --features crossval-all -- ["a", "b c"]``, as the spec logs it."""
    import json

    split = list(cmd).index("--")
    head = " ".join(shown(part) for part in cmd[:split + 1])
    tail = json.dumps([shown(part) for part in cmd[split + 1:]], ensure_ascii=False)
    return f"{head} {tail}"


def _spawn_failed(exc: OSError, program: str, mode: str, command: str) -> FallbackError:
    """The FallbackError (stage "spawn") for a child that could not be started; the
    hand-over's ExecError (Windows) is kept as ``.exec_error``, its Win32 code too."""
    error = FallbackError.of(exc.errno or errno.EIO, exc.strerror or str(exc), exc.filename or program,
                             stage="spawn", mode=mode, command=command,
                             exec_error=exc if isinstance(exc, ExecError) else None)
    winerror = getattr(exc, "winerror", None)
    if winerror is not None:
        error.winerror = winerror
    return error


_MOVED = {"uses_shim", "exit_with", "die_by_signal"}


def __getattr__(name: str) -> object:
    """0.1's process helpers, now in reexec_native._child (deprecated here)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(f"reexec_native.cargo.{name} is private and will be removed in 0.3", DeprecationWarning,
                  stacklevel=2)
    from . import _child

    return getattr(_child, name)
