"""The fallback: hand over to ``cargo run -p xtask --features crossval-all -- ARGS``.

The parent waits for the child and then leaves exactly as the child did: its exit
code, or death by the same signal. While it waits, SIGINT is ignored (the child owns
the terminal and gets its own Ctrl-C) and every other signal that would end or stop
it is forwarded to the child (see _signals).
On Windows the child is run through the C core's CreateProcessW shim
(reexec_win_run), which hands back its full 32-bit code to be logged and exited with.
"""

from __future__ import annotations

import errno
import os

from ._exe import TIERS, audit_exec, open_exe, supported_tiers
from ._log import flush_stdio, log
from ._stdio import restore_stdin, rewind_stdin

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import NoReturn

    from ._fds import FdPlan
    from ._handover import Handover
    from ._native import CharPtrArray, CString, Exe, Report


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


def _optional_str(value: object, what: str) -> str | None:
    if value is None:
        return None
    value = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    if not value or "\0" in value:
        raise ValueError(f"{what} must be non-empty and without NUL: {value!r}")
    return value


MODES = ("run", "build-exec")


class CargoRun:
    """``cargo run -p PACKAGE --features FEATURES [--bin B] [--manifest-path M] [ARGS] -- argv[1:]``.

    ``mode="build-exec"``: ``cargo build`` with the same options instead, then exec
    the built binary in this process (same PID, no waiting parent); see _cargo_build.
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

    def __repr__(self) -> str:
        extra = "" if self.mode == "run" else f", mode={self.mode!r}"
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
        """Full path of cargo, or FileNotFoundError saying where it looked."""
        program = self.cargo_program()
        if os.sep in program or (os.altsep and os.altsep in program):
            if os.path.isfile(program) and os.access(program, os.X_OK):
                return program
            where = "cargo=" if self.cargo else "$CARGO"
            raise FileNotFoundError(errno.ENOENT, f"cargo not found at {program} (from {where})", program)
        import shutil

        found = shutil.which(program)
        if found is None:
            raise FileNotFoundError(
                errno.ENOENT,
                f"{program!r} not found on PATH={os.environ.get('PATH', '')!r} and $CARGO is not set",
                program,
            )
        return found

    def run(self, argv: Sequence[str | bytes], env: Mapping[bytes, bytes], handover: Handover | None = None) -> NoReturn:
        """Run the command, wait, and leave this process exactly as the child left.
        mode="build-exec": build, then exec the binary (raises if that exec fails).
        `handover` (from reexec(listen_fds=..., verify=...)): descriptors for the
        program (cargo passes them on: it execs the program in its own process), and
        for build-exec a verify run of the built binary."""
        if self.mode == "build-exec":
            from ._cargo_build import build_and_exec

            build_and_exec(self, [os.fsencode(part) for part in argv], env, handover)
        log("Trying cargo run fallback...")
        cmd = self.command(argv)
        log("Fallback command: %s", format_command(cmd))
        program = self.resolve_cargo()
        if handover is not None and handover.verify is not None:
            log("Verify: skipped for cargo run (cargo builds and runs the program itself)")
        if handover is not None and handover.fds is not None:
            _spawn_and_mirror(program, cmd, env, handover.fds)
        run_child = _run_through_shim if uses_shim(supported_tiers()) else _spawn_and_mirror
        run_child(program, cmd, env)


def uses_shim(supported: int) -> bool:
    """Where the only tier is CreateProcessW (Windows), the fallback child runs through
    the C shim too: Python's own exit cannot carry every 32-bit exit code."""
    return bool(supported & TIERS["createprocess"])


def format_command(cmd: Sequence[str | bytes]) -> str:
    """``cargo run -p xtask --features crossval-all -- ["a", "b c"]``, as the spec logs it."""
    import json

    split = list(cmd).index("--")
    head = " ".join(_shown(part) for part in cmd[:split + 1])
    tail = json.dumps([_shown(part) for part in cmd[split + 1:]], ensure_ascii=False)
    return f"{head} {tail}"


