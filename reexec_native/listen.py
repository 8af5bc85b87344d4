"""The receiving side of socket activation, as ``sd_listen_fds(3)`` does it.

A program started by systemd, by ``systemd-socket-activate``, or by
``reexec(listen_fds=...)`` finds its descriptors at 3, 4, ... with ``LISTEN_FDS=n``
and ``LISTEN_PID`` its own PID, and (systemd v258+, Linux 6.9+) ``LISTEN_PIDFDID``
its own pidfd inode id, which unlike a PID is never reused (variables meant for
another process, e.g. inherited by a child, are ignored). These functions check
that, as ``sd_listen_fds`` does, unset the variables (so the
programs this one starts do not take the descriptors for their own) and mark the
descriptors close-on-exec: pass them on explicitly with ``reexec(listen_fds=...)``.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket

LISTEN_FDS_START = 3
_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDNAMES")


def _unset() -> None:
    for name in _VARS:
        os.environ.pop(name, None)


def listen_fds(unset_environment: bool = True) -> list[tuple[int, str]]:
    """``[(fd, name), ...]`` passed to this process; names are ``"unknown"`` where
    LISTEN_FDNAMES gave none (systemd's default). Empty when LISTEN_PID is not this
    process's PID, when LISTEN_PIDFDID is set and is not this process's pidfd inode id
    (where the kernel has one to compare: else it is not checked, as sd_listen_fds
    does), or nothing was passed. ValueError for malformed variables. As
    sd_listen_fds(1), the variables are unset whether or not this succeeds."""
    try:
        return _received()
    finally:
        if unset_environment:
            _unset()


def _received() -> list[tuple[int, str]]:
    pid_text = os.environ.get("LISTEN_PID")
    count_text = os.environ.get("LISTEN_FDS")
    if not pid_text or count_text is None:
        return []
    try:
        pid = int(pid_text)
        count = int(count_text)
    except ValueError:
        raise ValueError(f"malformed LISTEN_PID={pid_text!r} / LISTEN_FDS={count_text!r}") from None
    if not _meant_for_us(pid):
        return []  # meant for another process (we inherited it)
    if count < 0:
        raise ValueError(f"malformed LISTEN_FDS={count_text!r}")
    names_text = os.environ.get("LISTEN_FDNAMES")
    names = names_text.split(":") if names_text else []
    names += ["unknown"] * (count - len(names))
    fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + count))
    for fd in fds:
        os.set_inheritable(fd, False)  # OSError EBADF names a descriptor that is not there
    return list(zip(fds, names[:count], strict=False))


def _meant_for_us(pid: int) -> bool:
    """LISTEN_PID is ours and LISTEN_PIDFDID, when set, is our pidfd inode id (a
    recycled PID has another); without pidfs there is nothing to compare it with."""
    if pid != os.getpid():
        return False
    text = os.environ.get("LISTEN_PIDFDID")
    if text is None:
        return True
    if not text.isdigit() or not text.isascii() or int(text) >= 1 << 64:
        raise ValueError(f"malformed LISTEN_PIDFDID={text!r}")
    from ._binding import pidfd_id  # the C core only when systemd v258+ gave an id

    err, own = pidfd_id(os.getpid())
    return err != 0 or own == int(text)


def listen_sockets(unset_environment: bool = True) -> list[socket.socket]:
    """The passed descriptors as socket objects (family, type and protocol read from
    each descriptor), in order. A passed descriptor that is not a socket (systemd can
    pass FIFOs) raises OSError ENOTSOCK naming it, before anything is consumed (the
    variables stay): use listen_fds() for those."""
    import socket

    _check_sockets()
    return [socket.socket(fileno=fd) for fd, _name in listen_fds(unset_environment)]


def _check_sockets() -> None:
    import errno

    pid_text = os.environ.get("LISTEN_PID", "").strip()
    try:
        if not pid_text.isdigit() or not _meant_for_us(int(pid_text)):
            return
    except ValueError:
        return  # listen_fds() reports it
    count = os.environ.get("LISTEN_FDS", "").strip()
    if not count.isdigit():
        return  # listen_fds() reports it
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return  # listen_fds() reports it
        if not stat.S_ISSOCK(mode):
            raise OSError(errno.ENOTSOCK, f"{os.strerror(errno.ENOTSOCK)}: passed descriptor {fd} "
                          "is not a socket (use reexec_native.listen_fds())")
