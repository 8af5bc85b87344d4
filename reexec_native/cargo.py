"""The fallback: hand over to ``cargo run -p xtask --features crossval-all -- ARGS``.

The parent waits for the child and then leaves exactly as the child did: its exit
code, or death by the same signal. While it waits, SIGINT is ignored (the child owns
the terminal and gets its own Ctrl-C) and every other signal that would end or stop
it is forwarded to the child (see _child).
On Windows the child is run through the C core's CreateProcessW shim
(reexec_win_run), which hands back its full 32-bit code to be logged and exited with.
CargoRun holds the configuration and the command lines; starting and waiting for
the child is _child's, building and executing the artifact _cargo_build's.

Before it runs anything, it asks whether ``cargo run -p PACKAGE`` here means what it
says: a program that is not a cargo project (a server, a reloader) whose binary is
briefly missing must not have cargo build and run some other package of whatever
workspace its working directory happens to be in. The workspace's Cargo.toml files
answer first (``workspace_from_manifests``), but only a yes they settle the way cargo
does: the nearest manifest, the first ``[workspace]`` above it that does not exclude
it, member paths and globs, ``exclude``, every member manifest read and its
``package.name`` unique. The one no they settle: no Cargo.toml in the working
directory or above it, and no --manifest-path (``no_manifest_here``: cargo looks
nowhere else). Anything else (Python 3.10 has no tomllib, a ``package.workspace`` key,
a member that is only a path dependency, a file that does not parse, a package not
found) is asked of cargo itself, ``cargo metadata --no-deps --format-version 1``
(with the fallback's --manifest-path), whose answer stands: its refusals are cargo's
own words. Reading the files costs about 10 ms here, most of it
importing tomllib, where a cargo start costs 30 (a rustup proxy, then cargo), on a path
whose next step is ``cargo run``.
Cargo's answer is read from its output, not its status (a parent whose SIGCHLD is
ignored cannot get the status).

``recovery_steps()`` says what to do when the fallback failed, by its stage and mode
(reexec() puts them in its ReexecError).
"""

from __future__ import annotations

import errno
import os
import sys

from ._log import log, shown
from ._retry import exec_recovery_steps
from ._validate import flag, is_mapping, is_sequence, optional_str, strings
from .errors import ExecError, FallbackError, ReexecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import NoReturn

    from ._cargo_build import Answer
    from ._handover import Handover

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
        self.package = optional_str(package, "package")
        self.features = strings(features, "features")
        self.bin = optional_str(bin, "bin")
        self.manifest_path = optional_str(manifest_path, "manifest_path")
        self.cargo = optional_str(cargo, "cargo")
        self.cargo_args = strings(cargo_args, "cargo_args")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
        self.mode = mode
        self.check_workspace = flag(check_workspace, "check_workspace")

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
            found = _which(program)
            if found is not None:
                return found
            why = f"{program!r} not found on PATH={os.environ.get('PATH', '')!r} and $CARGO is not set"
        raise FallbackError.of(errno.ENOENT, why, program, stage="cargo-not-found", mode=self.mode)

    def check_here(self, program: str, env: Mapping[bytes, bytes], command: str) -> None:
        """Unless check_workspace is off: refuse (FallbackError, stage "no-workspace"
        or "no-package") when cargo, run from here with `env`, finds no workspace
        that has the package."""
        if not self.check_workspace:
            return
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


def _which(program: str) -> str | None:
    """shutil.which(program); on POSIX without importing shutil (and its compression
    modules): the first executable non-directory of that name on PATH (os.defpath without one)."""
    if os.name == "nt":
        import shutil  # PATHEXT and the working directory first: shutil's rules

        return shutil.which(program)
    for directory in dict.fromkeys(os.get_exec_path()):
        path = os.path.join(directory, program)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def format_command(cmd: Sequence[str | bytes]) -> str:
    """``cargo run -p xtask --features crossval-all -- ["a", "b c"]``, as the spec logs it
    (the arguments as ``json.dumps(..., ensure_ascii=False)`` writes them)."""
    split = list(cmd).index("--")
    head = " ".join(shown(part) for part in cmd[:split + 1])
    tail = ", ".join(_json_string(shown(part)) for part in cmd[split + 1:])
    return f"{head} [{tail}]"


# json's escapes (json.encoder.ESCAPE_DCT), without importing json (and re) for one line.
_JSON_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)} | {
    ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
    ord("\b"): "\\b", ord("\f"): "\\f"}


def _json_string(text: str) -> str:
    return '"' + text.translate(_JSON_ESCAPES) + '"'


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


