"""The fast path: open the target, exec that descriptor, retry while a build tool swaps it.

Returns (never normally) the OSError of the last attempt; on success the process
is gone. Transient errors are retried with backoff within the budget: ENOENT
(cargo unlinks the old file before it links the new one), ETXTBSY (a copy still
being written) and ESTALE (the path tier found another file at the path: reopen).
"""

from __future__ import annotations

import errno
import os
import time

from ._exe import ORIGINAL_EXE_ENV, ExeHandle, audit_exec, open_plain
from ._log import log
from ._seams import requested_tiers, wait_mode
from .errors import ReexecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn

    from ._handover import Handover
    from ._wait import NameWaiter

TRANSIENT = frozenset({errno.ENOENT, errno.ETXTBSY, errno.ESTALE})
_FIRST_DELAY = 0.005
_MAX_DELAY = 0.05
_NEEDS_PATH_TIER = ("needs-interpreter", "not-elf")
# With a fallback to go to, a missing name whose directory has stood still this long
# is not being replaced (cargo links the new file microseconds after it removes the
# old one), so the rest of the budget would be dead time before the fallback.
QUIET_GIVE_UP = 0.01


def _is_transient(exc: OSError) -> bool:
    if exc.errno not in TRANSIENT:
        return False
    # ENOENT because the target needs an interpreter that only the path tier can
    # give it, and that tier may not run: waiting will not change that.
    attempts = getattr(exc, "attempts", None)
    return not (attempts and attempts[-1][2] in _NEEDS_PATH_TIER)


def exec_with_retry(
    path: str, argv: list[bytes], env: Mapping[bytes, bytes], budget: float, snapshot: bool | str = False,
    handover: Handover | None = None, give_up_when_quiet: bool = False,
) -> OSError:
    """Try to replace the process with `path` (or, with `snapshot`, a sealed copy of
    it; "required": a copy or a ReexecError); return the final error if it cannot.
    Between attempts it waits for the name to change in its directory (inotify), the
    backoff delay at most (see _wait).
    `handover`: descriptors to place and a verify run (VerifyError propagates).
    `give_up_when_quiet` (there is a fallback): stop retrying a missing name once
    inotify shows its directory standing still for QUIET_GIVE_UP."""
    waiters: list[NameWaiter] = []  # made at the first retry (most execs need none)
    try:
        return _exec_with_retry(path, argv, env, budget, snapshot, handover, waiters, give_up_when_quiet)
    finally:
        for waiter in waiters:
            waiter.close()


def _exec_with_retry(path: str, argv: list[bytes], env: Mapping[bytes, bytes], budget: float, snapshot: bool | str,
                     handover: Handover | None, waiters: list[NameWaiter], give_up_when_quiet: bool) -> OSError:
    mode = wait_mode()  # a bad $REEXEC_NATIVE_WAIT is refused before the first attempt
    tiers = requested_tiers()
    # Once per call, outside the retry loop: a hook's refusal (even an OSError) is
    # not an exec failure to retry or hand to the fallback.
    audit_exec(path, argv, _without(env, ORIGINAL_EXE_ENV))
    log("Fast path: %s", path)  # before the budget's clock starts: logging may be the application's
    deadline = time.monotonic() + budget
    delay = _FIRST_DELAY
    retries = 0
    while True:
        try:
            handle = open_plain(path)
        except OSError as exc:  # an ExecError, tier "open"
            error = exc
            if retries == 0:
                log("Binary exists: NO")
        else:
            with handle:
                if retries == 0:
                    log("Binary exists: YES")
                    log("Attempting exec()...")
                try:
                    if snapshot:
                        _exec_snapshots(handle, argv, env, tiers, handover, required=snapshot == "required")
                    _exec_handle(handle, argv, _without(env, ORIGINAL_EXE_ENV), tiers, handover)
                except ReexecError:
                    raise  # VerifyError: a refusal (this process carries on), not an exec failure
                except OSError as exc:
                    error = exc
        if not _is_transient(error) or time.monotonic() + delay > deadline:
            return error
        if give_up_when_quiet and waiters and _missing_in_still_directory(error, waiters[0]):
            log("Nothing changed in %s for %.0f ms (inotify): %s is missing, not being replaced; "
                "no more retries", waiters[0].directory, QUIET_GIVE_UP * 1000, path)
            return error
        if retries == 0:
            from ._wait import NameWaiter

            waiters.append(NameWaiter(path, mode))
            waiters[0].arm()  # before the next attempt: no event after this is missed
        waiter = waiters[0]
        retries += 1
        log(
            "Retry %d in %.0f ms: %s at tier %s (%s), or sooner when the name changes (%s)",
            retries, delay * 1000, errno.errorcode.get(error.errno or 0, error.errno),
            getattr(error, "tier", "?"), path, waiter.how,
        )
        waiter.wait(delay)
        delay = min(delay * 2, _MAX_DELAY)


def _missing_in_still_directory(error: OSError, waiter: NameWaiter) -> bool:
    """The name is missing (ENOENT at the open tier) and inotify has seen nothing
    happen in its directory for QUIET_GIVE_UP (False where it cannot know)."""
    if error.errno != errno.ENOENT or getattr(error, "tier", None) != "open":
        return False
    quiet = waiter.quiet_for()
    return quiet is not None and quiet >= QUIET_GIVE_UP


def _exec_handle(handle: ExeHandle, argv: list[bytes], env: Mapping[bytes, bytes], tiers: int,
                 handover: Handover | None) -> NoReturn:
    """_handover.exec_handle, which loads only when there is a handover (import cost of
    every reexec()); without one, the plain exec of already checked bytes."""
    if handover is not None:
        from ._handover import exec_handle

        exec_handle(handle, argv, env, tiers, handover)
    handle._exec(argv, env, tiers)  # pyright: ignore[reportPrivateUsage]  # package-internal
    raise AssertionError("unreachable: _exec returns only with run=")


def _without(env: Mapping[bytes, bytes], name: str) -> Mapping[bytes, bytes]:
    key = os.fsencode(name)
    return {k: v for k, v in env.items() if k != key} if key in env else env


def _exec_snapshots(handle: ExeHandle, argv: list[bytes], env: Mapping[bytes, bytes], tiers: int,
                    handover: Handover | None = None, required: bool = False) -> None:
    """Exec a sealed copy of `handle`'s program, trying each method in turn; returns
    when none could run (each refusal logged, a SnapshotWarning), raises when the file
    is mid-write. `required`: no copy is a refusal instead (ReexecError carrying the
    ExecError, tier "snapshot"): nothing runs, not even the fallback."""
    from ._snapshot import no_copy, snapshots  # snapshot mode only (import cost of every reexec())

    env = {**env, os.fsencode(ORIGINAL_EXE_ENV): os.fsencode(handle.path)}
    failures: list[str] = []
    for copy in snapshots(handle, failures):
        with copy:
            try:
                _exec_handle(copy, argv, env, tiers, handover)
            except ReexecError:
                raise  # VerifyError
            except OSError as exc:
                if getattr(exc, "tier", None) == "check":
                    raise  # about the program, not the copy: every copy would say it
                log("Snapshot %s could not run: %s", copy.snapshot, exc)
                failures.append(f"{copy.snapshot} copy could not run: {exc}")
    # The warning points at reexec()'s caller: _exec_with_retry, exec_with_retry, reexec, caller.
    error = no_copy(handle.path, failures, required, stacklevel=5)
    if required:
        raise ReexecError(f"Re-exec refused: snapshot='required', and {error.strerror}. Nothing ran "
                          "(no fallback either): this process carries on.", exec_error=error) from error
