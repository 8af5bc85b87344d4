"""Children we wait for: start one as exec would, wait, and leave exactly as it left.

``spawn_and_wait`` (cargo run: posix_spawn, or fork + exec with a descriptor plan),
``run_reading_stdout`` (cargo build, its JSON messages read), ``leave_like`` (the
child's exit code, or death by its signal), and the signal state around them.

The waiting parent's signal relay: while the child runs, every catchable signal whose default would end or stop the
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
              that, as a plain exec would keep it. Ignored as the kernel has it (Linux:
              /proc/self/status), not only as signal.getsignal says: PyPy's answers
              SIG_DFL for a signal the process inherited ignored.
A signal that arrives before the child exists is forwarded once it does. Signals go
through a pidfd (Linux 5.3+: pidfd_open + pidfd_send_signal, the C core's: PyPy's os
and signal have neither), which can never reach another process once the child was
reaped; elsewhere os.kill, only until the child is reaped.

SIGCHLD while we wait: a caller that ignores SIGCHLD (daemons that let the kernel reap, inherited
across exec), sets SA_NOCLDWAIT, or reaps in a SIGCHLD handler would take our child's
exit status before we read it: waitpid then fails with ECHILD (CPython's subprocess
documents the same trap, and answers returncode 0). ``ChildWait`` holds SIGCHLD at
SIG_DFL from before the fork until the child was waited for, then puts the caller's
back (a handler then gets one SIGCHLD for what ended meanwhile); the child gets the
caller's disposition back before it execs (exec keeps SIG_IGN), so the program sees
what it would have seen. ``reap`` waits; a status lost anyway (another thread waited
for the child) is None: the child ran, so it is never "could not be started".
"""

from __future__ import annotations

import os
import sys
from _collections_abc import Callable, Mapping, Sequence  # collections.abc without collections

from . import _binding
from ._binding import keeping_mask
from ._exe import open_plain
from ._log import flush_stdio, log, restore_stdin, rewind_stdin

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    import signal
    from typing import Any, NoReturn, Protocol

    from ._binding import FdPlanC, RawSigchld

    class FdPlan(Protocol):
        """What a child needs of a descriptor plan (``_handover.FdPlan``, which knows
        this module, not the other way round)."""

        listen: list[int]

        def describe(self) -> str: ...

        def c_plan(self, exempt: Sequence[int] = ()) -> FdPlanC: ...
else:
    try:  # signal's functions and numbers without its enums: `enum` is a third of the fallback's imports
        import _signal as signal
    except ImportError:  # an interpreter without CPython's split
        import signal

#: The exit status when a child ran but its status could not be read (not 0: that
#: would claim success; not 1..125: those may be the program's own).
EXIT_STATUS_LOST = 255

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


def _on_main_thread() -> bool:
    """Python's main thread (the only one that may set signal handlers)? Without
    importing threading (a third of the fallback's imports) where it was never
    imported and _thread never started a thread: then this is the only thread."""
    import _thread

    if "threading" not in sys.modules and getattr(_thread, "_count", lambda: 1)() == 0:
        return True
    import threading

    return threading.current_thread() is threading.main_thread()


