"""Descriptors across the exec: systemd's socket-activation layout, and pass_fds.

``reexec(listen_fds=[...])`` puts the given descriptors at 3, 4, ... in the new
program, inheritable there and only there, with ``LISTEN_FDS``, ``LISTEN_PID``,
``LISTEN_PIDFDID`` (where the kernel has pidfd inode ids) and (when names are given)
``LISTEN_FDNAMES``; ``pass_fds`` keep their numbers. With
either, the descriptors above 2 that reach the new program are exactly these: every
other inheritable one is marked close-on-exec just before the exec. A failed exec
puts everything back (numbers, files, flags). The C core does the moving
(csrc/posix/reexec_fds.c); this module checks the input and holds the policy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Generator, Mapping, Sequence

from ._binding import LISTEN_FDS_START, FdPlanC, pidfd_id
from ._validate import is_sequence
from .errors import ExecError

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from ._exe import ExeHandle

LISTEN_VARS = (b"LISTEN_FDS", b"LISTEN_PID", b"LISTEN_PIDFDID", b"LISTEN_FDNAMES")
_NAME_MAX = 255  # systemd: FileDescriptorName= is at most 255 characters


def _fd_of(item: object, what: str) -> int:
    if isinstance(item, bool):
        raise TypeError(f"{what} must be a descriptor (int) or have fileno(), not bool")
    if isinstance(item, int):
        fd = item
    elif callable(fileno := getattr(item, "fileno", None)):
        returned: object = fileno()
        if not isinstance(returned, int) or isinstance(returned, bool):
            raise TypeError(f"{what}.fileno() returned {type(returned).__name__}, not int")
        fd = returned
    else:
        raise TypeError(f"{what} must be a descriptor (int) or have fileno() (a socket), "
                        f"not {type(item).__name__}")
    if fd < 0:
        raise ValueError(f"{what} is closed (fileno() is {fd})")
    if fd <= 2:
        raise ValueError(f"{what} is descriptor {fd}: 0-2 are stdin/stdout/stderr, which "
                         "every exec keeps; pass descriptors above 2")
    try:
        os.get_inheritable(fd)
    except OSError as exc:
        raise ValueError(f"{what} is descriptor {fd}, which is not open ({errno.errorcode.get(exc.errno or 0)})") from None
    return fd


def _fd_list(items: object, what: str) -> list[int]:
    if isinstance(items, (str, bytes)) or not is_sequence(items):
        raise TypeError(f"{what} must be a list or tuple of descriptors or sockets, not {type(items).__name__}")
    fds = [_fd_of(item, f"{what}[{i}]") for i, item in enumerate(items)]
    seen: dict[int, int] = {}
    for i, fd in enumerate(fds):
        if fd in seen:
            raise ValueError(f"{what}[{i}] is descriptor {fd} again ({what}[{seen[fd]}]): each may appear once")
        seen[fd] = i
    return fds


def _names(names: object, count: int) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not is_sequence(names):
        raise TypeError(f"listen_fdnames must be a list of str or None, not {type(names).__name__}")
    if len(names) != count:
        raise ValueError(f"listen_fdnames has {len(names)} names for {count} listen_fds: give one per descriptor")
    checked: list[str] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"listen_fdnames[{i}] must be str, not {type(name).__name__}")
        # systemd's fdname_is_valid(): 1-255 printable ASCII characters, no ':'.
        if not 0 < len(name) <= _NAME_MAX or ":" in name or not all(" " <= c <= "~" for c in name):
            raise ValueError(f"listen_fdnames[{i}]={name!r}: a name is 1-{_NAME_MAX} printable ASCII "
                             "characters without ':' (LISTEN_FDNAMES separates names with ':')")
        checked.append(name)
    return checked


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
        listen = None if listen_fds is None else _fd_list(listen_fds, "listen_fds")
        keep = [] if pass_fds is None else _fd_list(pass_fds, "pass_fds")
        if listen is None:
            if listen_fdnames is not None:
                raise ValueError("listen_fdnames given without listen_fds")
            if not keep:
                return None
            listen = []
        names = _names(listen_fdnames, len(listen))
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


@contextlib.contextmanager
def placed(plan: FdPlan, handle: ExeHandle) -> Generator[ExeHandle, None, None]:
    """Apply `plan` around an exec of `handle`: yields the handle to exec (a view on a
    moved descriptor when the handle's sat on a listen slot), and restores the table
    when the exec returns (it failed)."""
    c_plan = plan.c_plan(exempt=(handle.fd,))
    err = c_plan.place()
    if err:
        raise ExecError.of(err, f"{os.strerror(err)} (placing descriptors: {plan.describe()})", handle.path,
                           tier="fds")
    try:
        moved = c_plan.moved(handle.fd)
        if moved == handle.fd:
            yield handle
        else:
            view = handle.moved_to(moved)
            try:
                yield view
            finally:
                view.release()  # the plan owns that descriptor
    finally:
        c_plan.restore()
