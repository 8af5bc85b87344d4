"""What reexec() hands to the new program beyond argv and env: descriptors
(listen_fds, pass_fds) and a verify run before the point of no return.

``Handover.prepare`` is what an exec does first (ExeHandle.exec_checked calls it on
the fast path and build-exec's artifact): the verify run, then the descriptors placed;
``undo`` puts the table back when the exec fails. The cargo run fallback hands the
descriptor plan to _child.spawn_and_wait() instead.

Descriptors, in systemd's socket-activation layout, and pass_fds:
``reexec(listen_fds=[...])`` puts the given descriptors at 3, 4, ... in the new
program, inheritable there and only there, with ``LISTEN_FDS``, ``LISTEN_PID``,
``LISTEN_PIDFDID`` (where the kernel has pidfd inode ids) and (when names are given)
``LISTEN_FDNAMES``; ``pass_fds`` keep their numbers. With
either, the descriptors above 2 that reach the new program are exactly these: every
other inheritable one is marked close-on-exec just before the exec. A failed exec
puts everything back (numbers, files, flags). The C core does the moving
(csrc/posix/reexec_fds.c); this module checks the input and holds the policy.

The verify run: the opened image runs as a child first, and is executed only if that
exits 0. The child runs the very descriptor that will be executed (the C core forks and
runs reexec_exec on it: the same tiers, so the same inode), with argv[0] as the
real exec gives it, the verify arguments, and the new program's environment
without LISTEN_* (it gets no passed descriptors: none above 2, stdin /dev/null,
stdout and stderr captured). Past the timeout it is killed (SIGKILL).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

from ._binding import LISTEN_FDS_START, FdPlanC, pidfd_id
from ._child import ChildWait
from ._log import flush_stdio, log
from ._validate import fd_list, fd_names, fds_asked, verify_args
from .errors import ExecError, VerifyError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._exe import ExeHandle

LISTEN_VARS = (b"LISTEN_FDS", b"LISTEN_PID", b"LISTEN_PIDFDID", b"LISTEN_FDNAMES")
_TAIL = 2000  # bytes of the verify run's stderr kept for the error


class Handover:
    """listen_fds/pass_fds as an FdPlan, verify arguments and timeout."""

    def __init__(self, fds: FdPlan | None = None, verify: list[bytes] | None = None,
                 verify_timeout: float = 5.0) -> None:
        self.fds = fds
        self.verify = verify
        self.verify_timeout = verify_timeout
        self._placed: FdPlanC | None = None
        self._view: ExeHandle | None = None

    @classmethod
    def from_args(cls, listen_fds: object, listen_fdnames: object, pass_fds: object, verify: object,
                  verify_timeout: object) -> Handover | None:
        """Checked keyword arguments of reexec(); None when nothing is asked for."""
        fds = FdPlan.from_args(listen_fds, listen_fdnames, pass_fds) \
            if fds_asked(listen_fds, listen_fdnames, pass_fds) else None
        args, timeout = verify_args(verify, verify_timeout)
        if fds is None and args is None:
            return None
        return cls(fds, args, timeout)

    def listen_env(self, env: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """The new program's environment with this handover's LISTEN_* variables
        (LISTEN_PID: this process's, which an exec keeps; the cargo run fallback's
        child writes its own)."""
        if self.fds is None:
            return env
        return self.fds.listen_env(env, os.getpid())

    def prepare(self, handle: ExeHandle, argv0: bytes, env: Mapping[bytes, bytes]) -> ExeHandle:
        """Before the exec of `handle`: the verify run (VerifyError: this process carries
        on), then the descriptors placed; returns the handle to exec (a view when a
        listen slot moved its descriptor). undo() after a failed exec."""
        if self.verify is not None:
            verify_image(handle, argv0, self.verify, env, self.verify_timeout)
        if self.fds is None:
            return handle
        log("Descriptors: %s", self.fds.describe())
        plan = self.fds.c_plan(exempt=(handle.fd,))
        err = plan.place()
        if err:
            raise ExecError.of(err, f"{os.strerror(err)} (placing descriptors: {self.fds.describe()})",
                               handle.path, tier="fds")
        self._placed = plan
        moved = plan.moved(handle.fd)
        if moved == handle.fd:
            return handle
        self._view = handle.moved_to(moved)  # owned by the plan: released, never closed
        return self._view

    def undo(self) -> None:
        """After a failed exec: the descriptor table as it was before prepare()."""
        view, self._view = self._view, None
        if view is not None:
            view.release()
        plan, self._placed = self._placed, None
        if plan is not None:
            plan.restore()


def _open_max() -> int:
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return soft if soft != resource.RLIM_INFINITY and soft > 0 else 1 << 20
    except (ImportError, OSError, ValueError):
        return 1024


class FdPlan:
    """Checked listen_fds / listen_fdnames / pass_fds. The descriptors are numbers,
    looked at again when the plan is applied (a closed one then fails the exec)."""

    def __init__(self, listen: list[int], names: list[str] | None, keep: list[int]) -> None:
        self.listen = listen
        self.names = names
        self.keep = keep

    @classmethod
    def from_args(cls, listen_fds: object, listen_fdnames: object, pass_fds: object) -> FdPlan | None:
        """None when no descriptor is asked for; ValueError/TypeError for bad input."""
        listen = None if listen_fds is None else fd_list(listen_fds, "listen_fds")
        keep = [] if pass_fds is None else fd_list(pass_fds, "pass_fds")
        if listen is None:
            if listen_fdnames is not None:
                raise ValueError("listen_fdnames given without listen_fds")
            if not keep:
                return None
            listen = []
        names = fd_names(listen_fdnames, len(listen))
        if sys.platform == "win32":
            raise ValueError("listen_fds and pass_fds are POSIX only: Windows passes handles, not "
                             "descriptor numbers")
        end = LISTEN_FDS_START + len(listen)
        for i, fd in enumerate(keep):
            if fd < end:
                raise ValueError(f"pass_fds[{i}] is descriptor {fd}, where listen_fds go (3-{end - 1}): "
                                 "pass it in listen_fds, or move it")
        limit = _open_max()
        highest = max([end - 1, *keep])
        if highest >= limit:
            raise ValueError(f"too many descriptors: listen_fds need 3-{end - 1} and pass_fds up to {highest}, "
                             f"but RLIMIT_NOFILE allows descriptors below {limit}")
        return cls(listen, names, keep)

    def listen_env(self, env: Mapping[bytes, bytes], pid: int) -> dict[bytes, bytes]:
        """`env` without stale LISTEN_* variables, plus this plan's: LISTEN_PID=`pid`
        and, where the kernel names processes by pidfd inode ids (systemd v258's
        LISTEN_PIDFDID), that of `pid`, which an exec keeps."""
        out = {k: v for k, v in env.items() if k not in LISTEN_VARS}
        if self.listen:
            out[b"LISTEN_FDS"] = str(len(self.listen)).encode()
            out[b"LISTEN_PID"] = str(pid).encode()
            pidfdid = pidfd_id_of(pid)
            if pidfdid is not None:
                out[b"LISTEN_PIDFDID"] = str(pidfdid).encode()
            if self.names is not None:
                out[b"LISTEN_FDNAMES"] = ":".join(self.names).encode()
        return out

    def describe(self) -> str:
        parts: list[str] = []
        if self.listen:
            shown = ", ".join(f"{fd}->{LISTEN_FDS_START + i}" for i, fd in enumerate(self.listen))
            parts.append(f"listen fds {shown}")
            if self.names is not None:
                parts.append("names " + ":".join(self.names))
        if self.keep:
            parts.append("pass fds " + ", ".join(map(str, self.keep)))
        return "; ".join(parts) or "no descriptors above 2"

    def c_plan(self, exempt: Sequence[int] = ()) -> FdPlanC:
        """The C plan for this moment's descriptor table: the listen descriptors, the
        pass_fds, and every other inheritable one (but `exempt`) to mark close-on-exec."""
        slots = range(LISTEN_FDS_START, LISTEN_FDS_START + len(self.listen))
        keep = set(self.keep) | set(slots) | set(exempt)
        others = [fd for fd in inheritable_fds() if fd not in keep]
        return FdPlanC(self.listen, self.keep, others)


def pidfd_id_of(pid: int) -> int | None:
    """The pidfd inode id of `pid` (LISTEN_PIDFDID), or None where there is none to be
    had (no pidfs: Linux before 6.9, other systems; or pidfd_open failed): then the
    variable is left out, as systemd leaves it out, and LISTEN_PID alone names the
    receiver."""
    err, pidfdid = pidfd_id(pid)
    return pidfdid if err == 0 else None


def inheritable_fds() -> list[int]:
    """Descriptors above 2 without close-on-exec, from /proc/self/fd (/dev/fd
    elsewhere), else by probing up to RLIMIT_NOFILE (at most 65536)."""
    names: list[str] = []
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        if len(names) > 3 or directory == "/proc/self/fd":
            break
    candidates = [int(n) for n in names if n.isdigit()] if len(names) > 3 else range(3, min(_open_max(), 65536))
    found: list[int] = []
    for fd in candidates:
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                found.append(fd)
        except OSError:
            continue  # the listing's own descriptor, or closed meanwhile
    return sorted(found)




# --- the verify run ----------------------------------------------------------------

def verify_image(handle: ExeHandle, argv0: bytes, args: list[bytes], env: Mapping[bytes, bytes],
                 timeout: float) -> None:
    """Run `handle`'s program with `args`; return if it exits 0 within `timeout`, raise
    VerifyError otherwise (OSError ETXTBSY when it could not start because a writer
    holds the file: the retry loop waits for that)."""
    shown = " ".join(os.fsdecode(a) for a in args)
    log("Verify: %s %s (timeout %.1f s)", handle.path, shown, timeout)
    env_for_child = {k: v for k, v in env.items() if k not in LISTEN_VARS}
    c_plan = FdPlan([], None, []).c_plan(exempt=(handle.fd,))
    null_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    # SIGCHLD at its default while the child runs (the caller may ignore it: its status
    # would be lost); the child gets the caller's back, as the real exec will.
    with ChildWait() as chld:
        try:
            flush_stdio()
            err, pid = handle.spawn([argv0, *args], env_for_child, c_plan, (null_fd, out_w, err_w),
                                    chld.for_child)
        except BaseException:  # FlushError, no tier to run it by: our ends of the pipes too
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in (null_fd, out_w, err_w):
                os.close(fd)
        if err:
            os.close(out_r)
            os.close(err_r)
            if err == errno.ETXTBSY:
                raise ExecError.of(err, f"{os.strerror(err)} (verify run)", handle.path, tier="verify")
            log("Verify: failed: could not start: %s", os.strerror(err))
            raise VerifyError(f"Verify run of {handle.path} {shown} could not start: "
                              f"{os.strerror(err)} ({errno.errorcode.get(err, err)}); not executing it",
                              path=handle.path, args=list(args), errno=err)
        try:
            status, stdout, stderr, timed_out = collect_output(pid, out_r, err_r, started + timeout, _TAIL)
        except ChildProcessError as exc:  # something else in this process waited for it
            log("Verify: failed: its exit status was lost: %s", exc.strerror)
            raise VerifyError(f"Verify run of {handle.path} {shown} ran, but its exit status could not be "
                              f"read ({exc.strerror}: something else in this process waited for it); "
                              "not executing it, this process carries on.",
                              path=handle.path, args=list(args), errno=errno.ECHILD) from exc
    elapsed_ms = (time.monotonic() - started) * 1000
    code = None if status is None else os.waitstatus_to_exitcode(status)
    if code == 0 and not timed_out:
        first = stdout.decode("utf-8", "replace").strip().splitlines()[:1]
        log("Verify: passed (exit 0 in %.0f ms)%s", elapsed_ms, f": {first[0]}" if first else "")
        return
    tail = stderr[-_TAIL:].decode("utf-8", "replace")
    if timed_out:
        why = f"did not exit within {timeout:g} s (killed)"
    elif code is not None and code < 0:
        why = f"was killed by signal {-code} ({signal.Signals(-code).name})"
    else:
        why = f"exited with status {code}"
    log("Verify: failed: %s", why)
    message = f"Verify run of {handle.path} {shown} {why}; not executing it, this process carries on."
    if tail.strip():
        message += "\nIts stderr ended with:\n" + tail.rstrip()
    raise VerifyError(message, path=handle.path, args=list(args), returncode=None if timed_out else code,
                      timed_out=timed_out, stderr_tail=tail)


def collect_output(pid: int, out_r: int, err_r: int, deadline: float, tail: int) -> tuple[int | None, bytes, bytes, bool]:
    """Read the child's stdout and stderr pipes (closed at the end; of stderr, at least
    the last `tail` bytes are kept) and reap it by `deadline`, else SIGKILL it: (wait
    status or None, stdout, stderr, timed out)."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    import selectors  # only when a verify run happens (import cost of every reexec())

    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    status = None
    timed_out = False
    exited_at = None
    try:
        while True:
            if status is None:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    status, exited_at = raw, time.monotonic()
            now = time.monotonic()
            if status is None and now >= deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            if not sel.get_map() and status is not None:
                break
            # Once it exited, what is left in the pipes is read; a grandchild holding
            # them open does not keep us past a short grace.
            if exited_at is not None and now - exited_at > 0.2:
                break
            for key, _ in sel.select(timeout=min(0.05, max(0.0, deadline - now))):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    chunks[key.fd].append(data)
                    if key.fd == err_r and sum(map(len, chunks[err_r])) > 4 * tail:
                        chunks[err_r] = [b"".join(chunks[err_r])[-tail:]]
                else:
                    sel.unregister(key.fd)
            if not sel.get_map() and status is None:
                # Pipes closed, child still running: wait for it without spinning.
                while status is None and time.monotonic() < deadline:
                    done, raw = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = raw
                    else:
                        time.sleep(0.002)
    finally:
        sel.close()
        os.close(out_r)
        os.close(err_r)
    return status, b"".join(chunks[out_r]), b"".join(chunks[err_r]), timed_out