class SignalRelay:
    """Context manager: install the relay for a child about to start; ``started(pid)``
    once it exists, ``reaped()`` once it was waited for; handlers restored on exit."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._pidfd: int | None = None
        self._reaped = False
        self._pending: list[int] = []
        self._stop_pending = False
        self._saved: dict[int, object] = {}

    def started(self, pid: int) -> None:
        err, pidfd = _binding.pidfd_open(pid)  # not reaped yet: names this very child
        self._pidfd = None if err else pidfd  # kernel < 5.3, seccomp, not Linux: os.kill until reaped
        self._pid = pid
        pending, self._pending = self._pending, []
        for signum in pending:
            self._send(signum)
        if self._stop_pending:
            self._stop_pending = False
            os.kill(os.getpid(), signal.SIGSTOP)  # now that the child has the stop signal too

    def reaped(self) -> None:
        self._reaped = True  # from now on the pid may name another process

    def __enter__(self) -> SignalRelay:
        if not _on_main_thread():
            log("Note: not the main thread; signals are not relayed to the fallback child")
            return self
        handlers: list[tuple[int, Callable[[int, object], None]]] = [(signal.SIGINT, _ignore)]
        handlers += [(s, self._forward) for s in FORWARDED]
        handlers += [(s, self._forward_and_stop) for s in JOB_CONTROL]
        kernel_ignored = ignored_by_kernel()
        for signum, handler in handlers:
            try:
                if signal.getsignal(signum) == signal.SIG_IGN or kernel_ignored >> (signum - 1) & 1:
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
        if self._pid is None:
            # No child yet (spawned, not yet started()): stopping now would let the SIGCONT
            # that resumes us reach the child right behind the stop signal, and the kernel
            # (or a shell, which runs pending traps by number) lets SIGCONT win. Stop in
            # started(), once the child has the stop signal.
            self._pending.append(signum)
            self._stop_pending = True
            return
        self._forward(signum, frame)
        os.kill(os.getpid(), signal.SIGSTOP)  # stop with the child; SIGCONT resumes both

    def _send(self, signum: int) -> None:
        try:
            if self._pidfd is not None:
                err = _binding.pidfd_send_signal(self._pidfd, signum)
                if err:
                    raise OSError(err, os.strerror(err))
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


def ignored_by_kernel() -> int:
    """The signals this process ignores as the kernel has them: /proc/self/status's
    SigIgn, bit N-1 for signal N (Linux); 0 where it cannot be read. signal.getsignal
    alone is not enough: CPython reads every signal's disposition at start-up, but
    PyPy answers SIG_DFL for a signal inherited as ignored (nohup's SIGHUP, a shell's
    `trap '' USR2`), so the relay would catch it and the child would lose it."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"SigIgn:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def uses_shim(supported: int | None = None) -> bool:
    """Where the tier is CreateProcessW (Windows), the fallback child runs through the
    C shim too: Python's own exit cannot carry every 32-bit exit code. `supported`:
    a tier mask (default: this build's)."""
    supported = _binding.supported_tiers() if supported is None else supported
    return bool(supported & _binding.TIER_BITS["createprocess"])


# Python ignores these at start-up; a program started by exec gets them back at
# their defaults (the C core does it on the fast path), so the child does too.
_PYTHON_IGNORED = ("SIGPIPE", "SIGXFSZ")


def spawn_and_wait(program: str, cmd: Sequence[str | bytes], env: Mapping[bytes, bytes],
                   fds: FdPlan | None = None) -> NoReturn:
    """Start `program` with argv `cmd` as exec would start it (empty signal mask, or
    the caller's for the command line; Python's ignored signals back to default; SIGCHLD
    as the caller had it; the caller's inheritable descriptors), wait, and leave exactly
    as it left. posix_spawn; fork + exec instead with `fds` (an FdPlan: the descriptors
    are placed and LISTEN_PID is the child's own PID, both set in the child) or where
    the caller ignores SIGCHLD (the child gets SIG_IGN back; posix_spawn cannot), and
    where os has no posix_spawn (PyPy).
    Raises OSError only when the child could not be started."""
    flush_stdio()
    ignored = (getattr(signal, name) for name in _PYTHON_IGNORED if hasattr(signal, name))
    reset = [s for s in ignored if signal.getsignal(s) == signal.SIG_IGN]
    mask: dict[str, Any] = {} if keeping_mask() else {"setsigmask": ()}
    # The process leaves right after the wait: no SIGCHLD owed to a caller's handler.
    with ChildWait(notify=False) as chld, SignalRelay() as relay:
        read_to = rewind_stdin()  # the child reads on where Python's reading stopped
        try:
            # PyPy's os has no posix_spawn: the C core's fork + exec does the same there
            if fds is not None or chld.caller_ignored or not hasattr(os, "posix_spawn"):
                argv = [os.fsencode(program), *map(os.fsencode, cmd[1:])]
                pid = _spawn_with_plan(program, argv, env, fds, chld)
            else:
                pid = os.posix_spawn(program, [program, *cmd[1:]], env, setsigdef=reset, **mask)
        except BaseException:
            restore_stdin(read_to)
            raise
        relay.started(pid)
        code = reap(pid)
        relay.reaped()
    if code is None:  # it ran: exit, never a second run nor "could not be started"
        log("Fallback child ran; its exit status is lost; exiting with %d", EXIT_STATUS_LOST)
        flush_stdio(at_exit=True)
        exit_with(EXIT_STATUS_LOST)
    leave_like(code, "Fallback child")


