"""The process name (/proc/PID/comm) after an exec through a descriptor.

The kernel names a process after the file it executed: the last part of the path
given to exec. Through a descriptor that path is ``/dev/fd/N`` (execveat with
AT_EMPTY_PATH, and glibc's fexecve) or ``/proc/self/fd/N`` (glibc's fallback where
execveat is refused): the name becomes ``N``, a number, and ``ps -C``, ``pgrep``,
``pkill`` and ``killall`` stop finding the program (systemd made its fexecve use
opt-in for this reason, systemd PR #17079). Linux 6.14 fixed the execveat case:
commit 543841d18060 "exec: fix up /proc/pid/comm in the execveat(AT_EMPTY_PATH)
case" (Tycho Andersen; merged for v6.14-rc1, after an argv[0]-based first version,
7bdc6fc85c9a, sent for 6.13, was reworked to take the name from the file's dentry;
backported to some stable trees). The /proc/self/fd/N path still gives ``N``.

``reexec-native doctor`` execs ``cat /proc/self/comm`` through a descriptor and
reports what the kernel called it (``comm``). ``restore()`` runs when reexec_native is imported
by a re-executed Python program: if its name is a number, it is set back to the
interpreter's file name, by writing /proc/self/comm (prctl(PR_SET_NAME) without
ctypes: one small read, and a write only when needed).
"""

from __future__ import annotations

import os
import sys

COMM_MAX = 15  # TASK_COMM_LEN - 1


def _read_comm() -> str | None:
    try:
        with open("/proc/self/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("utf-8", "replace")
    except OSError:
        return None


def wanted_name() -> str:
    """What the kernel would have called us had we been started by path."""
    source = getattr(sys, "executable", "") or (sys.orig_argv[0] if getattr(sys, "orig_argv", None) else "")
    return os.path.basename(source)[:COMM_MAX]


def restore() -> bool:
    """Give this process its name back if exec through a descriptor made it a number;
    True if it was changed."""
    comm = _read_comm()
    if not comm or not comm.isdigit():
        return False
    name = wanted_name()
    if not name or name.isdigit():
        return False
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(os.fsencode(name))
    except OSError:
        return False
    return True

