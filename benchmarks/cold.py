"""The first call in a fresh process: what a program that calls reexec() once pays.

Every sample is a new interpreter (or a new C process) that replaces itself with
stamp (benchmarks/c/stamp.c), which prints the time since $BENCH_T0:

- reexec      python -c "import reexec_native; reexec_native.reexec([stamp], executable=stamp)"
              (the defaults: guard, CargoRun fallback, retry budget; the spec's
              [reexec] lines printed to stderr, as users get them)
- os_execv    python -c "import os; os.execv(stamp, [stamp])"
- ext_floor   python -c "import reexec_native._native, os; os.execv(stamp, [stamp])": the
              package's C extension (and cffi's backend, which it loads) imported, then
              os.execv: what any CFFI extension costs a first call, the part of the ratio
              the Python layer cannot remove (whole clock only)
- c_execve    floor 1 execve stamp: a small C process that forks once and execve()s
              (benchmarks/c/floor.c; the floor, not a Python program)

Two clocks, both read by stamp:

- whole       $BENCH_T0 taken by this parent just before it spawns the process:
              interpreter start, imports and the call (what `time` would show);
- in_call     $BENCH_T0 written by the process itself just before the call
              (os.environ, which both Python variants pass on): the call alone,
              imports of the package included, because a first call pays them.

The variants run interleaved, in a new shuffled order each round, so they share
the machine's load; the figures are medians and the ratios are reexec/os_execv.
"""

from __future__ import annotations

import os
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
    now_ns,
    profile_of,
    profile_parser,
    side_by_side,
    start_meta,
    summary,
    write_result,
)

ROUNDS = {"full": 300, "quick": 60, "smoke": 3}
IN_CALL = ("import os, time; os.environ['BENCH_T0'] = "
           "str(time.clock_gettime_ns(time.CLOCK_MONOTONIC)); ")


def scripts(stamp: str) -> dict[str, str]:
    """The Python variants' -c code, per clock (the in-call clock starts last thing)."""
    calls = {
        "reexec": ("import reexec_native; ", f"reexec_native.reexec([{stamp!r}], executable={stamp!r})"),
        "os_execv": ("import os; ", f"os.execv({stamp!r}, [{stamp!r}])"),
    }
    codes = {f"{name}/{clock}": prefix + (IN_CALL if clock == "in_call" else "") + call
             for name, (prefix, call) in calls.items() for clock in ("whole", "in_call")}
    codes["ext_floor/whole"] = f"import reexec_native._native, os; os.execv({stamp!r}, [{stamp!r}])"
    return codes


def run_once(argv: list[str], cwd: str) -> float | None:
    """Microseconds stamp reports, for one fresh process started now."""
    env = child_environ(BENCH_T0=str(now_ns()))
    out = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    match = STAMP_RE.search(out.stdout)
    if out.returncode != 0 or match is None:
        return None
    return int(match.group(2)) / 1e3


def run(python: str, rounds: int, cache: Path) -> dict:
    helpers = build_helpers(cache)
    stamp = str(helpers.stamp[0])
    commands = {name: [python, "-c", code] for name, code in scripts(stamp).items()}
    commands["c_execve/whole"] = [str(helpers.floor), "1", "execve", stamp]
    with tempfile.TemporaryDirectory(prefix="reexec-cold-") as cwd:  # no source tree on sys.path
        for argv in commands.values():  # the page cache and the .pyc files, once
            if run_once(argv, cwd) is None:
                raise SystemExit(f"cold: {argv} did not reach stamp")
        samples = side_by_side(list(commands), rounds, lambda name: run_once(commands[name], cwd))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "us": {name: summary(values) for name, values in samples.items()},
        "ratio_reexec_vs_os_execv": {
            clock: round(medians[f"reexec/{clock}"] / medians[f"os_execv/{clock}"], 2)
            for clock in ("whole", "in_call")},
        "ratio_reexec_vs_c_execve_whole": round(medians["reexec/whole"] / medians["c_execve/whole"], 2),
        "ratio_ext_floor_vs_os_execv_whole": round(medians["ext_floor/whole"] / medians["os_execv/whole"], 2),
    }


def table(result: dict) -> list[str]:
    us = result["us"]
    lines = [f"{'variant':24s} {'median us':>10s} {'p10':>8s} {'p90':>8s}"]
    lines += [f"{name:24s} {s['median']:10.1f} {s['p10']:8.1f} {s['p90']:8.1f}" for name, s in sorted(us.items())]
    ratios = result["ratio_reexec_vs_os_execv"]
    lines.append(f"reexec / os.execv, first call in a fresh process: whole {ratios['whole']}x, "
                 f"in-call {ratios['in_call']}x")
    lines.append(f"the C extension alone (imported, then os.execv) / os.execv, whole: "
                 f"{result['ratio_ext_floor_vs_os_execv_whole']}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = profile_parser(__doc__, "cold.json")
    parser.add_argument("--python", default=sys.executable, help="the interpreter with reexec_native installed")
    args = parser.parse_args(argv)
    profile = profile_of(args)
    started = time.monotonic()
    result: dict = {"meta": start_meta("cold.py", profile, rounds=ROUNDS[profile], python_exe=args.python)}
    result["cold_call"] = run(args.python, ROUNDS[profile], args.cache_dir)
    write_result(result, started, args.output)
    print("\n".join(table(result["cold_call"])))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