def _shown(part: str | bytes) -> str:
    """Text for a log line: bytes that are not UTF-8 appear as \\xNN."""
    return os.fsencode(part).decode("utf-8", "backslashreplace")


def _run_through_shim(program: str, cmd: Sequence[str | bytes], env: Mapping[bytes, bytes]) -> NoReturn:
    """Run cargo as a child of the C shim (job, console handler, std handles), log its
    exit code, and exit with it: all 32 bits (os._exit's C int is the same bits)."""
    from ._native import ffi, lib

    argv = [os.fsencode(part) for part in cmd]
    audit_exec(program, argv, env)  # the shim's hand-over is os.exec on Windows, as os.execv's
    with open_exe(program) as handle:
        run = getattr(lib, "reexec_win_run", None)
        if run is None:  # not a Windows build: the plain hand-over (it refuses off Windows)
            handle._exec(argv, env, TIERS["createprocess"])
            raise AssertionError("unreachable: _exec returns only with run=")
        exit_code = ffi.new("unsigned long *")

        win_run = run

        def run_and_wait(raw: Exe, path: CString, c_argv: CharPtrArray, c_envp: CharPtrArray,
                         _tiers: int, report: Report) -> int:
            return int(win_run(raw, path, c_argv, c_envp, report, exit_code))

        handle._exec(argv, env, TIERS["createprocess"], run=run_and_wait)
    code = int(exit_code[0])
    log("Fallback child exited with code: %d", code)
    flush_stdio()
    exit_with(code)


def exit_with(code: int) -> NoReturn:
    """os._exit(code); on Windows any 32-bit exit code (0xC0000005...): os._exit takes
    a C int, whose bits Windows reads as the DWORD exit code."""
    if os.name == "nt" and code >= 1 << 31:
        code -= 1 << 32
    os._exit(code)


# Python ignores these at start-up; a program started by exec gets them back at
# their defaults (the C core does it on the fast path), so the child does too.
_PYTHON_IGNORED = ("SIGPIPE", "SIGXFSZ")


def _spawn_and_mirror(program: str, cmd: Sequence[str | bytes], env: Mapping[bytes, bytes],
                      fds: FdPlan | None = None) -> NoReturn:
    """posix_spawn the child as exec would start it (empty signal mask, Python's ignored
    signals back to default, the caller's inheritable descriptors), wait, and leave
    exactly as it left. With `fds` (an FdPlan), fork + exec instead: the descriptors
    are placed and LISTEN_PID is the child's own PID, both set in the child."""
    import signal

    from ._signals import SignalRelay

    flush_stdio()
    ignored = (getattr(signal, name) for name in _PYTHON_IGNORED if hasattr(signal, name))
    reset = [s for s in ignored if signal.getsignal(s) == signal.SIG_IGN]
    with SignalRelay() as relay:
        read_to = rewind_stdin()  # the child reads on where Python's reading stopped
        try:
            if fds is not None:
                from ._fds import spawn

                pid = spawn(program, [os.fsencode(program), *map(os.fsencode, cmd[1:])], env, fds)
            else:
                pid = os.posix_spawn(program, [program, *cmd[1:]], env, setsigmask=(), setsigdef=reset)
        except BaseException:
            restore_stdin(read_to)
            raise
        relay.started(pid)
        _, status = os.waitpid(pid, 0)
        relay.reaped()
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        log("Fallback child killed by signal %d (%s)", -code, signal.Signals(-code).name)
        flush_stdio()
        die_by_signal(-code)
    log("Fallback child exited with code: %d", code)
    flush_stdio()
    os._exit(code)


def die_by_signal(signum: int) -> NoReturn:
    """Leave by the same signal the child died of, so our parent sees the same death;
    128+N only where the signal does not end the process."""
    import faulthandler
    import signal

    if faulthandler.is_enabled():
        faulthandler.disable()
    try:
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL/SIGSTOP: their disposition cannot be set (nor needs to be)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)
