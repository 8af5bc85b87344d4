"""``reexec-native doctor``: what this platform offers and what the library will do.

Every exec tier is probed for real: a child process, restricted to that one tier
through the ``REEXEC_NATIVE_TIERS`` seam, opens a program and execs it; the tier works
if the program it became answers (``python -V``). A tier the seam leaves out is
reported as disabled and not probed. Snapshot methods (memfd, tmpfile) are probed the
same way through the ``REEXEC_NATIVE_SNAPSHOT`` seam, and the process name after an
exec through a descriptor (``comm``) by exec'ing ``cat /proc/self/comm``.

The probes run all at once, each a fork of the doctor (which has imported all they
need; without fork, on Windows, each is an ``-I -S`` interpreter of its own), while
a fork asks cargo (the longest part) and the doctor reads the rest. Nothing is
imported here that the report does not need (no platform, json, typing, subprocess
on POSIX): benchmarks/doctor.py measures what is left.
"""

from __future__ import annotations

import errno
import marshal
import os
import select
import sys
import time

TYPE_CHECKING = False  # not typing's: importing typing costs a few ms of every doctor
if TYPE_CHECKING:
    import subprocess  # (imported where used: a POSIX doctor runs no subprocess itself)
    from collections.abc import Callable
    from typing import Any

PROBE_TIMEOUT = 30.0  # seconds for all probes (they run at once); a probe still running then is killed
# What the probe program prints: it is this interpreter, run as `python -V`.
MARKER = "Python {}.{}.{}".format(*sys.version_info[:3])
_FORK = hasattr(os, "fork")  # else (Windows) each probe is an interpreter of its own, running this:
_PROBE = r"""
import sys
n = int(sys.argv[1])
sys.path[:0] = sys.argv[2:2 + n]  # the doctor's own: same package, same cffi
from reexec_native._doctor import probe_here
sys.exit(probe_here(*sys.argv[2 + n:6 + n], sys.argv[6 + n:]))
"""

# Human-readable names of the tiers, in the order the C core tries them.
TIER_LABELS = {
    "execveat": "execveat(fd, \"\", AT_EMPTY_PATH)",
    "fexecve": "fexecve(fd) (ELF only)",
    "path": "execve(path) after (dev, ino) check",
    "createprocess": "CreateProcessW hand-over",
}

# (strongest exec, how atomic it is) per sys.platform; the C side is csrc/posix/reexec_posix.c
# and csrc/windows/reexec_win.c (the README's platform table says the same, per wheel).
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


def platform_exec(platform: str = sys.platform) -> dict[str, str]:
    """The exec this platform gives and how atomic it is (sys.platform values)."""
    key = "freebsd" if platform.startswith("freebsd") else platform
    exec_text, atomic = _EXEC_BY_PLATFORM.get(key, _OTHER)
    return {"exec": exec_text, "atomic": atomic}


def platform_notes(platform: str = sys.platform) -> list[str]:
    """Limits of this platform a user can act on (sys.platform values)."""
    return list(_NOTES.get(platform, ()))


def probe_here(variable: str, value: str, method: str, path: str, argv: list[str]) -> int:
    """One probe, in the process it replaces: with the seam `variable`=`value` set, open
    `path` (as a copy made by `method`, if given) and exec it with `argv`. Returns 3
    after writing "probe-failed ERRNO TIER" and the error's text to stderr (for a copy
    that could not be made: "refused", and why, e.g. a program that loads libraries
    from $ORIGIN, as Debian's PyPy does, gets no copy outside its directory)."""
    from . import open_exe  # the public name: what an application calls (and what tests may replace)

    os.environ[variable] = value
    try:
        handle = open_exe(path, snapshot="required" if method else False)
        if method and handle.snapshot != method:
            sys.stderr.write(f"probe-failed refused snapshot-{method}\nno {method} copy could be made\n")
            return 3
        handle.exec(argv)
    except OSError as exc:
        if method and getattr(exc, "tier", None) == "snapshot":  # snapshot="required": none could be made
            sys.stderr.write(f"probe-failed refused snapshot-{method}\n{exc.strerror or exc}\n")
            return 3
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        if exc.errno is None and getattr(exc, "winerror", None):
            name = f"WinError {getattr(exc, 'winerror', 0)}"
        sys.stderr.write(f"probe-failed {name} {getattr(exc, 'tier', '?')}\n{exc}\n")
    return 3


