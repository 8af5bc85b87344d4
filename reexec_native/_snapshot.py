"""Snapshot mode: which sealed copies to try, where, and in what order.

Default order: an O_TMPFILE copy in the program's own directory, then a memfd, then
an O_TMPFILE copy in the temp directory, then the file itself, each refusal logged.
The same-directory copy comes first because it is the only one under which the
program still finds itself: its /proc/self/exe names that directory (programs that
locate their files from it, e.g. Nuitka standalone builds), and so does the loader's
$ORIGIN (RPATH/RUNPATH ``$ORIGIN/lib``). Under a memfd both become ``/``. An ELF that
loads libraries from $ORIGIN gets no copy outside its directory at all: it would die
after the point of no return (loader error, exit 127). When no copy can run,
``snapshot=True`` runs the file itself with a SnapshotWarning (and a log line) naming
why each method failed; ``snapshot="required"`` refuses instead, before the point of
no return (ExecError, tier "snapshot"; reexec() raises it in a ReexecError and runs no
fallback).
A file being written (ETXTBSY) or changing during the copy (ESTALE) is not a
refusal of the method but of the moment: that error is raised, and the fast
path's retry loop tries again within its budget.
"""

from __future__ import annotations

import errno
import os

from ._exe import ExeHandle, current_exe
from ._log import log
from ._seams import SNAPSHOT_ENV, requested_methods, snapshot_seam_set
from .errors import ExecError, SnapshotWarning

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

NOT_NOW = frozenset({errno.ETXTBSY, errno.ESTALE})


def tmpfile_dirs(path: str) -> list[str]:
    """Where an O_TMPFILE copy may go: next to the program (a filesystem it already
    runs from, so not noexec), then the temp directory."""
    if path == "/proc/self/exe":  # open_exe(None): the running image's directory
        path = current_exe()
    import tempfile  # only in snapshot mode (import cost of every reexec())

    dirs = [os.path.dirname(os.path.abspath(path)), tempfile.gettempdir()]
    return list(dict.fromkeys(dirs))


def plan(path: str, environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """(method, tmpdir) pairs to try, in order: by default tmpfile in the program's
    directory, memfd, tmpfile in the temp directory; with the seam, its order."""
    methods = requested_methods(environ)
    dirs = tmpfile_dirs(path)
    if not snapshot_seam_set(environ) and "tmpfile" in methods:
        steps: list[tuple[str, str | None]] = [("tmpfile", dirs[0])]
        steps += [("memfd", None)] if "memfd" in methods else []
        return steps + [("tmpfile", d) for d in dirs[1:]]
    steps = []
    for method in methods:
        if method == "tmpfile":
            steps += [(method, d) for d in dirs]
        else:
            steps.append((method, None))
    return steps


def _same_directory(step: tuple[str, str | None], path: str) -> bool:
    return step[0] == "tmpfile" and step[1] == tmpfile_dirs(path)[0]


def _origin_paths(handle: ExeHandle) -> list[str]:
    """The program's RPATH/RUNPATH entries that use $ORIGIN (none if unreadable)."""
    from ._elf import inspect_fd

    return inspect_fd(handle.fd, handle.path, handle.st_dev, handle.st_ino).origin_paths


def _step_name(method: str, tmpdir: str | None) -> str:
    return f"{method} in {tmpdir}" if tmpdir else method


def snapshots(handle: ExeHandle, failures: list[str] | None = None) -> Iterator[ExeHandle]:
    """Sealed copies of `handle`'s program, one per method that works, in plan order;
    logs each refusal. `failures` (when given) gets one "method: why" per step that
    gave no copy; the caller adds the copies that could not run, and decides what
    happens when none did (see no_copy())."""
    failures = [] if failures is None else failures
    steps = plan(handle.path)
    origin = _origin_paths(handle)
    if origin:
        kept = [step for step in steps if _same_directory(step, handle.path)]
        skipped = [_step_name(m, d) for m, d in steps if (m, d) not in kept]
        log("Snapshot: %s loads libraries from %s: only a copy in its own directory keeps "
            "them found; %s skipped", handle.path, ":".join(origin), ", ".join(skipped) or "nothing")
        failures += [f"{name}: skipped, the program loads libraries from $ORIGIN" for name in skipped]
        steps = kept
    log("Snapshot order: %s", ", ".join(_step_name(m, d) for m, d in steps) or "none")
    if not steps and not origin:
        failures.append(no_method_reason())
    for method, tmpdir in steps:
        where = f" in {tmpdir}" if tmpdir else ""
        try:
            copy = handle.make_snapshot(method, tmpdir)
        except OSError as exc:
            if exc.errno in NOT_NOW:
                raise
            log("Snapshot %s%s refused: %s", method, where, exc)
            failures.append(f"{_step_name(method, tmpdir)}: {exc}")
            continue
        log("Snapshot: %s copy%s, %d bytes", method, where, copy.st_size)
        yield copy


def no_method_reason(environ: Mapping[str, str] | None = None) -> str:
    """Why no snapshot method is tried at all: the seam, or the platform."""
    spec = (os.environ if environ is None else environ).get(SNAPSHOT_ENV)
    if spec is not None:
        return f"no method to try ({SNAPSHOT_ENV}={spec!r} leaves none that this build has)"
    return "no method to try (this platform has neither memfd nor O_TMPFILE)"


def no_copy(path: str, failures: list[str], required: bool, stacklevel: int = 2) -> ExecError:
    """No sealed copy could run: the ExecError (tier "snapshot", `failures` in its
    message) to refuse with when a copy is `required`; otherwise the file itself is
    next, which is logged and warned about (SnapshotWarning, at the caller's frame
    `stacklevel` frames above no_copy's caller)."""
    why = "; ".join(failures) or "no reason recorded"
    err = errno.ENOSYS
    error = ExecError.of(err, f"no sealed copy of the program could be made or run ({why})", path, tier="snapshot")
    if required:
        log("Snapshot required, none could run (%s): refusing, nothing ran", why)
    else:
        import warnings

        log("Snapshot: no sealed copy could run (%s), using the file itself", why)
        warnings.warn(f"snapshot=True: no sealed copy of {path} could be made or run ({why}); running the "
                      "file itself, which in-place rewrites can reach (snapshot='required' refuses instead)",
                      SnapshotWarning, stacklevel=stacklevel + 1)
    return error
