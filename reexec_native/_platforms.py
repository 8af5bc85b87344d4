"""What exec each operating system gives this package, in one sentence each, for
``reexec-native doctor`` (the README's platform table says the same, per wheel)."""

from __future__ import annotations

import sys

# (strongest exec, how atomic it is); the C side is csrc/posix/reexec_posix.c / csrc/windows/reexec_win.c.
_EXEC_BY_PLATFORM = {
    "linux": (("execveat on the O_PATH descriptor, then fexecve (verified ELF only), then "
               "execve(path) after a (dev, ino) check"),
              "atomic: the opened file runs, whatever its path names by then"),
    "freebsd": (("fexecve on an O_PATH|O_EXEC descriptor (verified ELF only; #! scripts go "
                 "by path), then execve(path) after a (dev, ino) check"),
                "atomic for ELF programs; scripts as on macOS"),
    "darwin": (("no fexecve or execveat: execve(path) after a (dev, ino) check of the "
                "O_EXEC descriptor"),
               "not atomic: a swap between the check and execve is not caught"),
    "win32": (("CreateProcessW hand-over of the pinned file (a share-read handle: it cannot "
               "be replaced until the child runs), then exit with its code"),
              "atomic against swaps; the program runs as a child, not in this process"),
}
_OTHER = ("execve(path) after a (dev, ino) check", "not atomic")


def platform_exec(platform: str = sys.platform) -> dict[str, str]:
    """The exec this platform gives and how atomic it is (sys.platform values)."""
    key = "freebsd" if platform.startswith("freebsd") else platform
    exec_text, atomic = _EXEC_BY_PLATFORM.get(key, _OTHER)
    return {"exec": exec_text, "atomic": atomic}


# What to know about a platform beyond its exec: limits a user can act on.
_NOTES = {
    "darwin": (
        "macOS kills a program whose file was rewritten in place (same inode: cp over it, "
        "open+truncate+write) with SIGKILL at every later exec: 'Killed: 9', exit 137, no "
        "output (the code-signing cache is keyed on the vnode). Replace the file by rename "
        "instead: write the new build to a temporary file in the same directory, then "
        "rename() it over the old one (cargo, install(1) and `cp` to a new name then `mv` do). "
        "Snapshot mode cannot help here: macOS has neither memfd nor O_TMPFILE.",
    ),
}


def platform_notes(platform: str = sys.platform) -> list[str]:
    """Limits of this platform a user can act on (sys.platform values), for doctor."""
    return list(_NOTES.get(platform, ()))
