"""``reexec-native doctor``: what this platform offers and what the library will do.

Every exec tier is probed for real: a child interpreter, restricted to that one tier
through the ``REEXEC_NATIVE_TIERS`` seam, opens a program and execs it; the tier
works if the program it became prints the marker. A tier the seam leaves out is
reported as disabled and not probed. Snapshot methods (memfd, tmpfile) are probed the
same way, through the ``REEXEC_NATIVE_SNAPSHOT`` seam.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from typing import Any

MARKER = "reexec-native-probe-ok"
PROBE_TIMEOUT = 30.0

# Run in a child: exec a tiny program through the tiers the seam allows (argv: the
# import path, the snapshot method the seam allows or "", the program).
_PROBE = r"""
import errno, json, sys, warnings
warnings.simplefilter("ignore")  # a SnapshotWarning: the check below says it in the probe's words
sys.path[:0] = json.loads(sys.argv[1])  # the doctor's own: same package, same cffi
from reexec_native import open_exe
method = sys.argv[2]
try:
    handle = open_exe(sys.argv[3], snapshot=bool(method))
    if method and handle.snapshot != method:
        sys.stderr.write("probe-failed refused snapshot-%s\nno %s copy could be made\n" % (method, method))
        sys.exit(3)
    handle.exec(sys.argv[3:])
except OSError as exc:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno is None and getattr(exc, "winerror", None):
        name = "WinError %d" % exc.winerror
    sys.stderr.write("probe-failed %s %s\n%s\n" % (name, getattr(exc, "tier", "?"), exc))
    sys.exit(3)
"""

# Human-readable names of the tiers, in the order the C core tries them.
TIER_LABELS = {
    "execveat": "execveat(fd, \"\", AT_EMPTY_PATH)",
    "fexecve": "fexecve(fd) (ELF only)",
    "path": "execve(path) after (dev, ino) check",
    "createprocess": "CreateProcessW hand-over",
}


def _import_path() -> str:
    """The doctor's sys.path, package directory first, for the isolated (-I -S) probe."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return json.dumps([parent, *(p for p in sys.path if p and p != parent)])


def _probe_program() -> list[str]:
    """The program the probe execs, with its arguments: this interpreter printing the marker."""
    return [sys.executable, "-I", "-S", "-c", f"print({MARKER!r})"]


def probe_tier(name: str, timeout: float = PROBE_TIMEOUT, snapshot: str | None = None) -> dict[str, Any]:
    """Exec a program through tier `name` alone (or, given `snapshot`, through a copy
    made by that method alone, by the tiers the seam allows), in a child;
    {"status": "works"} or {"status": "fails", "errno": ..., "detail": ...}."""
    from ._binding import SNAPSHOT_ENV, TIERS_ENV
    from ._startup import DEFAULT_GUARD

    env = {k: v for k, v in os.environ.items() if k != DEFAULT_GUARD}
    if snapshot:
        env[SNAPSHOT_ENV] = snapshot
    else:
        env[TIERS_ENV] = name
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE, _import_path(), snapshot or "", *_probe_program()],
            env=env, capture_output=True, text=True, errors="replace", timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": "fails", "errno": None, "detail": f"probe did not run: {exc}"}
    if proc.returncode == 0 and MARKER in proc.stdout:
        return {"status": "works"}
    first = proc.stderr.strip().splitlines()
    for i, line in enumerate(first):
        if line.startswith("probe-failed "):
            parts = line.split(" ", 2)
            detail = first[i + 1] if i + 1 < len(first) else ""
            return {"status": "fails", "errno": parts[1], "detail": detail}
    tail = first[-1] if first else ""
    return {"status": "fails", "errno": None,
            "detail": f"probe exited with {proc.returncode}: {tail}".strip()}


