"""The argv/env scaling curve: the first call in a fresh process, with many arguments or
many environment variables.

Every sample is a new interpreter that builds its argument list (or environment),
writes $BENCH_T0 into that environment just before the call (the in_call clock of
cold.py), and replaces itself with stamp (benchmarks/c/stamp.c), which prints the time
since $BENCH_T0 and how many arguments and variables it received:

- reexec      reexec_native.reexec(argv, executable=stamp, env=env)  (the other defaults:
              guard, CargoRun fallback, retry budget; [reexec] lines to stderr, /dev/null here)
- os_execve   os.execve(stamp, argv, env)

Two axes, each point a separate process:

- args        argv = [stamp, "a0", "a1", ...] (COUNT arguments after argv[0]), env = the
              small environment of the benchmark (PATH, HOME...);
- env         argv = [stamp], env = that environment plus COUNT variables BV<i>=x.

The time is what the call costs the process, the package's lazy imports included (it
is imported before the clock starts, as a program does at its top), and the kernel's
copy of the strings into the new image, which both variants pay alike. A point whose
strings and pointers would not fit in the machine's ARG_MAX (with a margin) is left out
and listed. The variants run interleaved, in a new shuffled order each round, so they
share the machine's load; the figures are medians and the ratio is reexec/os_execve
(issue 20's targets: <= 2.0 at 100,000 arguments and at 60,000 variables). A sample
counts only if stamp received exactly the arguments (and at least the variables) sent.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    STAMP_RE,
    build_helpers,
    child_environ,
    log,
    profile_of,
    profile_parser,
    side_by_side,
    start_meta,
    summary,
    write_result,
)

COUNTS = {"args": (0, 1_000, 10_000, 30_000, 100_000), "env": (0, 1_000, 10_000, 30_000, 60_000)}
PROFILES = {  # rounds (one sample of every point and variant per round), and the counts
    "full": dict(rounds=60, counts=COUNTS),
    "quick": dict(rounds=10, counts=COUNTS),
    "smoke": dict(rounds=1, counts={"args": (0, 1_000), "env": (0, 1_000)}),
}
VARIANTS = ("reexec", "os_execve")
COUNTS_RE = re.compile(rb"argc=(\d+) envc=(\d+)")
ARG_MAX_SHARE = 0.9  # of os.sysconf("SC_ARG_MAX"): room for the guard variable and the stack's own needs

CALLS = {
    "reexec": "import reexec_native; {build}; env['BENCH_T0'] = str(time.clock_gettime_ns(time.CLOCK_MONOTONIC)); "
              "reexec_native.reexec(argv, executable={stamp!r}, env=env)",
    "os_execve": "{build}; env['BENCH_T0'] = str(time.clock_gettime_ns(time.CLOCK_MONOTONIC)); "
                 "os.execve({stamp!r}, argv, env)",
}


def build_code(axis: str, count: int, stamp: str) -> str:
    """Python that makes `argv` and `env` for one point (run before the clock starts)."""
    if axis == "args":
        return f"argv = [{stamp!r}] + ['a%d' % i for i in range({count})]; env = dict(os.environ)"
    return (f"argv = [{stamp!r}]; env = dict(os.environ); "
            f"env.update(('BV%d' % i, 'x') for i in range({count}))")


def exec_bytes(axis: str, count: int, stamp: str, base_env: dict[str, str]) -> int:
    """What execve copies for a point: every string with its NUL, and the pointers."""
    argv = [stamp] + [f"a{i}" for i in range(count if axis == "args" else 0)]
    env = dict(base_env, BENCH_T0="0" * 20, BITNET_REPAIR_PARENT="1")
    env.update((f"BV{i}", "x") for i in range(count if axis == "env" else 0))
    strings = sum(len(a.encode()) + 1 for a in argv) + sum(len(k.encode()) + len(v.encode()) + 2
                                                          for k, v in env.items())
    return strings + 8 * (len(argv) + len(env) + 2)


def run_once(argv: list[str], cwd: str, env: dict[str, str], axis: str, count: int) -> float | None:
    """Microseconds stamp reports for one fresh process, or None if it did not get there
    with what was sent."""
    out = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    match, got = STAMP_RE.search(out.stdout), COUNTS_RE.search(out.stdout)
    if out.returncode != 0 or match is None or got is None:
        return None
    argc, envc = int(got.group(1)), int(got.group(2))
    if (axis == "args" and argc != count + 1) or (axis == "env" and (argc != 1 or envc < count)):
        log(f"scaling: {axis}={count}: stamp got argc={argc} envc={envc}")
        return None
    return int(match.group(2)) / 1e3


def run(helpers, rounds: int, counts: dict[str, tuple[int, ...]], python: str) -> dict:
    stamp = str(helpers.stamp[0])
    env = child_environ()
    arg_max = os.sysconf("SC_ARG_MAX")
    points, left_out = [], []
    for axis, values in counts.items():
        for count in values:
            size = exec_bytes(axis, count, stamp, env)
            if size > ARG_MAX_SHARE * arg_max:
                left_out.append({"axis": axis, "count": count, "exec_bytes": size})
            else:
                points.append((axis, count, size))
    commands = {f"{axis}/{count}/{variant}":
                [python, "-c", "import os, time; " + CALLS[variant].format(build=build_code(axis, count, stamp),
                                                                          stamp=stamp)]
                for axis, count, _ in points for variant in VARIANTS}

    def measure(name: str) -> float | None:
        axis, count, _ = name.split("/")
        return run_once(commands[name], cwd, env, axis, int(count))

    with tempfile.TemporaryDirectory(prefix="reexec-scaling-") as cwd:  # no source tree on sys.path
        for name in commands:  # the page cache and the .pyc files, once
            if measure(name) is None:
                raise SystemExit(f"scaling: {name} did not reach stamp")
        samples = side_by_side(list(commands), rounds, measure)
    result: dict = {"arg_max": arg_max, "left_out": left_out}
    for axis in counts:
        result[axis] = []
        for p_axis, count, size in points:
            if p_axis != axis:
                continue
            us = {v: summary(samples[f"{axis}/{count}/{v}"]) for v in VARIANTS}
            med = {v: statistics.median(samples[f"{axis}/{count}/{v}"]) for v in VARIANTS}
            result[axis].append({"count": count, "exec_bytes": size, "us": us,
                                 "ratio_reexec_vs_os_execve": round(med["reexec"] / med["os_execve"], 2)})
    return result


def table(result: dict) -> list[str]:
    lines = [f"{'point':18s} {'KiB':>6s} {'reexec us':>10s} {'os.execve us':>13s} {'ratio':>6s}"]
    for axis in ("args", "env"):
        for p in result.get(axis, []):
            lines.append(f"{axis + ' ' + format(p['count'], ','):18s} {p['exec_bytes'] / 1024:6.0f} "
                         f"{p['us']['reexec']['median']:10.1f} {p['us']['os_execve']['median']:13.1f} "
                         f"{p['ratio_reexec_vs_os_execve']:6.2f}")
    for p in result["left_out"]:
        lines.append(f"left out: {p['axis']} {p['count']:,} ({p['exec_bytes']:,} bytes > "
                     f"{ARG_MAX_SHARE} x ARG_MAX {result['arg_max']:,})")
    lines.append("reexec / os.execve, in-call, first call in a fresh process")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = profile_parser(__doc__, "scaling.json")
    parser.add_argument("--python", default=sys.executable, help="the interpreter with reexec_native installed")
    parser.add_argument("--no-plots", action="store_true", help="no PNG next to the JSON")
    args = parser.parse_args(argv)
    profile = profile_of(args)
    settings = PROFILES[profile]
    started = time.monotonic()
    result: dict = {"meta": start_meta("scaling.py", profile, rounds=settings["rounds"], python_exe=args.python)}
    helpers = build_helpers(args.cache_dir)
    result["scaling"] = run(helpers, settings["rounds"], settings["counts"], args.python)
    write_result(result, started, args.output)
    print("\n".join(table(result["scaling"])))
    print(f"wrote {args.output}")
    if not args.no_plots:
        try:
            import plots
            print("plot:", plots.scaling(result["scaling"], args.output.parent))
        except ImportError as exc:
            print(f"plot skipped ({exc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
