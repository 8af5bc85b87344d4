"""Signal state around the children we wait for, and the mask the new program gets.

Waiting: a caller that ignores SIGCHLD (daemons that let the kernel reap, inherited
across exec), sets SA_NOCLDWAIT, or reaps in a SIGCHLD handler would take our child's
exit status before we read it: waitpid then fails with ECHILD (CPython's subprocess
documents the same trap, and answers returncode 0). ``ChildWait`` holds SIGCHLD at
SIG_DFL from before the fork until the child was waited for, then puts the caller's
back (a handler then gets one SIGCHLD for what ended meanwhile); the child gets the
caller's disposition back before it execs (exec keeps SIG_IGN), so the program sees
what it would have seen. ``reap`` waits; a status lost anyway (another thread waited
for the child) is None: the child ran, so it is never "could not be started".

The mask: the library clears it for the new program, on purpose: a signal Python
code blocked for its own reasons would stay blocked in a program that does not expect
it. The command line keeps it, as a shell's exec does: the interpreter never changes
the mask it was started with, so it is the caller's (``keep_caller_mask``).
"""

from __future__ import annotations

import os

from . import _binding
from ._log import log

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from ._binding import RawSigchld

#: The exit status when a child ran but its status could not be read (not 0: that
#: would claim success; not 1..125: those may be the program's own).
EXIT_STATUS_LOST = 255

_keep_mask = False


def keep_caller_mask() -> None:
    """From now on the new program (and the fallback's child) starts with this
    process's signal mask instead of an empty one: the command line's exec."""
    global _keep_mask
    _keep_mask = True


def keeping_mask() -> bool:
    return _keep_mask


class ChildWait:
    """Context manager: SIGCHLD at SIG_DFL for the block (start the child and wait for
    it inside), the caller's disposition back after. ``for_child`` goes to
    _binding.spawn; ``caller_ignored``: the program must get SIG_IGN back (posix_spawn
    cannot do that). `notify`: a caller's handler gets one SIGCHLD afterwards (leave it
    off where the process leaves right after)."""

    def __init__(self, notify: bool = True) -> None:
        self._notify = notify
        self._state: RawSigchld | None = None
        self.was = "default"

    def __enter__(self) -> ChildWait:
        if os.name == "nt":
            return self  # no SIGCHLD, and the hand-over's wait is a handle's
        err, state = _binding.sigchld_default()
        if err:
            log("Warning: SIGCHLD could not be set to its default for the wait (%s); "
                "the child's exit status may be lost", os.strerror(err))
            return self
        self.was = _binding.SIGCHLD_NAMES.get(state.was, str(state.was))
        if self.was != "default":
            self._state = state
            log("SIGCHLD was %s here: at its default while the child runs (so its exit status "
                "can be read), then put back", self.was)
        return self

    @property
    def for_child(self) -> RawSigchld | None:
        return self._state

    @property
    def caller_ignored(self) -> bool:
        return self._state is not None and self._state.was == _binding.SIGCHLD_IGNORED

    def __exit__(self, *exc_info: object) -> None:
        state, self._state = self._state, None
        if state is not None:
            _binding.sigchld_restore(state, self._notify)


def reap(pid: int) -> int | None:
    """Wait for child `pid`: its exit code (negative: the signal that ended it, as
    os.waitstatus_to_exitcode gives it), or None when its status was lost (ECHILD:
    something else waited for it)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError as exc:
        log("Child %d ended, but its exit status could not be read: %s (something else in this "
            "process waited for it)", pid, exc.strerror)
        return None
    return os.waitstatus_to_exitcode(status)
