"""Parallel throughput: N programs re-exec'ing at once, each the first call in a fresh process.

A batch is N processes started together (one posix_spawn after the other, no waiting
in between), every one of which replaces itself with stamp (benchmarks/c/stamp.c):

- reexec      python -c "import reexec_native; reexec_native.reexec([stamp], executable=stamp)"
              (the defaults: guard, CargoRun fallback, retry budget; the spec's
              [reexec] lines printed to stderr, which goes to /dev/null here)
- os_execv    python -c "import os; os.execv(stamp, [stamp])"
- c_execve    floor 1 execve stamp: a small C process that forks once and execve()s
              (benchmarks/c/floor.c; the floor, not a Python program)

The wall time of a batch runs from just before the first spawn to the moment the last
process is reaped; every process must have reached stamp (its line on the shared pipe)
and exited 0. Throughput = N / wall time, in processes per second. Batches of every
(variant, N) run interleaved, in a new shuffled order each round, so they share the
machine's load; the figures are medians over the rounds, and the ratio at each N is
reexec's throughput / os_execv's (issue 20's target: >= 0.8 at N = 32). With more
processes than cores, the batch is bound by the CPU every process spends, so the
ratio shows what a first call costs in CPU, not only in latency.
"""

from __future__ import annotations

import os
import statistics
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
    now_ns,
    profile_of,
    profile_parser,
    side_by_side,
    start_meta,
    summary,
    write_result,
)

NS = (1, 2, 4, 8, 16, 32)
PROFILES = {  # rounds (one batch of every (variant, N) per round), and the Ns
    "full": dict(rounds=40, ns=NS),
    "quick": dict(rounds=8, ns=NS),
    "smoke": dict(rounds=1, ns=(1, 4)),
}
VARIANTS = ("reexec", "os_execv", "c_execve")


def commands(python: str, stamp: str, floor: str) -> dict[str, list[str]]:
    """The argv of one process of each variant."""
    return {
        "reexec": [python, "-c",
                   f"import reexec_native; reexec_native.reexec([{stamp!r}], executable={stamp!r})"],
        "os_execv": [python, "-c", f"import os; os.execv({stamp!r}, [{stamp!r}])"],
        "c_execve": [floor, "1", "execve", stamp],
    }


def run_batch(argv: list[str], n: int, cwd: str) -> float | None:
    """Seconds from the first spawn to the last reap of `n` processes running `argv`,
    or None if any of them did not exit 0 or did not reach stamp."""
    env = child_environ()
    read_fd, write_fd = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, write_fd, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    old_cwd = os.getcwd()
    os.chdir(cwd)  # the children's cwd: no source tree on their sys.path
    pids: list[int] = []
    failed = 0
    try:
        t0 = now_ns()
        env["BENCH_T0"] = str(t0)
        for _ in range(n):
            pids.append(os.posix_spawn(argv[0], argv, env, file_actions=actions))
    finally:  # every process spawned is reaped, even if a later spawn failed
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            failed += os.waitstatus_to_exitcode(status) != 0
        wall_s = (now_ns() - t0) / 1e9
        os.chdir(old_cwd)
        os.close(write_fd)
        os.close(devnull)
    with os.fdopen(read_fd, "rb") as pipe:
        reached = len(STAMP_RE.findall(pipe.read()))
    if failed or reached != n:
        log(f"parallel: batch of {n} x {argv[:2]}: {failed} failed, {reached} reached stamp")
        return None
    return wall_s


def run(helpers, rounds: int, ns: tuple[int, ...], python: str) -> dict:
    stamp, floor = str(helpers.stamp[0]), str(helpers.floor)
    argvs = commands(python, stamp, floor)
    names = [f"{variant}/{n}" for variant in VARIANTS for n in ns]
    with tempfile.TemporaryDirectory(prefix="reexec-parallel-") as cwd:
        for variant, argv in argvs.items():  # the page cache and the .pyc files, once
            if run_batch(argv, 1, cwd) is None:
                raise SystemExit(f"parallel: {variant} did not reach stamp")

        def measure(name: str) -> float | None:
            variant, n = name.split("/")
            return run_batch(argvs[variant], int(n), cwd)

        samples = side_by_side(names, rounds, measure)
    wall_ms = {name: [s * 1e3 for s in values] for name, values in samples.items()}
    per_s = {name: [int(name.split("/")[1]) / s for s in values] for name, values in samples.items()}
    med = {name: statistics.median(values) for name, values in per_s.items() if values}

    def ratio(variant: str, other: str, n: int) -> float | None:
        a, b = med.get(f"{variant}/{n}"), med.get(f"{other}/{n}")
        return round(a / b, 2) if a and b else None

    return {
        "ns": list(ns),
        "batch_wall_ms": {name: summary(values, 2) for name, values in wall_ms.items()},
        "throughput_per_s": {name: summary(values, 1) for name, values in per_s.items()},
        "ratio_reexec_vs_os_execv": {str(n): ratio("reexec", "os_execv", n) for n in ns},
        "ratio_reexec_vs_c_execve": {str(n): ratio("reexec", "c_execve", n) for n in ns},
        "ratio_os_execv_vs_c_execve": {str(n): ratio("os_execv", "c_execve", n) for n in ns},
    }


def table(result: dict) -> list[str]:
    tp = result["throughput_per_s"]
    lines = [f"{'N':>4s} {'reexec /s':>10s} {'os.execv /s':>12s} {'C execve /s':>12s} "
             f"{'reexec/os.execv':>16s} {'reexec/C':>9s}"]
    for n in result["ns"]:
        cells = [tp[f"{v}/{n}"].get("median", float("nan")) for v in VARIANTS]
        lines.append(f"{n:4d} {cells[0]:10.1f} {cells[1]:12.1f} {cells[2]:12.1f} "
                     f"{result['ratio_reexec_vs_os_execv'][str(n)]!s:>16s} "
                     f"{result['ratio_reexec_vs_c_execve'][str(n)]!s:>9s}")
    last = str(result["ns"][-1])
    lines.append(f"reexec / os.execv throughput at N={last}: {result['ratio_reexec_vs_os_execv'][last]}x "
                 "(processes finished per second of wall time; every process a fresh interpreter)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = profile_parser(__doc__, "parallel.json")
    parser.add_argument("--python", default=sys.executable, help="the interpreter with reexec_native installed")
    parser.add_argument("--no-plots", action="store_true", help="no PNG next to the JSON")
    args = parser.parse_args(argv)
    profile = profile_of(args)
    settings = PROFILES[profile]
    started = time.monotonic()
    result: dict = {"meta": start_meta("parallel.py", profile, rounds=settings["rounds"], python_exe=args.python)}
    helpers = build_helpers(args.cache_dir)
    result["parallel"] = run(helpers, settings["rounds"], settings["ns"], args.python)
    write_result(result, started, args.output)
    print("\n".join(table(result["parallel"])))
    print(f"wrote {args.output}")
    if not args.no_plots:
        try:
            import plots
            print("plot:", plots.parallel(result["parallel"], args.output.parent))
        except ImportError as exc:
            print(f"plot skipped ({exc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
