"""Snapshot mode: which sealed copies to try, where, and in what order.

memfd first (sealed: nothing can write it), then an O_TMPFILE copy next to the
program or in the temp directory, then the file itself, each refusal logged.
A file being written (ETXTBSY) or changing during the copy (ESTALE) is not a
refusal of the method but of the moment: that error is raised, and the fast
path's retry loop tries again within its budget.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Mapping

from ._exe import SNAPSHOT_METHODS, ExeHandle, seam_names
from ._log import log
from ._native import lib

SNAPSHOT_ENV = "REEXEC_NATIVE_SNAPSHOT"
NOT_NOW = frozenset({errno.ETXTBSY, errno.ESTALE})


def requested_methods(environ: Mapping[str, str] | None = None) -> list[str]:
    """memfd, then tmpfile (those this build has), or those named in
    $REEXEC_NATIVE_SNAPSHOT, a test seam like the tier seam."""
    environ = os.environ if environ is None else environ
    available = [name for name, bit in SNAPSHOT_METHODS.items() if lib.reexec_snapshot_methods() & bit]
    spec = environ.get(SNAPSHOT_ENV)
    if spec is None:
        return available
    names = seam_names(SNAPSHOT_ENV, spec, SNAPSHOT_METHODS, "method", skip_blank=True)
    return [name for name in names if name in available]


def tmpfile_dirs(path: str) -> list[str]:
    """Where an O_TMPFILE copy may go: next to the program (a filesystem it already
    runs from, so not noexec), then the temp directory."""
    dirs = [os.path.dirname(os.path.abspath(path)), tempfile.gettempdir()]
    return list(dict.fromkeys(dirs))


def plan(path: str, environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """(method, tmpdir) pairs to try, in order."""
    steps: list[tuple[str, str | None]] = []
    for method in requested_methods(environ):
        if method == "tmpfile":
            steps += [(method, d) for d in tmpfile_dirs(path)]
        else:
            steps.append((method, None))
    return steps


def snapshots(handle: ExeHandle) -> Iterator[ExeHandle]:
    """Sealed copies of `handle`'s program, one per method that works, in plan order;
    logs each refusal and, at the end, that the file itself is next."""
    for method, tmpdir in plan(handle.path):
        where = f" in {tmpdir}" if tmpdir else ""
        try:
            copy = handle.make_snapshot(method, tmpdir)
        except OSError as exc:
            if exc.errno in NOT_NOW:
                raise
            log("Snapshot %s%s refused: %s", method, where, exc)
            continue
        log("Snapshot: %s copy%s, %d bytes", method, where, copy.st_size)
        yield copy
    log("Snapshot: no sealed copy could run, using the file itself")
