"""What ``import reexec_native`` itself does: cheap, and before the program can change things.

- ``START_DIR``: the working directory at import, start_dir()'s answer (recorded here,
  not when the public names first load their modules, so an os.chdir() between the
  import and the first use does not move it);
- in a re-executed process (its guard or a snapshot's marker is set), ``restore()``
  gives the process its name back when an exec through a descriptor made it a number.

The process name: the kernel names a process after the file it executed, the last
part of the path given to exec. Through a descriptor that path is ``/dev/fd/N``
(execveat with AT_EMPTY_PATH, and glibc's fexecve) or ``/proc/self/fd/N`` (glibc's
fallback where execveat is refused): the name becomes ``N``, a number, and ``ps -C``,
``pgrep``, ``pkill`` and ``killall`` stop finding the program (systemd made its
fexecve use opt-in for this reason, systemd PR #17079). Linux 6.14 fixed the execveat
case: commit 543841d18060 "exec: fix up /proc/pid/comm in the execveat(AT_EMPTY_PATH)
case" (backported to some stable trees). The /proc/self/fd/N path still gives ``N``.
``restore()`` writes /proc/self/comm (prctl(PR_SET_NAME) without ctypes: one small
read, and a write only when needed). ``reexec-native doctor`` probes what this kernel does.
"""

import os
import sys

#: The variable reexec() sets in the new process ("1"), so that it knows it is a re-exec.
DEFAULT_GUARD = "BITNET_REPAIR_PARENT"
#: Set in a process that runs a snapshot copy: the file the copy was made from.
ORIGINAL_EXE_ENV = "REEXEC_NATIVE_ORIGINAL_EXE"
COMM_MAX = 15  # TASK_COMM_LEN - 1


def _cwd_or_none() -> "str | None":
    try:
        return os.getcwd()
    except OSError:  # the start directory was already removed
        return None


START_DIR = _cwd_or_none()


def is_reexec() -> bool:
    """This process was started by reexec() (the default guard, or a snapshot's marker)."""
    return bool(os.environ.get(DEFAULT_GUARD) or os.environ.get(ORIGINAL_EXE_ENV))


def _read_comm() -> "str | None":
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
