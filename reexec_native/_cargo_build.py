"""CargoRun(mode="build-exec"): ``cargo build``, then exec the artifact ourselves.

``cargo run`` leaves this process waiting as a parent. Here cargo only builds
(``--message-format=json-render-diagnostics``: diagnostics rendered on stderr, which
the user sees; one JSON message per line on stdout, which we parse and do not
print), and the built binary then replaces this process through the fast path:
same PID, no waiting parent, signals go straight to the program, its exit status
is the caller's. A failed build leaves this process with cargo's exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence

from ._fastpath import exec_with_retry
from ._log import flush_stdio, log

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ._handover import Handover
    from .cargo import CargoRun

MESSAGE_FORMAT = "--message-format=json-render-diagnostics"
# The artifact was just written by cargo (link, then rename into place): a short
# retry covers a slow filesystem, nothing more is expected to race us here.
_EXEC_RETRY_BUDGET = 0.25


def build_command(run: CargoRun) -> list[str]:
    """``cargo build -p P --features F [--bin B] [--manifest-path M] [ARGS] --message-format=...``."""
    return [*run.build_command(), MESSAGE_FORMAT]


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


def pick_executable(messages: Sequence[Mapping[str, Any]], package: str | None, bin: str | None) -> str:
    """The executable of the package's bin target among cargo's compiler-artifact
    messages; FileNotFoundError when there is none, or no single one."""
    bins = []
    for msg in messages:
        target = msg.get("target") or {}
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if "bin" not in (target.get("kind") or ()):
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
        raise FileNotFoundError(f"cargo build reported no executable for {wanted} (is it a bin target?)")
    names = ", ".join(sorted(str(b[1]) for b in bins))
    raise FileNotFoundError(f"cargo build reported several executables ({names}); pass bin= to choose one")


def _popen_env(env: Mapping[bytes, bytes]) -> Any:  # bytes keys (POSIX) or str (Windows): Popen types take one, not the union
    """Popen takes a bytes environment on POSIX only; Windows wants str (the bytes
    are UTF-8 there, checked by _validate)."""
    if os.name == "nt":
        return {os.fsdecode(name): os.fsdecode(value) for name, value in env.items()}
    return env


def build_and_exec(run: CargoRun, argv: Sequence[bytes], env: Mapping[bytes, bytes],
                   handover: Handover | None = None) -> NoReturn:
    """Build, then replace this process with the artifact (argv unchanged, argv[0]
    included). Returns only by raising the OSError that stopped the exec."""
    from ._signals import SignalRelay as _SignalRelay
    from .cargo import _shown, die_by_signal, exit_with

    log("Trying cargo build fallback...")
    cmd = build_command(run)
    log("Fallback command: %s", " ".join(_shown(part) for part in cmd))
    program = run.resolve_cargo()
    flush_stdio()
    with _SignalRelay() as relay:
        # stderr is inherited: cargo's progress and rendered diagnostics reach the user.
        # The build gets no passed descriptors (close_fds) nor their LISTEN_* variables.
        build_env = {k: v for k, v in env.items() if not k.startswith(b"LISTEN_")} if handover else env
        child = subprocess.Popen([program, *cmd[1:]], env=_popen_env(build_env), stdout=subprocess.PIPE)
        relay.started(child.pid)
        assert child.stdout is not None
        messages = []
        for line in child.stdout:
            try:
                messages.append(json.loads(line))
            except ValueError:
                continue  # not a message (a build script writing to stdout)
        code = child.wait()
        relay.reaped()
    if code < 0:
        log("cargo build killed by signal %d", -code)
        flush_stdio()
        die_by_signal(-code)
    if code != 0:
        log("cargo build failed with exit code %d; exiting with it", code)
        flush_stdio()
        exit_with(code)
    path = pick_executable(messages, run.package, run.bin)
    log("Built: %s", path)
    error = exec_with_retry(path, list(argv), env, _EXEC_RETRY_BUDGET, handover=handover)
    log("Exec of the built binary failed: %s", error)
    raise error
