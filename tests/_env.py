"""The environment of the children both suites start (tests/ and, inside Windows
CPython, tests/windows/): the runner's own, without what would change what the
library does in them."""

from __future__ import annotations

import errno
import functools
import os
import subprocess
import sys

# The default guard (a child would refuse to re-exec), the test seams (tiers, snapshot
# methods), a cargo chosen by whoever runs the tests (cargo itself sets CARGO for the
# programs it runs), and unbuffered stdio (some tests watch what buffering does).
INHERITED_NOT = frozenset({"BITNET_REPAIR_PARENT", "REEXEC_NATIVE_TIERS", "REEXEC_NATIVE_SNAPSHOT", "CARGO",
                           "PYTHONUNBUFFERED"})


#: A fake cargo's (a sh script's) first line: it answers the cargo fallback's check
#: before anything runs (`cargo metadata --no-deps ...`) as a workspace with an xtask
#: package would, so the script's own body runs only as `cargo run`/`cargo build`.
FAKE_CARGO_METADATA = ("if [ \"$1\" = metadata ]; then echo "
                       "'{\"packages\": [{\"name\": \"xtask\"}], \"workspace_root\": \"/fake-ws\"}'; exit 0; fi")


def fake_workspace(directory) -> None:
    """A Cargo.toml in `directory` that the fallback's own reading of the files cannot
    settle (a package of its own, not xtask), so it asks cargo, and a fake cargo's
    FAKE_CARGO_METADATA answers. Without any Cargo.toml the files settle a no."""
    with open(os.path.join(directory, "Cargo.toml"), "w") as manifest:
        manifest.write('[package]\nname = "not-xtask"\nversion = "0.1.0"\n')


def child_env(**extra: str | None) -> dict[str, str]:
    """os.environ without INHERITED_NOT (on Windows, in any case), plus `extra`
    (a None value removes the variable)."""
    fold = str.upper if os.name == "nt" else str
    env = {k: v for k, v in os.environ.items() if fold(k) not in INHERITED_NOT}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


_FD_EXEC_PROBE = """\
import os, sys
fd = os.open(sys.executable, os.O_RDONLY | os.O_CLOEXEC)
try:
    os.execve(fd, [sys.executable, "-c", "pass"], dict(os.environ))
except OSError as e:
    print(e.errno, end="")
    sys.exit(3)
"""
def _run_probe(code: str) -> subprocess.CompletedProcess[str] | None:
    """`code` run once by this interpreter in a child (None off Linux: the probes below
    ask about Linux kernels)."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=child_env())


@functools.cache
def fd_exec_unavailable() -> str | None:
    """Why this machine cannot exec a program by descriptor (the fd tiers), or None.

    Under a binfmt_misc emulator (qemu-user running another architecture's programs)
    the kernel refuses execveat/fexecve of a close-on-exec descriptor with ENOENT: the
    interpreter is handed the program by path, and a close-on-exec descriptor's
    /dev/fd path would be gone (the rule for #! scripts). Found by trying it once, in
    a child, with this interpreter."""
    probe = _run_probe(_FD_EXEC_PROBE)
    if probe is None or probe.returncode != 3:
        return None
    code = int(probe.stdout or 0)
    return (f"exec by descriptor fails here with {errno.errorcode.get(code, code)}: "
            f"programs run under a binfmt_misc emulator (qemu-user), where the kernel "
            f"refuses execveat/fexecve of a close-on-exec descriptor; only the path "
            f"tier can run (the kernels leg runs the fd tiers on a real kernel)")


_SELF_EXE_PROBE = """
import os
print(os.stat(os.readlink("/proc/self/exe")).st_ino == os.stat("/proc/self/exe").st_ino, end="")
"""


@functools.cache
def proc_self_exe_emulated() -> str | None:
    """Why /proc/self/exe is not the kernel's link here, or None. qemu-user answers
    readlink and open of /proc/self/exe itself (with the emulated program's path and a
    descriptor of its own), while stat() still reaches the kernel's link (to qemu-user):
    the two name different files, and a deleted program keeps its plain path. Found by
    comparing them once, in a child, with this interpreter."""
    probe = _run_probe(_SELF_EXE_PROBE)
    if probe is None or probe.stdout != "False":
        return None
    return ("/proc/self/exe is the emulator's here: qemu-user answers readlink and open of "
            "it with the emulated program, stat with itself (the kernels leg reads the "
            "kernel's link on a real aarch64 kernel)")


def kernel_at_least(major: int, minor: int) -> bool:
    """Is the running Linux kernel major.minor or newer? For the tests whose expected
    outcome depends on a kernel feature the library adapts to (AT_EXECVE_CHECK 6.14,
    MFD_EXEC 6.3, pidfs 6.9): decided by the release, not by the library's own probe."""
    import platform
    import re

    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (major, minor)
