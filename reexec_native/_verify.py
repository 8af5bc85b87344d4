"""``reexec(verify=[...])``: run the opened image as a child first, exec only if it exits 0.

The child runs the very descriptor that will be executed (the C core forks and
runs reexec_exec on it: the same tiers, so the same inode), with argv[0] as the
real exec gives it, the verify arguments, and the new program's environment
without LISTEN_* (it gets no passed descriptors: none above 2, stdin /dev/null,
stdout and stderr captured). Past the timeout it is killed (SIGKILL).
"""

from __future__ import annotations

import errno
import os
import time

from . import _binding
from ._child import collect_output
from ._fds import LISTEN_VARS, FdPlan
from ._log import flush_stdio, log
from ._sigstate import ChildWait, keeping_mask
from ._validate import env_entries
from .errors import ExecError, VerifyError

TYPE_CHECKING = False  # typing is not imported at run time (import cost)
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._exe import ExeHandle

_TAIL = 2000  # bytes of stderr kept for the error


def verify_image(handle: ExeHandle, argv0: bytes, args: list[bytes], env: Mapping[bytes, bytes],
                 tiers: int, timeout: float) -> None:
    """Run `handle`'s program with `args`; return if it exits 0 within `timeout`, raise
    VerifyError otherwise (OSError ETXTBSY when it could not start because a writer
    holds the file: the retry loop waits for that)."""
    shown = " ".join(os.fsdecode(a) for a in args)
    log("Verify: %s %s (timeout %.1f s)", handle.path, shown, timeout)
    entries = env_entries({k: v for k, v in env.items() if k not in LISTEN_VARS})
    c_plan = FdPlan([], None, []).c_plan(exempt=(handle.fd,))
    path = None if handle.snapshot else os.fsencode(handle.path)
    if handle.snapshot:
        tiers &= ~_binding.TIER_BITS["path"]
    null_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    # SIGCHLD at its default while the child runs (the caller may ignore it: its status
    # would be lost); the child gets the caller's back, as the real exec will.
    with ChildWait() as chld:
        try:
            flush_stdio()
            raw = handle._opened()  # pyright: ignore[reportPrivateUsage]  # package-internal: the C handle
            err, pid = _binding.spawn(raw, path, [argv0, *args], entries, tiers, c_plan,
                                      (null_fd, out_w, err_w), sigchld=chld.for_child, keep_mask=keeping_mask())
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
        import signal

        why = f"was killed by signal {-code} ({signal.Signals(-code).name})"
    else:
        why = f"exited with status {code}"
    log("Verify: failed: %s", why)
    message = f"Verify run of {handle.path} {shown} {why}; not executing it, this process carries on."
    if tail.strip():
        message += "\nIts stderr ended with:\n" + tail.rstrip()
    raise VerifyError(message, path=handle.path, args=list(args), returncode=None if timed_out else code,
                      timed_out=timed_out, stderr_tail=tail)
