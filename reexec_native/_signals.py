"""The waiting parent's signal relay (cargo fallback, build-exec's cargo build).

While the child runs, every catchable signal whose default would end or stop the
parent is caught and passed on to the child, so the parent neither dies and orphans
the child nor stops without it (PyInstaller's bootloader forwards all signals too):
  forwarded   SIGTERM SIGHUP SIGQUIT SIGUSR1 SIGUSR2 SIGALRM SIGVTALRM SIGPROF SIGXCPU
              SIGPWR SIGIO SIGSTKFLT, the real-time signals, and SIGCONT;
  job control SIGTSTP SIGTTIN SIGTTOU: forwarded, then the parent stops itself
              (SIGSTOP), as a shell's job would; the SIGCONT that resumes it
              (`fg`, `kill -CONT`) is forwarded too;
  not touched SIGINT (ignored: Ctrl-C reaches the terminal's whole foreground group,
              the child included), SIGWINCH and SIGURG (default: ignore, so they cannot
              end the parent; a terminal's resize reaches the child's group itself),
              SIGCHLD, faults (SEGV BUS FPE ILL TRAP SYS ABRT: ours, not the child's),
              SIGKILL and SIGSTOP (cannot be caught), and any signal the caller
              ignores (SIGHUP under nohup, Python's SIGPIPE/SIGXFSZ): the child inherits
              that, as a plain exec would keep it.
A signal that arrives before the child exists is forwarded once it does. Signals go
through a pidfd (Linux 5.3+: os.pidfd_open + signal.pidfd_send_signal), which can
never reach another process once the child was reaped; elsewhere os.kill, only until
the child is reaped.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from ._log import log

_NAMES = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF",
          "SIGXCPU", "SIGPWR", "SIGIO", "SIGSTKFLT", "SIGCONT")
_JOB_CONTROL_NAMES = ("SIGTSTP", "SIGTTIN", "SIGTTOU")


def _signals(names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(getattr(signal, n) for n in names if hasattr(signal, n)))


FORWARDED = _signals(_NAMES) + tuple(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)) \
    if hasattr(signal, "SIGRTMIN") else _signals(_NAMES)
JOB_CONTROL = _signals(_JOB_CONTROL_NAMES)


def _ignore(_signum: int, _frame: object) -> None:
    """SIGINT while the child runs: the child (same process group) got it too."""


class SignalRelay:
    """Context manager: install the relay for a child about to start; ``started(pid)``
    once it exists, ``reaped()`` once it was waited for; handlers restored on exit."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._pidfd: int | None = None
        self._reaped = False
        self._pending: list[int] = []
        self._saved: dict[int, object] = {}

    def started(self, pid: int) -> None:
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None and hasattr(signal, "pidfd_send_signal"):
            try:
                self._pidfd = pidfd_open(pid)  # not reaped yet: names this very child
            except OSError:
                self._pidfd = None  # kernel < 5.3 or seccomp: os.kill until reaped
        self._pid = pid
        pending, self._pending = self._pending, []
        for signum in pending:
            self._send(signum)

    def reaped(self) -> None:
        self._reaped = True  # from now on the pid may name another process

    def __enter__(self) -> SignalRelay:
        if threading.current_thread() is not threading.main_thread():
            log("Note: not the main thread; signals are not relayed to the fallback child")
            return self
        handlers: list[tuple[int, Callable[[int, object], None]]] = [(signal.SIGINT, _ignore)]
        handlers += [(s, self._forward) for s in FORWARDED]
        handlers += [(s, self._forward_and_stop) for s in JOB_CONTROL]
        for signum, handler in handlers:
            try:
                if signal.getsignal(signum) == signal.SIG_IGN:
                    continue
                self._saved[signum] = signal.signal(signum, handler)
            except (OSError, ValueError):
                continue  # a signal this platform will not let Python catch
        return self

    def _forward(self, signum: int, _frame: object) -> None:
        if self._pid is None:
            self._pending.append(signum)
        else:
            self._send(signum)

    def _forward_and_stop(self, signum: int, frame: object) -> None:
        self._forward(signum, frame)
        os.kill(os.getpid(), signal.SIGSTOP)  # stop with the child; SIGCONT resumes both

    def _send(self, signum: int) -> None:
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            elif not self._reaped and self._pid is not None:
                os.kill(self._pid, signum)
        except ProcessLookupError:
            pass  # the child is gone (a zombie or reaped): nothing to tell it

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
