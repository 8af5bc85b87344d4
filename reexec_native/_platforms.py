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
