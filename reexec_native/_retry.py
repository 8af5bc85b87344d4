"""The fast path's retry loop: while a build tool swaps the target, wait, try again.

``retry()`` takes over once the first attempt (``_exe.first_attempt``) failed with a
transient error (``_exe.is_transient``: ENOENT, ETXTBSY, ESTALE), so this module
loads only then. It returns (never normally) the OSError of the last attempt; on
success the process is gone. The errors are retried with backoff within the budget,
which starts once the first attempt failed (its logging, which may be the
application's, is not counted).

``exec_recovery_steps()`` says what to do when it failed (reexec() puts them in its
ReexecError).

The wait between attempts (``NameWaiter``, made at the first retry): inotify on the
target's directory, the backoff delay as a cap. The retry loop arms the watch at its
first transient failure and keeps it until it returns, so an event between two
attempts is never missed (arm, then re-check, then wait). A wait returns at the first event about the name (created, linked or
renamed in, closed after writing, chmod) or after the backoff delay, whichever
comes first: where inotify is missing, refused, or silent (NFS and other network
filesystems give no events for remote changes; a symlink's target in another
directory), the loop is the plain timer it always was. Off Linux: the timer.
$REEXEC_NATIVE_WAIT=poll forces the timer (a seam, for benchmarks and tests).

quiet_for() tells the retry loop how long nothing has happened: no event about the
name and no change of the directory (its mtime moves on every create, unlink and
rename in it). A missing name in a directory that stands still is not being
replaced, so waiting for the rest of the budget is dead time (``give_up_when_quiet``).
"""

from __future__ import annotations

import errno
import os
import time

from . import _binding
from ._exe import attempt, first_attempt, is_transient
from ._log import log

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._handover import Handover

_FIRST_DELAY = 0.005
_MAX_DELAY = 0.05
# With a fallback to go to, a missing name whose directory has stood still this long
# is not being replaced (cargo links the new file microseconds after it removes the
# old one), so the rest of the budget would be dead time before the fallback.
QUIET_GIVE_UP = 0.01


def exec_with_retry(path: str, argv: Sequence[bytes], env: Mapping[bytes, bytes], budget: float,
                    snapshot: bool | str = False, handover: Handover | None = None,
                    give_up_when_quiet: bool = False) -> OSError:
    """Try to replace the process with `path` (or, with `snapshot`, a sealed copy of
    it; "required": a copy or a ReexecError); return the final error if it cannot:
    first_attempt(), then retry()."""
    error = first_attempt(path, argv, env, snapshot, handover)
    return retry(error, time.monotonic(), path, argv, env, budget, snapshot, handover, give_up_when_quiet)


def retry(error: OSError, failed_at: float, path: str, argv: Sequence[bytes], env: Mapping[bytes, bytes],
          budget: float, snapshot: bool | str = False, handover: Handover | None = None,
          give_up_when_quiet: bool = False) -> OSError:
    """After the first attempt failed with `error` at `failed_at` (time.monotonic()):
    while it is transient and the `budget` (seconds, from `failed_at`) lasts, wait for
    the name to change in its directory (inotify), the backoff delay at most, and try
    again; return the final error. `handover`: descriptors to place and a verify run
    (VerifyError propagates). `give_up_when_quiet` (there is a fallback): stop retrying
    a missing name once inotify shows its directory standing still for QUIET_GIVE_UP."""
    deadline = failed_at + budget
    delay = _FIRST_DELAY
    if not is_transient(error) or time.monotonic() + delay > deadline:
        return error
    with NameWaiter(path) as waiter:  # a bad $REEXEC_NATIVE_WAIT is refused here
        waiter.arm()  # before the next attempt: no event after this is missed
        retries = 0
        while True:
            until_quiet = _until_quiet(error, waiter) if give_up_when_quiet else None
            if retries and until_quiet is not None and until_quiet <= 0:
                log("Nothing changed in %s for %.0f ms (inotify): %s is missing, not being replaced; "
                    "no more retries", waiter.directory, QUIET_GIVE_UP * 1000, path)
                return error
            # After the first wait, not past the moment the directory will have stood
            # still long enough: no dead time between seeing that and the fallback.
            wait = delay if until_quiet is None or not retries else min(delay, until_quiet)
            retries += 1
            log("Retry %d in %.0f ms: %s at tier %s (%s), or sooner when the name changes (%s)",
                retries, wait * 1000, errno.errorcode.get(error.errno or 0, error.errno),
                getattr(error, "tier", "?"), path, waiter.how)
            # counted from the failure: arming the watch (inotify_add_watch can take
            # milliseconds) was time the build tool had too
            waiter.wait(max(0.0, failed_at + wait - time.monotonic()))
            delay = min(delay * 2, _MAX_DELAY)
            error = attempt(path, argv, env, snapshot, handover)
            failed_at = time.monotonic()
            if not is_transient(error) or time.monotonic() + delay > deadline:
                return error


def _until_quiet(error: OSError, waiter: NameWaiter) -> float | None:
    """For a missing name (ENOENT at the open tier): seconds until inotify will have
    seen its directory stand still for QUIET_GIVE_UP (<= 0: it has); None otherwise,
    or where the watch cannot tell."""
    if error.errno != errno.ENOENT or getattr(error, "tier", None) != "open":
        return None
    quiet = waiter.quiet_for()
    return None if quiet is None else QUIET_GIVE_UP - quiet