def _spawn_with_plan(program: str, argv: Sequence[bytes], env: Mapping[bytes, bytes], plan: FdPlan | None,
                     chld: ChildWait) -> int:
    """fork + exec `program` (posix_spawn can do none of this): `plan` applied in the
    child and LISTEN_PID (and, where the kernel has them, LISTEN_PIDFDID) naming the
    child there (ours would make the program ignore the descriptors), SIGCHLD as the
    caller had it; returns its PID."""
    listen = bool(plan and plan.listen)
    if plan is not None:
        env = {k: v for k, v in env.items() if k not in (b"LISTEN_PID", b"LISTEN_PIDFDID")}
    # LISTEN_PIDFDID where the kernel names processes by pidfd inode ids (pidfs)
    listen_pidfdid = listen and _binding.pidfd_id(os.getpid())[0] == 0
    err, pid = _binding.spawn(None, os.fsencode(program), argv, env, 0,
                              None if plan is None else plan.c_plan(), listen_pid=listen,
                              listen_pidfdid=listen_pidfdid, sigchld=chld.for_child)
    if err:
        with_plan = f" with {plan.describe()}" if plan is not None else ""
        raise OSError(err, f"{os.strerror(err)} (starting the fallback{with_plan})", program)
    return pid


def run_through_shim(program: str, cmd: Sequence[str | bytes], env: Mapping[bytes, bytes]) -> NoReturn:
    """Run `program` as a child of the C shim (job, console handler, std handles), log
    its exit code, and exit with it: all 32 bits (os._exit's C int is the same bits).
    Raises the ExecError of the hand-over when the child could not start (off Windows,
    where there is no such hand-over, always)."""
    argv = [os.fsencode(part) for part in cmd]
    sys.audit("os.exec", program, argv, env)  # the shim's hand-over is os.exec on Windows, as os.execv's
    with open_plain(program) as handle:
        code = handle.run(argv, env)
    leave_like(code, "Fallback child")


def run_reading_stdout(argv: Sequence[str], env: Mapping[bytes, bytes], on_line: Callable[[bytes], None]) -> int | None:
    """Run `argv` with stdout piped (stderr inherited: the user sees it), each line
    given to `on_line`, signals relayed; returns its exit code (negative: the signal),
    None when it ran but its status was lost. SIGCHLD is at its default for it (a tool
    we wait for, not the new program)."""
    import subprocess

    flush_stdio()
    with ChildWait(), SignalRelay() as relay:
        child = subprocess.Popen(list(argv), env=popen_env(env), stdout=subprocess.PIPE)
        relay.started(child.pid)
        assert child.stdout is not None
        for line in child.stdout:
            on_line(line)
        child.stdout.close()
        if os.name == "nt":
            code: int | None = child.wait()
        else:
            # Not Popen.wait(): it answers 0 when the status is lost (ECHILD).
            code = reap(child.pid)
            child.returncode = EXIT_STATUS_LOST if code is None else code
        relay.reaped()
    return code


def popen_env(env: Mapping[bytes, bytes]) -> Any:  # bytes keys (POSIX) or str (Windows): Popen types take one, not the union
    """Popen takes a bytes environment on POSIX only; Windows wants str (the bytes
    are UTF-8 there, checked by _validate)."""
    if os.name == "nt":
        return {os.fsdecode(name): os.fsdecode(value) for name, value in env.items()}
    return env


def leave_like(code: int, who: str) -> NoReturn:
    """Leave as the child left: its exit code (logged), or death by the same signal
    (`code` negative, as os.waitstatus_to_exitcode gives it)."""
    if code < 0:
        import signal as named  # Signals: only for this line

        log("%s killed by signal %d (%s)", who, -code, named.Signals(-code).name)
        flush_stdio(at_exit=True)
        die_by_signal(-code)
    log("%s exited with code: %d", who, code)
    flush_stdio(at_exit=True)
    exit_with(code)


def exit_with(code: int) -> NoReturn:
    """os._exit(code); on Windows any 32-bit exit code (0xC0000005...): os._exit takes
    a C int, whose bits Windows reads as the DWORD exit code."""
    if os.name == "nt" and code >= 1 << 31:
        code -= 1 << 32
    os._exit(code)


def die_by_signal(signum: int) -> NoReturn:
    """Leave by the same signal the child died of, so our parent sees the same death;
    128+N only where the signal does not end the process."""
    import faulthandler

    if faulthandler.is_enabled():
        faulthandler.disable()
    try:
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL/SIGSTOP: their disposition cannot be set (nor needs to be)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)


# --- SIGCHLD while we wait ------------------------------------------------------------

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