def manifest_args(manifest_path: str | None, cargo_args: Sequence[str]) -> list[str]:
    """``--manifest-path M`` as cargo run will get it: the fallback's own, or one
    given among its extra cargo arguments."""
    if manifest_path:
        return ["--manifest-path", manifest_path]
    for index, arg in enumerate(cargo_args):
        if arg == "--manifest-path" and index + 1 < len(cargo_args):
            return ["--manifest-path", cargo_args[index + 1]]
        if arg.startswith("--manifest-path="):
            return [arg]
    return []


def _manifests_upward(directory: str) -> Iterator[str]:
    """The Cargo.toml files in `directory` and each directory above it, nearest first."""
    while True:
        candidate = os.path.join(directory, "Cargo.toml")
        if os.path.isfile(candidate):
            yield candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _manifest_start(manifest: Sequence[str]) -> str | None:
    """The manifest cargo starts from: --manifest-path's, else the nearest Cargo.toml
    from the working directory up."""
    if manifest:
        given = manifest[1] if len(manifest) > 1 else manifest[0].partition("=")[2]
        return os.path.abspath(given)
    return next(_manifests_upward(os.getcwd()), None)


def _read_toml(path: str) -> Mapping[object, object] | None:
    """The parsed file, or None when it cannot be read or parsed (cargo then says why)."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            with open(path, "rb") as file:
                document = tomllib.load(file)
        except (OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
            return None
        return document if is_mapping(document) else None
    return None


def _table(document: Mapping[object, object] | None, key: str) -> Mapping[object, object] | None:
    value = None if document is None else document.get(key)
    return value if is_mapping(value) else None


def _paths(workspace: Mapping[object, object], key: str) -> list[str] | None:
    """``members`` or ``exclude`` as a list of strings; None when it is anything else."""
    value = workspace.get(key, [])
    if isinstance(value, str) or not is_sequence(value):  # a TOML array is a list
        return None
    paths = [item for item in value if isinstance(item, str)]
    return paths if len(paths) == len(value) else None


def _members(root_dir: str, workspace: Mapping[object, object], root_is_package: bool) -> list[str] | None:
    """The member directories, each with a Cargo.toml, none excluded; None when a
    member path or glob names a directory without one (cargo says what is wrong)."""
    import glob

    members, exclude = _paths(workspace, "members"), _paths(workspace, "exclude")
    if members is None or exclude is None:
        return None
    excluded = [os.path.normpath(os.path.join(root_dir, path)) for path in exclude]
    found = [root_dir] if root_is_package else []
    for pattern in members:
        matches = glob.glob(os.path.join(glob.escape(root_dir), pattern)) if glob.has_magic(pattern) \
            else [os.path.join(root_dir, pattern)]
        for match in map(os.path.normpath, matches):
            if any(match == out or match.startswith(out + os.sep) for out in excluded):
                continue
            if not os.path.isfile(os.path.join(match, "Cargo.toml")):
                return None
            if match not in found:
                found.append(match)
    return found


def workspace_from_manifests(package: str | None, manifest: Sequence[str]) -> str | None:
    """The workspace root when its Cargo.toml files settle that `package` (None: any
    package) is one of its members, as cargo resolves them; None when they do not
    (ask cargo). Never a no: what the files leave open is cargo's to answer."""
    if sys.version_info < (3, 11):
        return None  # no tomllib
    start = _manifest_start(manifest)
    if start is None or (first := _read_toml(start)) is None:
        return None
    start_package = _table(first, "package")
    if start_package is not None and "workspace" in start_package:
        return None  # package.workspace: an explicit root, cargo's to follow
    root_path, root = start, first if "workspace" in first else None
    if root is None:  # the first [workspace] above the package, if any
        for candidate in _manifests_upward(os.path.dirname(os.path.dirname(start))):
            document = _read_toml(candidate)
            if document is None:
                return None
            if "workspace" in document:
                root_path, root = candidate, document
                break
    workspace = _table(root, "workspace")
    if root is not None and workspace is None:
        return None  # `workspace` that is not a table: cargo says what is wrong
    root_dir = os.path.dirname(root_path)
    if workspace is None:  # no workspace above: the package is one of its own
        members: list[str] | None = [root_dir] if start_package is not None else None
    else:
        members = _members(root_dir, workspace, _table(root, "package") is not None)
        if members is None or (root_path != start and os.path.dirname(start) not in members):
            return None  # excluded, or not a member: cargo looks further up, or refuses
    if members is None:
        return None  # neither a package nor a workspace: cargo says what is wrong
    names = []
    for member in members:
        document = first if member == os.path.dirname(start) else _read_toml(os.path.join(member, "Cargo.toml"))
        name = (_table(document, "package") or {}).get("name")
        if not isinstance(name, str) or (member != root_dir and "workspace" in (document or {})):
            return None  # no name, or a nested workspace root
        names.append(name)
    if not names or len(set(names)) != len(names) or (package is not None and package not in names):
        return None
    return root_dir