class _Probes:
    """The probes of one report, running at once: forks of this process, which has
    imported all they need (without fork, one interpreter each). Each fills its entry
    (a dict of the report) when it ends; one still running at PROBE_TIMEOUT is killed."""

    def __init__(self) -> None:
        self.jobs: list[tuple[dict[str, Any], bool, tuple[str, str, str, str], list[str]]] = []
        self.running: list[tuple[dict[str, Any], bool, int, subprocess.Popen[bytes] | None, dict[int, bytearray]]] = []
        self.deadline = 0.0

    def add(self, entry: dict[str, Any], variable: str, value: str, method: str = "",
            program: tuple[str, list[str]] | None = None) -> None:
        """Exec `program` (path, argv; by default this interpreter's `-V`, which prints
        MARKER) with the seam `variable`=`value` set, as a copy made by `method` if given."""
        path, argv = program or (sys.executable, [sys.executable, "-V"])
        self.jobs.append((entry, program is None, (variable, value, method, path), argv))

    def start(self) -> None:
        # what each probe's exec imports: once here, not in every fork
        from . import _elf, _snapshot
        from ._exe import ExeHandle
        from ._startup import DEFAULT_GUARD

        del _elf, _snapshot, ExeHandle
        self.deadline = time.monotonic() + PROBE_TIMEOUT
        sys.stdout.flush()  # nothing of ours may reach a probe's output
        sys.stderr.flush()
        parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = [parent, *(p for p in sys.path if p and p != parent)]
        env = {k: v for k, v in os.environ.items() if k != DEFAULT_GUARD}
        for entry, marker, seam, argv in self.jobs:
            pipes: list[int] = []
            try:
                if not _FORK:
                    import subprocess

                    self.running.append((entry, marker, -1, subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", _PROBE, str(len(path)), *path, *seam, *argv], env=env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE), {}))
                    continue
                pipes += os.pipe()
                pipes += os.pipe()
                pid = os.fork()
            except OSError as exc:  # no process or descriptor left (EAGAIN, EMFILE): that probe says so
                for fd in pipes:
                    os.close(fd)
                entry.update(status="fails", errno=None, detail=f"probe did not run: {exc}")
                continue
            out, out_w, err, err_w = pipes
            if pid == 0:  # the probe: it never returns into the doctor
                code = 1
                try:
                    for fd, target in ((os.open(os.devnull, os.O_RDONLY), 0), (out_w, 1), (err_w, 2)):
                        os.dup2(fd, target)
                    os.environ.pop(DEFAULT_GUARD, None)
                    code = probe_here(*seam, argv)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    sys.stderr.flush()
                    os._exit(code)
            os.close(out_w)
            os.close(err_w)
            self.running.append((entry, marker, pid, None, {out: bytearray(), err: bytearray()}))

    def finish(self) -> None:
        reading = {fd: buf for *_, bufs in self.running for fd, buf in bufs.items()}
        while reading:
            ready = select.select(list(reading), [], [], max(0.0, self.deadline - time.monotonic()))[0]
            if not ready:
                break
            for fd in ready:
                data = os.read(fd, 65536)
                reading[fd] += data
                if not data:
                    del reading[fd]
                    os.close(fd)
        for entry, marker, pid, proc, bufs in self.running:
            killed = any(fd in reading for fd in bufs)
            if proc is None:
                if killed:
                    os.kill(pid, 9)
                    for fd in set(bufs) & set(reading):
                        del reading[fd]
                        os.close(fd)
                code: int | None = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                out, err = (bytes(buf) for buf in bufs.values())
            else:
                import subprocess

                try:
                    out, err = proc.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
                    killed = True
                code = proc.returncode
            entry.update(_verdict(None if killed else code, out.decode(errors="replace").strip(),
                                  err.decode(errors="replace"), marker))


def _in_background(work: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Start `work` (which returns plain data) in a fork, while the doctor goes on; the
    function returned waits for its answer. Without fork, or when the fork did not answer
    (it raised), `work` runs here when its answer is asked for (and raises here)."""
    if not _FORK:
        return work
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process left to make: `work` runs here
        os.close(read)
        os.close(write)
        return work
    if pid == 0:  # never returns into the doctor
        try:
            with open(write, "wb") as pipe:
                pipe.write(marshal.dumps(work()))
        finally:
            os._exit(0)
    os.close(write)

    def answer() -> dict[str, Any]:
        with open(read, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        return marshal.loads(data) if data else work()

    return answer


def _verdict(code: int | None, out: str, err: str, marker: bool) -> dict[str, Any]:
    """What one probe's exit code and output say: works (the program it became printed
    MARKER, or for `comm` anything), or fails with the errno and text the probe wrote."""
    if code is None:
        return {"status": "fails", "errno": None,
                "detail": f"probe did not finish within {PROBE_TIMEOUT:g} s (killed)"}
    if code == 0 and (out.startswith(MARKER) if marker else out):
        return {"status": "works"} if marker else _comm(out)
    lines = err.strip().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("probe-failed "):
            return {"status": "fails", "errno": line.split(" ", 2)[1],
                    "detail": lines[i + 1] if i + 1 < len(lines) else ""}
    tail = lines[-1] if lines else ""
    return {"status": "fails", "errno": None, "detail": f"probe exited with {code}: {tail}".strip()}


def _comm(comm: str) -> dict[str, Any]:
    """The name the kernel gave `cat` exec'd through a descriptor (execveat): a number
    (the descriptor's) before Linux 6.14, commit 543841d18060; see _startup."""
    if comm.isdigit():
        return {"status": "fails", "errno": "fd-number", "comm": comm,
                "detail": f"a program exec'd through a descriptor is named {comm!r} (its fd number; "
                          "kernel before 6.14): ps -C/pgrep/pkill miss it; Python programs that import "
                          "reexec_native get their name back"}
    return {"status": "works", "comm": comm, "detail": f"exec through a descriptor keeps the name ({comm})"}


# O_PATH as Linux defines it (asm-generic/fcntl.h) on every architecture but alpha,
# parisc and sparc: for an os module that has no O_PATH although the kernel does (PyPy).
# The C core opens with the libc's own.
_LINUX_O_PATH = 0o10000000
_OWN_O_PATH = ("alpha", "parisc", "sparc")


def _o_path() -> dict[str, Any]:
    flag = getattr(os, "O_PATH", None)
    if flag is None and sys.platform.startswith("linux") and not os.uname().machine.startswith(_OWN_O_PATH):
        flag = _LINUX_O_PATH
    if flag is None:
        return {"status": "unsupported", "detail": "os.O_PATH is not defined on this platform"}
    try:
        fd = os.open(sys.executable, flag | os.O_CLOEXEC)
    except OSError as exc:
        return {"status": "fails", "errno": errno.errorcode.get(exc.errno or 0), "detail": str(exc)}
    os.close(fd)
    return {"status": "works"}


def _proc_self_fd() -> dict[str, Any]:
    if os.name == "nt":  # decided by OS: Wine maps /proc/self/fd to the Unix one
        return {"status": "unsupported", "detail": "no procfs on Windows"}
    if not os.path.isdir("/proc/self/fd"):
        return {"status": "unsupported", "detail": "/proc/self/fd does not exist (procfs not mounted?)"}
    fd = os.open(sys.executable, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        return {"status": "fails", "errno": errno.errorcode.get(exc.errno or 0), "detail": str(exc)}
    finally:
        os.close(fd)
    same = os.path.realpath(sys.executable) == target
    return {"status": "works" if same else "fails", "detail": f"fd link reads {target}"}


def _execve_check() -> dict[str, Any]:
    """Does the kernel have AT_EXECVE_CHECK (6.14+), which the pre-exec check uses?"""
    from ._binding import kernel_check
    from ._exe import open_exe

    with open_exe(sys.executable) as handle:
        err = kernel_check(handle.fd)
    if err == errno.ENOSYS:
        return {"status": "unsupported", "detail": "kernel before 6.14 (or execveat refused)"}
    if err:
        return {"status": "fails", "errno": errno.errorcode.get(err), "detail": os.strerror(err)}
    return {"status": "works"}


def _native() -> dict[str, Any]:
    """Whether the C extension loads; if not, where it was looked for and why it failed."""
    from importlib import import_module

    try:
        binding = import_module(f"{__package__}._binding")  # the one importer of _native; its error names it
    except Exception as exc:  # an ImportError usually; a broken extension's init may raise anything
        from importlib.machinery import EXTENSION_SUFFIXES

        package = os.path.dirname(os.path.abspath(__file__))
        try:
            present = sorted(name for name in os.listdir(package) if name.startswith("_native."))
        except OSError:
            present = []
        return {
            "loaded": False,
            "module": f"{__package__}._native",
            "looked_for": [os.path.join(package, "_native" + suffix) for suffix in EXTENSION_SUFFIXES],
            "present": present,
            "error": f"{type(exc).__name__}: {exc}",
        }
    return {"loaded": True, "file": binding.native_file()}


def _cargo() -> dict[str, Any]:
    """reexec()'s default fallback: which cargo, its version, and whether it would run
    from here (asked as the fallback asks, while `cargo --version` runs)."""
    import subprocess

    from .cargo import CargoRun, ask_workspace

    run = CargoRun()
    info: dict[str, Any] = {"program": run.cargo_program(), "CARGO": os.environ.get("CARGO"), "mode": run.mode}
    try:
        info["path"] = run.resolve_cargo()
    except OSError as exc:
        info.update(found=False, path=None, error=str(exc))
        return info
    info["found"] = True
    version: subprocess.Popen[bytes] | None = None
    try:
        version = subprocess.Popen([info["path"], "--version"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        info.update(version=None, error=str(exc))
    answer = ask_workspace(info["path"], run.package, [], {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()})
    info["workspace"] = {"root": answer.root, "runs": answer.stage is None,
                         "refusal": None if answer.stage is None else f"{answer.stage}: {answer.why}"}
    if version is not None:
        try:
            info["version"] = version.communicate(timeout=30)[0].decode(errors="replace").strip() or None
        except subprocess.TimeoutExpired as exc:
            version.kill()
            version.communicate()
            info.update(version=None, error=str(exc))
    return info


def _system() -> dict[str, Any]:
    """OS name, kernel, machine, libc. On Windows from sys.getwindowsversion() and the
    environment: platform.system()/uname() run a WMI query there, which Wine 8 cannot
    answer (the process ends in winedbg). Elsewhere from os.uname() and, for glibc,
    confstr (what platform.libc_ver() asks first; importing platform costs more)."""
    if sys.platform == "win32":
        version = sys.getwindowsversion()  # type: ignore[attr-defined]
        release = f"{version.major}.{version.minor}.{version.build}"
        machine = os.environ.get("PROCESSOR_ARCHITECTURE", "unknown")
        return {"system": "Windows", "kernel": release, "machine": machine,
                "uname": f"Windows {release} {machine}", "libc": None}
    uname = os.uname()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    if len(libc.split()) != 2:  # not glibc: platform looks in the interpreter's file
        import platform

        libc = " ".join(platform.libc_ver()).strip()
    return {"system": uname.sysname, "kernel": uname.release, "machine": uname.machine,
            "uname": " ".join(uname), "libc": libc or None}


def diagnose(probe: bool = True) -> dict[str, Any]:
    """Everything ``doctor`` reports, as plain data (what ``--json`` prints)."""
    report: dict[str, Any] = {
        "platform": {**_system(), "python": sys.version.split()[0], "implementation": sys.implementation.name,
                     "executable": sys.executable},
        "native": _native(),
        "platform_exec": platform_exec(),
        "platform_notes": platform_notes(),
        "package": os.path.dirname(os.path.abspath(__file__)),
    }
    if not report["native"]["loaded"]:  # nothing below can run without it: say so, exit 1
        report["plan"] = {"fast_path": [], "fallback": None, "ok": False,
                          "refuses": "ImportError: the C extension did not load (broken install)"}
        return report
    cargo = _in_background(_cargo)  # (the longest part: two cargo runs)
    from ._binding import TIER_BITS, TIERS_ENV, requested_tiers, supported_tiers
    from ._exe import current_exe
    from ._startup import DEFAULT_GUARD

    probes = _Probes() if probe else None
    seam = report[TIERS_ENV] = os.environ.get(TIERS_ENV)
    seam_error = None
    try:
        wanted = requested_tiers()
    except ValueError as exc:
        seam_error = str(exc)
        wanted = 0
    report["seam_error"] = seam_error
    invalid = None if seam_error is None else f"{TIERS_ENV} is invalid: {seam_error}"
    report["tiers"] = {name: _entry({"label": TIER_LABELS.get(name, name)}, supported_tiers() & bit,
                                    invalid or (None if wanted & bit else f"disabled by {TIERS_ENV}={seam}"),
                                    probes, TIERS_ENV, name)
                       for name, bit in TIER_BITS.items()}
    report["snapshot"] = _snapshot_methods(probes, seam_error, wanted)
    features = report["features"] = {"O_PATH": _o_path(), "/proc/self/fd": _proc_self_fd()}
    if probes and sys.platform.startswith("linux"):
        comm: dict[str, Any] = {}  # the process name after an exec through a descriptor: see _startup
        features["comm"] = comm
        cat = next((path for path in (os.path.join(d, "cat") for d in os.get_exec_path() if d)  # as shutil.which
                    if os.access(path, os.X_OK) and not os.path.isdir(path)), None)  # (without its import)
        if cat:
            probes.add(comm, TIERS_ENV, "execveat", program=(cat, ["cat", "/proc/self/comm"]))
        else:
            comm.update(status="unsupported", detail="needs Linux and cat")
        features["AT_EXECVE_CHECK"] = _execve_check()
    try:
        report["current_exe"] = {"path": current_exe()}
    except OSError as exc:
        report["current_exe"] = {"path": None, "error": str(exc)}
    # (before the probes start: it finds the temporary directory, which each copy asks for)
    report["snapshot_order"] = _snapshot_order(report["current_exe"]["path"] or sys.executable)
    if probes:
        probes.start()
    report["cargo"] = cargo()
    report["guard"] = {"name": DEFAULT_GUARD, "set": bool(os.environ.get(DEFAULT_GUARD))}
    if probes:
        probes.finish()
    report["plan"] = _plan(report)
    return report


def _snapshot_methods(probes: _Probes | None, tier_seam_error: str | None = None, tiers: int = -1) -> dict[str, Any]:
    """Each way snapshot=True can copy a program: unsupported (not Linux), disabled by
    the REEXEC_NATIVE_SNAPSHOT seam (or by a tier seam without a descriptor tier: a
    copy has no path), or probed: a copy of the probe program exec'd."""
    from ._binding import SNAPSHOT_BITS, SNAPSHOT_ENV, TIER_BITS, TIERS_ENV, requested_methods, snapshot_methods

    seam = os.environ.get(SNAPSHOT_ENV)
    try:
        wanted = requested_methods()
    except ValueError as exc:
        return {name: {"status": "disabled", "detail": str(exc)} for name in SNAPSHOT_BITS}
    no_fd_tier = None
    if tier_seam_error is not None:
        no_fd_tier = f"{TIERS_ENV} is invalid: {tier_seam_error}"
    elif not tiers & (TIER_BITS["execveat"] | TIER_BITS["fexecve"]):
        no_fd_tier = (f"a sealed copy has no path, so only execveat or fexecve can run it, and "
                      f"{TIERS_ENV}={os.environ.get(TIERS_ENV)} leaves both out")
    return {name: _entry({}, snapshot_methods() & bit,
                         no_fd_tier or (None if name in wanted else f"disabled by {SNAPSHOT_ENV}={seam}"),
                         probes, SNAPSHOT_ENV, name, name)
            for name, bit in SNAPSHOT_BITS.items()}


def _entry(entry: dict[str, Any], supported: int, disabled: str | None, probes: _Probes | None,
           variable: str, value: str, method: str = "") -> dict[str, Any]:
    """A tier's or method's entry: unsupported, disabled (why), probed with the seam
    `variable`=`value` (and a copy by `method`: see _Probes.add) or not probed."""
    if not supported:
        entry["status"] = "unsupported"
    elif disabled:
        entry.update(status="disabled", detail=disabled)
    elif probes:
        probes.add(entry, variable, value, method)
    else:
        entry["status"] = "not probed"
    return entry


def _snapshot_order(path: str) -> list[list[str | None]]:
    """[method, directory or None] in the order snapshot mode tries them for `path`
    (the running program: what reexec() re-executes by default); [] when the seam is
    invalid (the methods' entries say why)."""
    from ._snapshot import plan

    try:
        return [[method, where] for method, where in plan(path)]
    except (ValueError, OSError):
        return []


def _snapshot_plan(report: dict[str, Any]) -> str:
    """What snapshot mode will run here: the first copy that works, or the file itself."""
    usable = ("works", "not probed")
    for method, where in report["snapshot_order"]:
        if report["snapshot"].get(method, {}).get("status") in usable:
            return f"a sealed copy ({method}{f' in {where}' if where else ''}, else the next)"
    return ("the file itself: no sealed copy can be made here, so snapshot=True runs the file "
            "(with a SnapshotWarning) and snapshot='required' refuses, running nothing")


def _plan(report: dict[str, Any]) -> dict[str, Any]:
    """What reexec() will do here, in order."""
    tiers = [name for name, entry in report["tiers"].items()
             if entry["status"] in ("works", "not probed")]
    cargo = report["cargo"]
    # What reexec() refuses before trying anything (it raises; nothing runs).
    refuses = None
    if report.get("seam_error"):
        refuses = f"ValueError: {report['seam_error']}"
    elif report["guard"]["set"]:
        refuses = (f"RecursionGuardError: {report['guard']['name']} is set, so this process is "
                   "itself a re-exec (guard=None allows it)")
    return {
        "fast_path": tiers,
        "fallback": f"cargo {cargo['mode']} ({cargo['path']})" if cargo.get("found") else
                    f"cargo {cargo['mode']}, which will fail: cargo not found",
        "refuses": refuses,
        "snapshot": _snapshot_plan(report),
        "ok": bool(tiers),
    }


def _line(label: str, value: str) -> str:
    return f"  {label:<22} {value}"


def _status(entry: dict[str, Any], label: str = "", quiet: tuple[str, ...] = ("works", "unsupported")) -> str:
    """One probed entry: its status ("fails: ERRNO" for a failure), its label, and its
    detail unless the status is one of `quiet` (they say it all)."""
    status = entry["status"] if entry["status"] != "fails" else f"fails: {entry.get('errno') or '?'}"
    text = f"{status:<12} {label}" if label else status
    detail = entry.get("detail") if entry["status"] not in quiet else None
    return text + (f" -- {detail}" if detail else "")


def _broken_install(native: dict[str, Any]) -> list[str]:
    """The report's end when the C extension did not load."""
    return [
        f"Broken install: the C extension {native['module']} did not load",
        _line("looked for", native["looked_for"][0] if native["looked_for"] else "?"),
        *(_line("", path) for path in native["looked_for"][1:]),
        _line("present there", ", ".join(native["present"]) or "no _native.* file"),
        _line("import error", native["error"]),
        "",
        "reexec() cannot exec anything here (import reexec_native works; its first exec fails).",
        "Reinstall the package for this interpreter: python -m pip install --force-reinstall reexec-native",
    ]


def format_report(report: dict[str, Any]) -> str:
    """The human table."""
    p = report["platform"]
    native = report["native"]
    out = ["Platform"]
    out.append(_line("system", f"{p['system']} {p['kernel']} ({p['machine']})"))
    out.append(_line("libc", p["libc"] or "unknown"))
    out.append(_line("python", f"{p['implementation']} {p['python']} at {p['executable']}"))
    out.append(_line("native module", f"loaded ({native['file']})" if native["loaded"]
                     else f"NOT loaded: {native['error']}"))
    out.append(_line("exec on this OS", "{exec}; {atomic}".format(**report["platform_exec"])))
    out.extend(_line("note", note) for note in report.get("platform_notes", []))
    out.append("")
    if not native["loaded"]:
        return "\n".join([*out, *_broken_install(native)])
    from ._binding import TIERS_ENV

    seam = report.get(TIERS_ENV)
    out.append(f"Exec tiers (in order; {TIERS_ENV}={seam if seam is not None else '<unset>'})")
    for name, entry in report["tiers"].items():
        out.append(_line(name, _status(entry, label=entry["label"])))
    out.append("")
    out.append("Snapshot methods (snapshot=True, in the order it tries them)")
    listed: set[str] = set()
    for method, where in report.get("snapshot_order", []):
        listed.add(method)
        entry = report["snapshot"].get(method, {"status": "unsupported"})
        out.append(_line(method, _status(entry) + (f" (a copy in {where})" if where else "")))
    for name, entry in report["snapshot"].items():  # those the order leaves out (seam, platform)
        if name not in listed:
            out.append(_line(name, _status(entry)))
    out.append(_line("snapshot mode runs", report["plan"]["snapshot"]))
    out.append("")
    out.append("Kernel features")
    for name, entry in report["features"].items():
        out.append(_line(name, _status(entry, quiet=("works",))))  # unsupported: the detail says why
    out.append("")
    exe = report["current_exe"]
    out.append(_line("current_exe()", exe["path"] or f"ERROR: {exe['error']}"))
    cargo = report["cargo"]
    if cargo.get("found"):
        out.append(_line("cargo", f"{cargo['path']}" + (f" ({cargo['version']})" if cargo.get("version") else "")))
        ws: dict[str, Any] = cargo.get("workspace") or {}
        out.append(_line("fallback from here", f"runs (workspace {ws.get('root')})" if ws.get("runs") else
                         f"refused, nothing would run ({ws.get('refusal')})"))
    else:
        out.append(_line("cargo", f"not found: {cargo.get('error')}"))
    guard = report["guard"]
    out.append(_line("guard", f"{guard['name']} is {'SET (reexec() will refuse)' if guard['set'] else 'not set'}"))
    plan = report["plan"]
    out.append("")
    if plan.get("refuses"):
        out.append(f"reexec() will refuse and run nothing: {plan['refuses']}")
    else:
        fast = " -> ".join(plan["fast_path"]) or "none (every exec goes to the fallback)"
        out.append(f"reexec() will try: {fast}; then {plan['fallback']}")
    return "\n".join(out)
