"""Before the cargo fallback runs anything: does ``cargo run -p PACKAGE`` here mean
what it says? A program that is not a cargo project (a server, a reloader) whose
binary is briefly missing must not have cargo build and run some other package of
whatever workspace its working directory happens to be in.

The question goes to cargo itself, ``cargo metadata --no-deps --format-version 1``
(with the fallback's --manifest-path): the workspace cargo run would use, and its
members, exactly as cargo resolves them (member globs, ``exclude``, nested and
virtual manifests, ``package.name`` that differs from the directory), which reading
Cargo.toml files here would only approximate. It costs one cargo start (20-30 ms,
no network with --no-deps), paid only on the fallback path, just before a
``cargo run`` that costs more. Its answer is read from its output, not its status
(a parent whose SIGCHLD is ignored cannot get the status).
"""

from __future__ import annotations

import errno
import os

from ._log import log
from .errors import FallbackError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Seconds cargo metadata may take (a rustup proxy may first install a toolchain).
METADATA_TIMEOUT = 120.0


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


def _text_env(env: Mapping[bytes, bytes]) -> dict[str, str]:
    """As subprocess takes it everywhere (os.fsdecode: bytes that are not UTF-8 come back
    unchanged when it encodes them again)."""
    return {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()}


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
                              env=_text_env(env))
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


def check_workspace(cargo: str, package: str | None, manifest: Sequence[str], env: Mapping[bytes, bytes],
                    mode: str, command: str) -> str:
    """The workspace root cargo finds from here, if it has `package` (None: any
    workspace). Otherwise a FallbackError: stage "no-workspace" (cargo found none,
    or could not say), "no-package" (the workspace has no such member); logged."""
    answer = ask_cargo(cargo, package, manifest, env)
    if answer.stage is not None or answer.root is None:
        log("Fallback refused, nothing run: %s", answer.why)
        raise FallbackError.of(answer.errno, answer.why, None, stage=answer.stage or "no-workspace", mode=mode,
                               command=command)
    log("Fallback workspace: %s (package %s found)", answer.root, package if package is not None else "<default>")
    return answer.root