def _o_path() -> dict[str, Any]:
    flag = getattr(os, "O_PATH", None)
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
    from .cargo import CargoRun

    run = CargoRun()  # reexec()'s default fallback
    info: dict[str, Any] = {"program": run.cargo_program(), "CARGO": os.environ.get("CARGO"), "mode": run.mode}
    try:
        info["path"] = run.resolve_cargo()
    except OSError as exc:
        info.update(found=False, path=None, error=str(exc))
        return info
    info["found"] = True
    try:
        proc = subprocess.run([info["path"], "--version"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
        info["version"] = proc.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired) as exc:
        info["version"] = None
        info["error"] = str(exc)
    # Would the default fallback run from here? (It asks cargo the same before it runs.)
    from .cargo import ask_cargo

    answer = ask_cargo(info["path"], run.package, [], {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()})
    info["workspace"] = {"root": answer.root, "runs": answer.stage is None,
                         "refusal": None if answer.stage is None else f"{answer.stage}: {answer.why}"}
    return info


def _system() -> dict[str, Any]:
    """OS name, kernel, machine. On Windows from sys.getwindowsversion() and the
    environment: platform.system()/uname() run a WMI query there, which Wine 8 cannot
    answer (the process ends in winedbg)."""
    if sys.platform == "win32":
        version = sys.getwindowsversion()  # type: ignore[attr-defined]
        release = f"{version.major}.{version.minor}.{version.build}"
        machine = os.environ.get("PROCESSOR_ARCHITECTURE", "unknown")
        return {"system": "Windows", "kernel": release, "machine": machine,
                "uname": f"Windows {release} {machine}", "libc": None}
    import platform

    uname = os.uname() if hasattr(os, "uname") else None
    libc, libc_version = platform.libc_ver()
    return {
        "system": platform.system(),
        "kernel": uname.release if uname else platform.release(),
        "machine": uname.machine if uname else platform.machine(),
        "uname": " ".join(uname) if uname else platform.platform(),
        "libc": f"{libc} {libc_version}".strip() or None,
    }


def diagnose(probe: bool = True) -> dict[str, Any]:
    """Everything ``doctor`` reports, as plain data (what ``--json`` prints)."""
    from ._platforms import platform_exec, platform_notes

    report: dict[str, Any] = {
        "platform": {
            **_system(),
            "python": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "executable": sys.executable,
        },
        "native": _native(),
    }
    report["platform_exec"] = platform_exec()
    report["platform_notes"] = platform_notes()
    report["package"] = os.path.dirname(os.path.abspath(__file__))
    if not report["native"]["loaded"]:  # nothing below can run without it: say so, exit 1
        report["plan"] = {"fast_path": [], "fallback": None, "ok": False,
                          "refuses": "ImportError: the C extension did not load (broken install)"}
        return report
    from ._binding import TIER_BITS as TIERS
    from ._binding import TIERS_ENV, requested_tiers, supported_tiers
    from ._exe import current_exe
    from ._startup import DEFAULT_GUARD

    seam = os.environ.get(TIERS_ENV)
    report[TIERS_ENV] = seam
    seam_error = None
    try:
        wanted = requested_tiers()
    except ValueError as exc:
        seam_error = str(exc)
        wanted = 0
    report["seam_error"] = seam_error
    supported = supported_tiers()
    tiers: dict[str, Any] = {}
    for name, bit in TIERS.items():
        entry: dict[str, Any] = {"label": TIER_LABELS.get(name, name)}
        if not supported & bit:
            entry["status"] = "unsupported"
        elif seam_error is not None:
            entry["status"] = "disabled"
            entry["detail"] = f"{TIERS_ENV} is invalid: {seam_error}"
        elif not wanted & bit:
            entry["status"] = "disabled"
            entry["detail"] = f"disabled by {TIERS_ENV}={seam}"
        elif probe:
            entry.update(probe_tier(name))
        else:
            entry["status"] = "not probed"
        tiers[name] = entry
    report["tiers"] = tiers
    report["snapshot"] = _snapshot_methods(probe, seam_error, wanted)
    report["features"] = {"O_PATH": _o_path(), "/proc/self/fd": _proc_self_fd()}
    if probe and sys.platform.startswith("linux"):

        report["features"]["comm"] = probe_comm()
        report["features"]["AT_EXECVE_CHECK"] = _execve_check()
    try:
        report["current_exe"] = {"path": current_exe()}
    except OSError as exc:
        report["current_exe"] = {"path": None, "error": str(exc)}
    report["snapshot_order"] = _snapshot_order(report["current_exe"]["path"] or sys.executable)
    report["cargo"] = _cargo()
    report["guard"] = {"name": DEFAULT_GUARD, "set": bool(os.environ.get(DEFAULT_GUARD))}
    report["plan"] = _plan(report)
    return report


def _snapshot_methods(probe: bool, tier_seam_error: str | None = None, tiers: int = -1) -> dict[str, Any]:
    """Each way snapshot=True can copy a program: unsupported (not Linux), disabled by
    the REEXEC_NATIVE_SNAPSHOT seam (or by a tier seam without a descriptor tier: a
    copy has no path), or probed: a copy of the probe program exec'd."""
    from ._binding import SNAPSHOT_BITS as SNAPSHOT_METHODS
    from ._binding import SNAPSHOT_ENV, TIERS_ENV, requested_methods, snapshot_methods
    from ._binding import TIER_BITS as TIERS

    seam = os.environ.get(SNAPSHOT_ENV)
    try:
        wanted = requested_methods()
    except ValueError as exc:
        return {name: {"status": "disabled", "detail": str(exc)} for name in SNAPSHOT_METHODS}
    no_fd_tier = None
    if tier_seam_error is not None:
        no_fd_tier = f"{TIERS_ENV} is invalid: {tier_seam_error}"
    elif not tiers & (TIERS["execveat"] | TIERS["fexecve"]):
        no_fd_tier = (f"a sealed copy has no path, so only execveat or fexecve can run it, and "
                      f"{TIERS_ENV}={os.environ.get(TIERS_ENV)} leaves both out")
    methods: dict[str, Any] = {}
    for name, bit in SNAPSHOT_METHODS.items():
        if not snapshot_methods() & bit:
            methods[name] = {"status": "unsupported"}
        elif no_fd_tier is not None:
            methods[name] = {"status": "disabled", "detail": no_fd_tier}
        elif name not in wanted:
            methods[name] = {"status": "disabled", "detail": f"disabled by {SNAPSHOT_ENV}={seam}"}
        elif probe:
            methods[name] = probe_tier("snapshot", snapshot=name)
        else:
            methods[name] = {"status": "not probed"}
    return methods


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


def probe_comm(timeout: float = 30.0) -> dict[str, Any]:
    """Exec ``cat /proc/self/comm`` through a descriptor (execveat tier), in a child,
    and report the name the kernel gave it."""
    import shutil

    cat = shutil.which("cat")
    if cat is None or not sys.platform.startswith("linux"):
        return {"status": "unsupported", "detail": "needs Linux and cat"}
    code = ("import sys; from reexec_native import open_exe; "
            "open_exe(sys.argv[1]).exec(['cat', '/proc/self/comm'])")
    env = {k: v for k, v in os.environ.items() if k != "BITNET_REPAIR_PARENT"}
    env["REEXEC_NATIVE_TIERS"] = "execveat"
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = parent + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run([sys.executable, "-c", code, cat], capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": "fails", "errno": None, "detail": f"probe did not run: {exc}"}
    comm = proc.stdout.strip()
    if proc.returncode != 0 or not comm:
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        return {"status": "fails", "errno": None, "detail": f"probe exited with {proc.returncode}: {tail}"}
    if comm.isdigit():
        return {"status": "fails", "errno": "fd-number", "comm": comm,
                "detail": f"a program exec'd through a descriptor is named {comm!r} (its fd number; "
                          "kernel before 6.14): ps -C/pgrep/pkill miss it; Python programs that import "
                          "reexec_native get their name back"}
    return {"status": "works", "comm": comm, "detail": f"exec through a descriptor keeps the name ({comm})"}
