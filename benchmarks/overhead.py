"""Fast-path overhead against the syscall floor.

Exec latency of stamp (a tiny static C program), from just before the exec call to
the new program's first clock read, for:

- floor          C process: open(O_PATH|O_CLOEXEC) + syscall(SYS_execveat) (benchmarks/c/floor.c)
- floor_execve   C process: execve(path)
- os_execv       Python: os.execv(path, argv), env via os.environ
- os_execve_fd   Python: os.open(path, O_PATH|O_CLOEXEC) + os.execve(fd, argv, env)
- py_execveat    Python: the same raw syscall through ctypes (the floor for a process as
                 big as a Python interpreter: exec must tear its address space down)
- reexec         reexec(argv, executable=path, env=env, guard=None, fallback=None,
                 retry_budget=0): validation, open_exe, fstat, signal/stdio hygiene, execveat

Each Python child is warmed first (its method run once on a file the kernel refuses),
so copy-on-write faults after fork() are not billed to the exec; the cold numbers
(first touch after fork) are reported separately under cold_after_fork.

Python methods run round-robin in a shuffled order, so their ratio is measured under
the same load, two ways:

- in a freshly started interpreter per run (the headline: a program calls reexec()
  from its own process, whose pages are all its own), after one warm-up call;
- in a child forked from this process (forked_child): cheaper to run, but copy-on-write
  skews it: whatever a method touches after fork() becomes private memory the exec
  must then tear down, so the method that does more Python work pays twice (measured:
  reexec()/os.execv 1.04 in fresh interpreters, about 1.4 in forked children).
 The timed region of every method
includes resolving the path (open or execve's lookup). The Python-side setup of
reexec() (what it does before the syscall) is timed separately, in-process.
"""

from __future__ import annotations

import ctypes
import os
import random
import subprocess

from _common import (
    STAMP_RE,
    ForkRunner,
    bench_env,
    child_environ,
    log,
    now_ns,
    quiet_reexec_logger,
    side_by_side,
    summary,
)

PY_METHODS = ("os_execv", "os_execve_fd", "py_execveat", "reexec")
SYS_EXECVEAT = 322  # x86_64; set per machine below
AT_EMPTY_PATH = 0x1000


def _sys_execveat_number() -> int | None:
    import platform
    return {"x86_64": 322, "aarch64": 281, "i686": 358, "riscv64": 281}.get(platform.machine())


def _floor(helpers, runs: int, mode: str) -> list[float]:
    out = subprocess.run([str(helpers.floor), str(runs), mode, str(helpers.stamp[0])],
                         capture_output=True, check=True, timeout=600)
    return [int(m.group(2)) / 1000 for m in STAMP_RE.finditer(out.stdout)]


def _methods(libc, nr):
    """Python exec methods: each takes (program, t0 source) and takes t0 last thing
    before its call."""
    from reexec_native import reexec
    argv = ["stamp"]

    def os_execv(program):
        os.environ.clear()
        os.environ["PATH"] = "/usr/bin:/bin"
        t0 = now_ns()
        os.environ["BENCH_T0"] = str(t0)
        os.execv(program, argv)

    def os_execve_fd(program):
        t0 = now_ns()
        env = bench_env(t0)
        fd = os.open(program, os.O_PATH | os.O_CLOEXEC)
        os.execve(fd, argv, env)

    def py_execveat(program):
        c_argv = (ctypes.c_char_p * 2)(b"stamp", None)
        t0 = now_ns()
        c_env = (ctypes.c_char_p * 3)(b"PATH=/usr/bin:/bin", b"BENCH_T0=%d" % t0, None)
        fd = os.open(program, os.O_PATH | os.O_CLOEXEC)
        libc.syscall(nr, fd, b"", c_argv, c_env, AT_EMPTY_PATH)
        os.close(fd)
        raise OSError(ctypes.get_errno(), "execveat failed")

    def reexec_fast(program):
        t0 = now_ns()
        reexec(argv, executable=program, env=bench_env(t0), guard=None, fallback=None, retry_budget=0)

    methods = {"os_execv": os_execv, "os_execve_fd": os_execve_fd, "reexec": reexec_fast}
    if nr:
        methods["py_execveat"] = py_execveat
    return methods