def no_manifest_here(manifest: Sequence[str]) -> str | None:
    """Why cargo would find no workspace, when that is settled without it: no
    --manifest-path, and nothing named Cargo.toml in the working directory or any
    directory above it (cargo looks there and nowhere else). None when there is one,
    or when a directory cannot be looked at (cargo's to answer)."""
    if manifest:
        return None
    try:
        start = directory = os.getcwd()
    except OSError:
        return None
    while True:
        try:
            os.lstat(os.path.join(directory, "Cargo.toml"))
            return None
        except FileNotFoundError:
            pass
        except OSError:
            return None
        parent = os.path.dirname(directory)
        if parent == directory:
            return f"no cargo workspace from {start}: no Cargo.toml there or in any directory above it"
        directory = parent


def ask_workspace(cargo: str, package: str | None, manifest: Sequence[str], env: Mapping[bytes, bytes]) -> Answer:
    """The fallback's question, as the fallback and the doctor ask it: the Cargo.toml
    files' yes when they settle it, their no when there is none to find, else cargo
    metadata's answer."""
    from ._cargo_build import Answer, ask_cargo

    # The no first: it stops at the nearest Cargo.toml, and where there is none it is
    # the only walk up the directories (the files' yes would find nothing either).
    missing = no_manifest_here(manifest)
    if missing is not None:
        return Answer(None, "no-workspace", errno.ENOENT, missing)
    root = workspace_from_manifests(package, manifest)
    return Answer(root) if root is not None else ask_cargo(cargo, package, manifest, env)


def check_workspace(cargo: str, package: str | None, manifest: Sequence[str], env: Mapping[bytes, bytes],
                    mode: str, command: str) -> str:
    """The workspace root cargo finds from here, if it has `package` (None: any
    workspace): settled by the Cargo.toml files, else asked of cargo. Otherwise a
    FallbackError: stage "no-workspace" (cargo found none, or could not say),
    "no-package" (the workspace has no such member); logged."""
    answer = ask_workspace(cargo, package, manifest, env)
    if answer.stage is not None or answer.root is None:
        log("Fallback refused, nothing run: %s", answer.why)
        raise FallbackError.of(answer.errno, answer.why, None, stage=answer.stage or "no-workspace", mode=mode,
                               command=command)
    log("Fallback workspace: %s (package %s found)", answer.root, package if package is not None else "<default>")
    return answer.root


def recovery_steps(fallback_error: BaseException | None) -> list[str]:
    """What to do about the fallback's failure: by its stage and mode, never its class."""
    if fallback_error is None:
        return []
    if not isinstance(fallback_error, FallbackError):
        return [f"Check that the fallback command can start: {fallback_error}."]
    if fallback_error.stage == "cargo-not-found":
        return ["Install Rust and cargo (https://rustup.rs) so that `cargo` is on PATH "
                f"(PATH={os.environ.get('PATH', '')!r}).",
                "Or set CARGO to the full path of the cargo binary (or pass CargoRun(cargo=...))."]
    if fallback_error.stage in ("no-workspace", "no-package"):
        return ["The cargo fallback ran nothing: it builds and runs a cargo package, which only "
                "means this program from inside its workspace. Run from the workspace (or pass "
                "CargoRun(manifest_path=...), and package= the program's package).",
                "Or, for a program that is not built by cargo (a server, a reloader), pass "
                "fallback=None; CargoRun(check_workspace=False) runs cargo unchecked."]
    if fallback_error.stage == "spawn":
        return [f"{fallback_error.filename} could not be started ({fallback_error.strerror}): check that "
                "it is an executable cargo, or set CARGO to one."]
    if fallback_error.stage == "no-artifact":
        run = f"`{fallback_error.command}`" if fallback_error.command else "cargo build"
        return [f"{run} succeeded but {fallback_error.strerror}: check that the package has a bin "
                "target, or pass CargoRun(bin=...) to choose one.",
                "Or use CargoRun(mode=\"run\"), which lets cargo pick and run the program."]
    if fallback_error.stage == "wait":
        return ["Another thread of this process waits for any child (os.wait(), os.waitpid(-1, ...)): "
                "keep it from doing so around reexec(), then run it again."]
    # artifact-exec: the fresh build exists but cannot be executed.
    steps = exec_recovery_steps(fallback_error.exec_error, None)
    return steps + ["Or use CargoRun(mode=\"run\"), which runs the program as cargo's child."]


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