def exec_recovery_steps(exec_error: BaseException | None, rebuild_command: str | None) -> list[str]:
    """What to do about an exec failure, by its errno, tier and note."""
    if not isinstance(exec_error, OSError) or not exec_error.filename:
        return []
    target = exec_error.filename
    steps: list[str] = []
    diagnosis = getattr(exec_error, "diagnosis", None)
    if _interpreter_missing(exec_error):
        steps.append(f"{target} exists, but the interpreter it names (its #! line, or the "
                     "ELF loader) is missing: install it or fix the #! line.")
    elif exec_error.errno in (errno.ENOENT, errno.ESTALE):
        how = f": `{rebuild_command}`" if rebuild_command else ""
        steps.append(f"Rebuild the program so that {target} exists again{how}.")
    elif exec_error.errno == errno.EACCES:
        steps.append(f"Make {target} executable (chmod +x) and check its filesystem is not mounted noexec.")
    elif exec_error.errno == errno.ETXTBSY:
        steps.append(f"Wait for the process writing {target} to finish, then retry.")
    elif exec_error.errno == errno.ENOEXEC and diagnosis:
        steps.append(f"{target} cannot be executed here: {diagnosis}.")
    elif exec_error.errno == errno.ENOEXEC:
        steps.append(f"{target} is not a complete executable (truncated or half-written): rebuild it.")
    steps.append(f"Run it by hand: {target} ARGS...")
    return steps


def _interpreter_missing(exec_error: OSError) -> bool:
    """The path tier's (or the pre-exec check's) ENOENT with the file still there."""
    attempts = getattr(exec_error, "attempts", None)
    if exec_error.errno != errno.ENOENT or not attempts:
        return False
    tier, _err, note = attempts[-1]
    return tier in ("path", "check") and note == "needs-interpreter"


class NameWaiter:
    """Sleeps until `path`'s name changes in its directory, or `delay` passes."""

    def __init__(self, path: str, mode: str | None = None) -> None:
        self.directory, self.name = os.path.split(os.path.abspath(path))
        self.mode = _binding.wait_mode() if mode is None else mode  # a bad $REEXEC_NATIVE_WAIT: ValueError
        self._fd = -1
        self._release = -1  # pipe to the holder of a second reference (see arm)
        self._failed: int | None = None  # errno that disabled the watch
        self._last_activity = time.monotonic()
        self._dir_mtime: int | None = None

    @property
    def how(self) -> str:
        """"inotify", or "poll" with the reason."""
        if self._fd >= 0:
            return "inotify"
        if self.mode == "poll":
            return "poll (forced)"
        return f"poll ({errno.errorcode.get(self._failed or 0, self._failed)})" if self._failed else "poll"

    def arm(self) -> None:
        """Start watching (before the re-check that follows). Best effort."""
        if self._fd >= 0 or self.mode == "poll":
            return
        # Quiet is counted from before the watch exists (adding it can take milliseconds):
        # a change meanwhile, which inotify cannot report, moves the directory's mtime
        # past this reading, and the first timeout sees it.
        started, mtime = time.monotonic(), self._directory_mtime()
        err, fd = _binding.watch_open(os.fsencode(self.directory or "."))
        if err:
            self._failed = err  # ENOSYS, ENOENT (no directory yet), EMFILE, ENOSPC...
        else:
            self._fd = fd
            self._failed = None
            self._last_activity = started
            self._dir_mtime = mtime
            # Exec closes our (close-on-exec) inotify descriptor before the new program
            # runs; if that is the last reference, the kernel first waits for an SRCU
            # grace period (1-16 ms here). A holder process keeps a reference and pays
            # for it instead, after our exec (csrc/posix/reexec_wait.c). Best effort.
            self._release = _binding.watch_hold(self._fd)

    def wait(self, delay: float) -> bool:
        """Up to `delay` seconds; True when an event about the name ended it early."""
        if self._fd < 0:
            self.arm()  # the directory may exist now
        if self._fd < 0:
            time.sleep(delay)
            return False
        deadline = time.monotonic() + delay
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
            err = _binding.watch_wait(self._fd, os.fsencode(self.name), left_ms)
            if err == 0:
                self._last_activity = time.monotonic()
                return True
            if err == errno.ETIMEDOUT:
                mtime = self._directory_mtime()
                if mtime != self._dir_mtime:
                    self._dir_mtime = mtime
                    self._last_activity = time.monotonic()
                return False
            if err == errno.EINTR:
                continue  # a signal handler ran (cffi released the GIL); keep waiting
            # EIDRM: the directory went away; anything else: stop trusting the watch.
            self._failed = err
            self.close()
            left = deadline - time.monotonic()
            if left > 0:
                time.sleep(left)
            return False

    def quiet_for(self) -> float | None:
        """Seconds since the last sign of life in the directory (the watch was armed,
        an event about the name, the directory changed); None without a live watch,
        where nothing is known."""
        if self._fd < 0:
            return None
        return time.monotonic() - self._last_activity

    def _directory_mtime(self) -> int | None:
        try:
            return os.stat(self.directory or ".").st_mtime_ns
        except OSError:
            return None

    def close(self) -> None:
        # Ours first, while the holder still keeps the watch alive: the last close of an
        # inotify descriptor waits out an SRCU grace period (10-15 ms measured here),
        # which the holder then pays when it exits, not this process.
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        release, self._release = self._release, -1
        if release >= 0:
            os.close(release)  # the holder exits

    def __enter__(self) -> NameWaiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