def _children(stamp: str, not_exec: str) -> dict:
    """Child functions for the ForkRunner. The warm ones first run their method once
    on a file the kernel refuses (ENOEXEC), so the pages that path touches are
    already copied after fork(): a freshly forked Python child pays copy-on-write
    faults on first touch, which a long-running program calling reexec() once does
    not (measured: ~1-2 ms for reexec(), ~0.3 ms for os.execv). `*_cold` skip it."""
    libc = ctypes.CDLL(None, use_errno=True)
    children = {}
    for name, method in _methods(libc, _sys_execveat_number()).items():
        def warm(_fd, method=method):
            try:
                method(not_exec)
            except Exception:  # noqa: BLE001 - the refusal is the point
                pass
            method(stamp)
        children[name] = warm
    for name in ("os_execv", "reexec"):
        method = _methods(libc, None)[name]
        children[name + "_cold"] = lambda _fd, method=method: method(stamp)
    return children


def python_setup_us(stamp: str, runs: int) -> dict:
    """What reexec() does in Python before the exec syscall, timed in-process (no exec):
    argv/env validation and conversion, open_exe (open O_PATH + fstat) and close.
    Uses private modules; returns {} if they moved."""
    try:
        from reexec_native import _validate, open_exe
    except ImportError:
        return {}
    argv = ["stamp"]
    samples_validate, samples_open, samples_osopen = [], [], []
    for _ in range(runs):
        env = bench_env(now_ns())
        t = now_ns()
        _validate.argv_bytes(argv)
        _validate.env_bytes(env)
        t1 = now_ns()
        handle = open_exe(stamp)
        t2 = now_ns()
        handle.close()
        t3 = now_ns()
        fd = os.open(stamp, os.O_PATH | os.O_CLOEXEC)
        t4 = now_ns()
        os.close(fd)
        samples_validate.append((t1 - t) / 1000)
        samples_open.append((t2 - t1) / 1000)
        samples_osopen.append((t4 - t3) / 1000)
    return {"validate_argv_env": summary(samples_validate, 2),
            "open_exe": summary(samples_open, 2),
            "os_open_O_PATH": summary(samples_osopen, 2)}


# One run in a fresh interpreter: warm the method up on a file the kernel refuses,
# then take t0 and exec the stamp program with it.
FRESH_CHILD = r"""
import logging, os, sys, time
logging.getLogger("reexec_native").disabled = True
from reexec_native import reexec
method, stamp, refused = sys.argv[1:4]
def os_execv(p):
    os.environ["BENCH_T0"] = str(time.monotonic_ns())
    os.execv(p, ["stamp"])
def os_execve_fd(p):
    env = {"PATH": "/usr/bin:/bin", "BENCH_T0": str(time.monotonic_ns())}
    os.execve(os.open(p, os.O_PATH | os.O_CLOEXEC), ["stamp"], env)
def reexec_fast(p):
    env = {"PATH": "/usr/bin:/bin", "BENCH_T0": str(time.monotonic_ns())}
    reexec(["stamp"], executable=p, env=env, guard=None, fallback=None, retry_budget=0)
run = {"os_execv": os_execv, "os_execve_fd": os_execve_fd, "reexec": reexec_fast}[method]
try:
    run(refused)
except Exception:
    pass
run(stamp)
"""
FRESH_METHODS = ("os_execv", "os_execve_fd", "reexec")


def fresh_interpreter(stamp: str, refused: str, runs: int) -> dict[str, list[float]]:
    """µs per method, each run in a newly started interpreter (see the module doc)."""
    import sys

    def once(name: str) -> float | None:
        out = subprocess.run([sys.executable, "-c", FRESH_CHILD, name, stamp, refused],
                             capture_output=True, timeout=60, env=child_environ(),
                             cwd=os.path.dirname(stamp)).stdout  # not the source tree
        m = STAMP_RE.search(out)
        return int(m.group(2)) / 1000 if m else None

    return side_by_side(FRESH_METHODS, runs, once, shuffle=random.Random(7).shuffle)


