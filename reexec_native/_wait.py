"""Wait for the target to come back: inotify on its directory, the backoff as a cap.

The retry loop arms the watch at its first transient failure and keeps it until it
returns, so an event between two attempts is never missed (arm, then re-check,
then wait). A wait returns at the first event about the name (created, linked or
renamed in, closed after writing, chmod) or after the backoff delay, whichever
comes first: where inotify is missing, refused, or silent (NFS and other network
filesystems give no events for remote changes; a symlink's target in another
directory), the loop is the plain timer it always was. Off Linux: the timer.
$REEXEC_NATIVE_WAIT=poll forces the timer (a seam, for benchmarks and tests).

quiet_for() tells the retry loop how long nothing has happened: no event about the
name and no change of the directory (its mtime moves on every create, unlink and
rename in it). A missing name in a directory that stands still is not being
replaced, so waiting for the rest of the budget is dead time (see _fastpath).
"""

from __future__ import annotations

import errno
import os
import time

from . import _binding
from ._seams import wait_mode


class NameWaiter:
    """Sleeps until `path`'s name changes in its directory, or `delay` passes."""

    def __init__(self, path: str, mode: str | None = None) -> None:
        self.directory, self.name = os.path.split(os.path.abspath(path))
        self.mode = wait_mode() if mode is None else mode
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
        err, fd = _binding.watch_open(os.fsencode(self.directory or "."))
        if err:
            self._failed = err  # ENOSYS, ENOENT (no directory yet), EMFILE, ENOSPC...
        else:
            self._fd = fd
            self._failed = None
            self._last_activity = time.monotonic()
            self._dir_mtime = self._directory_mtime()
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
        release, self._release = self._release, -1
        if release >= 0:
            os.close(release)  # the holder exits
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> NameWaiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
