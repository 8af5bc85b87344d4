"""The test seams, parsed in one place: environment variables that restrict what the
library tries, so tests and benchmarks can force one tier, copy method or wait.

- ``REEXEC_NATIVE_TIERS=execveat,fexecve,path`` (any subset): the exec tiers tried;
- ``REEXEC_NATIVE_SNAPSHOT=memfd,tmpfile`` (any subset, in that order): the snapshot
  methods tried, and their order;
- ``REEXEC_NATIVE_WAIT=poll``: the retry loop sleeps instead of watching the name.

An unknown name is a ValueError naming the variable and what it knows.
"""

from __future__ import annotations

import os

from ._binding import SNAPSHOT_BITS, TIER_BITS, snapshot_methods, supported_tiers

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TIERS_ENV = "REEXEC_NATIVE_TIERS"
SNAPSHOT_ENV = "REEXEC_NATIVE_SNAPSHOT"
WAIT_ENV = "REEXEC_NATIVE_WAIT"
WAIT_MODES = ("inotify", "poll")


def _names(variable: str, spec: str, known: Iterable[str], what: str, skip_blank: bool = False) -> list[str]:
    known = tuple(known)
    names = [part.strip().lower() for part in spec.split(",")]
    if skip_blank:
        names = [name for name in names if name]
    for name in names:
        if name not in known:
            raise ValueError(f"{variable}={spec!r}: unknown {what} {name!r}; known: {', '.join(known)}")
    return names


def requested_tiers(environ: Mapping[str, str] | None = None) -> int:
    """Mask of the tiers to try: all this build supports, or those $REEXEC_NATIVE_TIERS names."""
    spec = (os.environ if environ is None else environ).get(TIERS_ENV)
    if spec is None:
        return supported_tiers()
    mask = 0
    for name in _names(TIERS_ENV, spec, TIER_BITS, "tier"):
        mask |= TIER_BITS[name]
    return mask


def tiers_spec(environ: Mapping[str, str] | None = None) -> str:
    """$REEXEC_NATIVE_TIERS as set ("" when unset), for messages."""
    return (os.environ if environ is None else environ).get(TIERS_ENV, "")


def snapshot_seam_set(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get(SNAPSHOT_ENV) is not None


def requested_methods(environ: Mapping[str, str] | None = None) -> list[str]:
    """memfd and tmpfile (those this build has), or those named in
    $REEXEC_NATIVE_SNAPSHOT, in its order."""
    available = [name for name, bit in SNAPSHOT_BITS.items() if snapshot_methods() & bit]
    spec = (os.environ if environ is None else environ).get(SNAPSHOT_ENV)
    if spec is None:
        return available
    names = _names(SNAPSHOT_ENV, spec, SNAPSHOT_BITS, "method", skip_blank=True)
    return [name for name in names if name in available]


def wait_mode(environ: Mapping[str, str] | None = None) -> str:
    """"inotify" (the default) or "poll" ($REEXEC_NATIVE_WAIT=poll)."""
    spec = (os.environ if environ is None else environ).get(WAIT_ENV, "inotify").strip().lower() or "inotify"
    _names(WAIT_ENV, spec, WAIT_MODES, "wait mode")
    return spec