def run(helpers, runs: int) -> tuple[dict, dict]:
    """Returns (json section, raw samples in µs per method for the plots)."""
    quiet_reexec_logger()
    stamp = str(helpers.stamp[0])
    log(f"[overhead] {runs} runs per method")
    samples: dict[str, list[float]] = {}
    samples["floor"] = _floor(helpers, runs, "execveat")
    samples["floor_execve"] = _floor(helpers, runs, "execve")

    not_exec = helpers.stamp[0].parent / "not-executable"
    not_exec.write_bytes(b"not a program\n")
    not_exec.chmod(0o755)
    children = _children(stamp, str(not_exec))
    samples.update({name: [] for name in children})
    failures = {name: 0 for name in children}
    runner = ForkRunner()
    try:
        order = list(children.items())
        shuffle = random.Random(5).shuffle
        for _ in range(runs):
            shuffle(order)  # a fixed order biases the later methods (measured: up to 2x)
            for name, child in order:
                status, out = runner.run(child)
                m = STAMP_RE.search(out)
                if status != 0 or not m:
                    failures[name] += 1
                    continue
                samples[name].append(int(m.group(2)) / 1000)
    finally:
        runner.close()
    fresh_runs = max(5, runs // 4)
    log(f"[overhead] {fresh_runs} runs per method in fresh interpreters")
    fresh = fresh_interpreter(stamp, str(not_exec), fresh_runs)
    samples.update({f"fresh_{name}": values for name, values in fresh.items()})

    def stat(name):
        s = summary(samples.get(name, []), 1)
        return {"median": s.get("median"), "p99": s.get("p99"), "p10": s.get("p10"),
                "p90": s.get("p90"), "n": s.get("n")}

    section = {
        "units": "microseconds, call to the new program's first clock read; each {median, p99, p10, p90, n}",
        "measured_in": "Python methods: a fresh interpreter per run (forked_child: see below)",
        "runs_per_method": fresh_runs,
        "floor_us": stat("floor"),
        "floor_execve_path_us": stat("floor_execve"),
        "os_execv_us": stat("fresh_os_execv"),
        "os_execve_fd_us": stat("fresh_os_execve_fd"),
        "reexec_us": stat("fresh_reexec"),
        "ratio_vs_execv": _ratio(samples, "fresh_reexec", "fresh_os_execv"),
        "ratio_vs_execve_fd": _ratio(samples, "fresh_reexec", "fresh_os_execve_fd"),
        "ratio_vs_floor": _ratio(samples, "fresh_reexec", "floor"),
        "forked_child": {
            "note": "children forked from the benchmark process; copy-on-write inflates methods that do more work",
            "runs_per_method": runs,
            "os_execv_us": stat("os_execv"),
            "os_execve_fd_us": stat("os_execve_fd"),
            "py_ctypes_execveat_us": stat("py_execveat"),
            "reexec_us": stat("reexec"),
            "ratio_vs_execv": _ratio(samples, "reexec", "os_execv"),
            "cold_after_fork": {"os_execv_us": stat("os_execv_cold"), "reexec_us": stat("reexec_cold"),
                                "ratio": _ratio(samples, "reexec_cold", "os_execv_cold")},
        },
        "failures": failures,
        "python_setup_us": python_setup_us(stamp, max(200, runs)),
    }
    return section, samples


def _ratio(samples, a, b) -> float | None:
    sa, sb = summary(samples.get(a, [])), summary(samples.get(b, []))
    if not sa.get("n") or not sb.get("n"):
        return None
    return round(sa["median"] / sb["median"], 3)


def table(section: dict) -> list[str]:
    rows = [("floor: execveat from C", "floor_us"), ("execve(path) from C", "floor_execve_path_us"),
            ("os.execv(path)", "os_execv_us"), ("os.execve(fd)", "os_execve_fd_us"),
            ("reexec() fast path", "reexec_us")]
    forked = section["forked_child"]
    lines = ["| method | median µs | p99 µs | forked child: median µs |", "| --- | ---: | ---: | ---: |"]
    for label, key in rows:
        v = section.get(key) or {}
        f = forked.get(key) or {}
        lines.append(f"| {label} | {v.get('median')} | {v.get('p99')} | {f.get('median', '')} |")
    lines.append(f"reexec()/os.execv = {section['ratio_vs_execv']}, reexec()/os.execve(fd) = "
                 f"{section['ratio_vs_execve_fd']} (fresh interpreters; forked children: "
                 f"{forked['ratio_vs_execv']})")
    setup = section.get("python_setup_us") or {}
    if setup:
        lines.append("reexec() Python-side setup (median µs): validate argv/env "
                     f"{setup['validate_argv_env']['median']}, open_exe {setup['open_exe']['median']} "
                     f"(os.open O_PATH alone {setup['os_open_O_PATH']['median']})")
    return lines


if __name__ == "__main__":
    import json

    from _common import DEFAULT_CACHE, build_helpers
    sec, _ = run(build_helpers(DEFAULT_CACHE), 50)
    print(json.dumps(sec, indent=1))
    print("\n".join(table(sec)))
