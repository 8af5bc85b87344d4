"""Snapshot mode's plan: which sealed copies to try, where, in what order, and what to
say when none can run (the copies themselves are made and run by _exe).

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
import sys

from ._binding import SNAPSHOT_ENV, requested_methods, snapshot_seam_set
from ._log import log
from .errors import ExecError, SnapshotWarning

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType

NOT_NOW = frozenset({errno.ETXTBSY, errno.ESTALE})


def tmpfile_dirs(path: str) -> list[str]:
    """Where an O_TMPFILE copy of the program at `path` (a real path, not
    /proc/self/exe) may go: next to it (a filesystem it already runs from, so not
    noexec), then the temp directory."""
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


def plan_for(path: str, origin: list[str], failures: list[str]) -> list[tuple[str, str | None]]:
    """The steps to try for the program at `path` (a real path), logged: plan(path),
    only the copy in its own directory when it loads libraries from $ORIGIN (`origin`,
    its RPATH/RUNPATH entries that do). Each step left out adds its "method: why" to
    `failures`."""
    steps = plan(path)
    if origin:
        kept = [step for step in steps if _same_directory(step, path)]
        skipped = [step_name(m, d) for m, d in steps if (m, d) not in kept]
        log("Snapshot: %s loads libraries from %s: only a copy in its own directory keeps "
            "them found; %s skipped", path, ":".join(origin), ", ".join(skipped) or "nothing")
        failures += [f"{name}: skipped, the program loads libraries from $ORIGIN" for name in skipped]
        steps = kept
    log("Snapshot order: %s", ", ".join(step_name(m, d) for m, d in steps) or "none")
    if not steps and not origin:
        failures.append(no_method_reason())
    return steps


def step_name(method: str, tmpdir: str | None) -> str:
    return f"{method} in {tmpdir}" if tmpdir else method


def no_method_reason(environ: Mapping[str, str] | None = None) -> str:
    """Why no snapshot method is tried at all: the seam, or the platform."""
    spec = (os.environ if environ is None else environ).get(SNAPSHOT_ENV)
    if spec is not None:
        return f"no method to try ({SNAPSHOT_ENV}={spec!r} leaves none that this build has)"
    return "no method to try (this platform has neither memfd nor O_TMPFILE)"


def no_copy(path: str, failures: list[str], required: bool) -> ExecError:
    """No sealed copy could run: the ExecError (tier "snapshot", `failures` in its
    message) to refuse with when a copy is `required`; otherwise the file itself is
    next, which is logged and warned about (a SnapshotWarning pointing at the first
    frame outside this package: the caller of reexec() or open_exe())."""
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
                      SnapshotWarning, stacklevel=_outside_package())
    return error


def _outside_package() -> int:
    """warnings.warn's stacklevel, called from no_copy(), that names the first frame
    outside this package (what skip_file_prefixes does on Python 3.12+)."""
    level = 2  # warn's caller (no_copy) is level 1, no_copy's caller level 2
    frame: FrameType | None = sys._getframe(2)  # pyright: ignore[reportPrivateUsage]  # as warnings.py does
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == __package__:
        level, frame = level + 1, frame.f_back
    return level
