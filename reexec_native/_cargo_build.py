"""Cargo's JSON answers: ``cargo metadata`` (is there a workspace here, has it the
package?) and CargoRun(mode="build-exec"): ``cargo build``, then exec the artifact.

``ask_cargo`` runs ``cargo metadata --no-deps --format-version 1`` for the fallback's
workspace check when the Cargo.toml files leave the question open (cargo's
``workspace_from_manifests``), and for ``reexec-native doctor``.

Build-exec: ``cargo run`` leaves this process waiting as a parent; here cargo only builds
(``--message-format=json-render-diagnostics``: diagnostics rendered on stderr, which
the user sees; one JSON message per line on stdout, which we parse and do not
print), and the built binary then replaces this process through the fast path:
same PID, no waiting parent, signals go straight to the program, its exit status
is the caller's. A failed build leaves this process with cargo's exit status.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping, Sequence

from ._child import die_by_signal, exit_with, popen_env, run_reading_stdout
from ._log import flush_stdio, log, shown
from ._retry import exec_with_retry
from ._validate import is_mapping, is_sequence
from .errors import ExecError, FallbackError, ReexecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from typing import NoReturn

    from ._handover import Handover

MESSAGE_FORMAT = "--message-format=json-render-diagnostics"
# The artifact was just written by cargo (link, then rename into place): a short
# retry covers a slow filesystem, nothing more is expected to race us here.
_EXEC_RETRY_BUDGET = 0.25


#: Seconds cargo metadata may take (a rustup proxy may first install a toolchain).
METADATA_TIMEOUT = 120.0


class Answer:
    """What cargo said: the workspace ``root`` (None if none was found), and when the
    fallback must not run, ``stage`` ("no-workspace", "no-package"), ``errno`` and ``why``."""

    __slots__ = ("root", "stage", "errno", "why")

    def __init__(self, root: str | None, stage: str | None = None, err: int = 0, why: str = "") -> None:
        self.root, self.stage, self.errno, self.why = root, stage, err, why


def ask_cargo(cargo: str, package: str | None, manifest: Sequence[str], env: Mapping[bytes, bytes]) -> Answer:
    """Run ``cargo metadata --no-deps`` here (with `manifest`, `env`): is there a
    workspace, and has it `package` (None: any workspace will do)?"""
    import json
    import subprocess

    where = " ".join(manifest) if manifest else f"from {os.getcwd()}"
    argv = [cargo, "metadata", "--no-deps", "--format-version", "1", *manifest]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=METADATA_TIMEOUT,
                              env=popen_env(env))
    except subprocess.TimeoutExpired:
        return Answer(None, "no-workspace", errno.ETIMEDOUT,
                      f"cargo metadata ({where}) did not answer within {METADATA_TIMEOUT:g} s")
    except OSError as exc:
        return Answer(None, "no-workspace", exc.errno or errno.EIO,
                      f"cargo metadata could not be started: {exc.strerror or exc}")
    try:
        metadata = json.loads(done.stdout)
        members = [str(p["name"]) for p in metadata["packages"]]
        root = str(metadata["workspace_root"])
    except (ValueError, TypeError, KeyError) as exc:
        said = [line for line in done.stderr.decode(errors="replace").strip().splitlines() if line.strip()]
        reason = " / ".join(said[:8]) if said else f"it wrote no workspace description ({type(exc).__name__})"
        return Answer(None, "no-workspace", errno.ENOENT, f"no cargo workspace {where}: {reason}")
    if package is not None and package not in members:
        return Answer(root, "no-package", errno.ENOENT, f"the cargo workspace at {root} has no package "
                      f"{package!r} (its packages: {', '.join(members) or 'none'})")
    return Answer(root)


def package_name(package_id: str) -> str | None:
    """The package name in a cargo package id, old (``name 0.1.0 (path+file://...)``)
    or new (``path+file:///ws/name#0.1.0``, ``path+file:///ws/dir#name@0.1.0``,
    ``registry+https://...#name@0.1.0``) format."""
    if " " in package_id:
        return package_id.split(" ", 1)[0]
    url, sep, fragment = package_id.rpartition("#")
    if not sep:
        return None
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return url.rstrip("/").rsplit("/", 1)[-1] or None


def pick_executable(messages: Sequence[object], package: str | None, bin: str | None) -> str:
    """The executable of the package's bin target among cargo's compiler-artifact
    messages (JSON objects; anything else is skipped); FallbackError (stage
    "no-artifact", ENOENT) when there is none, or no single one."""
    bins: list[tuple[str | None, object, object]] = []
    for msg in messages:
        if not is_mapping(msg):
            continue
        target = msg.get("target")
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not is_mapping(target):
            continue
        kind = target.get("kind")
        if not is_sequence(kind) or "bin" not in kind:
            continue  # tests, examples, benches
        if bin is not None and target.get("name") != bin:
            continue
        bins.append((package_name(str(msg.get("package_id", ""))), target.get("name"), msg["executable"]))
    if package is not None:
        ours = [b for b in bins if b[0] == package]
        bins = ours or bins  # an id format we cannot read: trust `cargo build -p`
    if len(bins) > 1:
        named = [b for b in bins if b[1] == (bin or package)]
        bins = named if len(named) == 1 else bins
    if len(bins) == 1:
        return str(bins[0][2])
    wanted = f"bin {bin!r}" if bin else f"a binary of package {package!r}" if package else "a binary"
    if not bins:
        why = f"cargo build reported no executable for {wanted} (is it a bin target?)"
    else:
        names = ", ".join(sorted(str(b[1]) for b in bins))
        why = f"cargo build reported several executables ({names}); pass bin= to choose one"
    raise FallbackError.of(errno.ENOENT, why, None, stage="no-artifact", mode="build-exec")


def build_and_exec(program: str, cmd: Sequence[str], package: str | None, bin: str | None,
                   argv: Sequence[bytes], env: Mapping[bytes, bytes], handover: Handover | None = None,
                   check: Callable[[str], None] | None = None) -> NoReturn:
    """Run `cmd` (``cargo build ... --message-format=...``, with `program` the cargo
    found), then replace this process with the artifact of `package`/`bin` (argv
    unchanged, argv[0] included). A failed build leaves with cargo's status; returns
    only by raising the FallbackError that stopped the exec. `check` (given the
    command line, before anything runs) may refuse by raising."""
    log("Trying cargo build fallback...")
    command = " ".join(shown(part) for part in cmd)
    log("Fallback command: %s", command)
    if check is not None:
        check(command)
    import json

    messages: list[object] = []

    def keep_message(line: bytes) -> None:
        try:
            messages.append(json.loads(line))
        except ValueError:
            pass  # not a message (a build script writing to stdout)

    # The build gets no passed descriptors (close_fds) nor their LISTEN_* variables.
    build_env = {k: v for k, v in env.items() if not k.startswith(b"LISTEN_")} if handover else env
    try:
        code = run_reading_stdout([program, *cmd[1:]], build_env, keep_message)
    except ReexecError:
        raise  # our output could not be flushed first: a refusal, nothing ran
    except OSError as exc:
        raise FallbackError.of(exc.errno or errno.EIO, exc.strerror or str(exc), program, stage="spawn",
                               mode="build-exec", command=command) from exc
    if code is None:  # cargo ran; whether the build succeeded is not known: run nothing
        raise FallbackError.of(errno.ECHILD, "cargo build ran, but its exit status could not be read "
                               "(something else in this process waited for it)", program, stage="wait",
                               mode="build-exec", command=command)
    if code < 0:
        log("cargo build killed by signal %d", -code)
        flush_stdio(at_exit=True)
        die_by_signal(-code)
    if code != 0:
        log("cargo build failed with exit code %d; exiting with it", code)
        flush_stdio(at_exit=True)
        exit_with(code)
    try:
        path = pick_executable(messages, package, bin)
    except FallbackError as exc:
        exc.command = command
        raise
    log("Built: %s", path)
    error = exec_with_retry(path, list(argv), env, _EXEC_RETRY_BUDGET, handover=handover)
    log("Exec of the built binary failed: %s", error)
    raise FallbackError.of(error.errno or errno.EIO, error.strerror or str(error), error.filename or path,
                           stage="artifact-exec", mode="build-exec", command=command,
                           exec_error=error if isinstance(error, ExecError) else None) from error
