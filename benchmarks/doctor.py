"""`reexec-native doctor`, whole process: what a user waits for when asking it.

Every sample is a new process started from a temporary directory (no source tree,
no cargo workspace), its output read and thrown away:

- doctor           reexec-native doctor            (the venv's console script: every
                                                    probe, cargo --version, cargo metadata)
- doctor_json      reexec-native doctor --json
- doctor_no_probe  reexec-native doctor --no-probe (nothing exec'd: the doctor's own cost
                                                    and cargo's)
- python_start     python -c pass                  (an interpreter start, for scale)

The variants run interleaved, in a new shuffled order each round, so they share the
machine's load; figures are medians of wall time (ms), with the CPU time the sample
used (its process and all its children: user + system), which says how much of the
wall time is waiting and how much the load can stretch it. The goal (issue 20) is
doctor under 100 ms; nothing here asserts it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    child_environ,
    profile_of,
    profile_parser,
    side_by_side,
    start_meta,
    summary,
    write_result,
)

ROUNDS = {"full": 60, "quick": 20, "smoke": 2}
GOAL_MS = 100.0


def commands(python: str) -> dict[str, list[str]]:
    script = str(Path(python).parent / "reexec-native")
    if not os.access(script, os.X_OK):
        raise SystemExit(f"doctor: no console script next to {python} ({script}): install the package there")
    return {
        "doctor": [script, "doctor"],
        "doctor_json": [script, "doctor", "--json"],
        "doctor_no_probe": [script, "doctor", "--no-probe"],
        "python_start": [python, "-c", "pass"],
    }


def run_once(argv: list[str], cwd: str) -> tuple[float, float] | None:
    """(wall ms, CPU ms of the process and its children) of one fresh run; None if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=child_environ(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1e3
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e3
    return None if done.returncode != 0 else (wall, cpu)


def run(python: str, rounds: int) -> dict:
    argvs = commands(python)
    with tempfile.TemporaryDirectory(prefix="reexec-doctor-") as cwd:
        for name, argv in argvs.items():  # the page cache and the .pyc files, once
            if run_once(argv, cwd) is None:
                raise SystemExit(f"doctor: {name} ({' '.join(argv)}) failed; run it by hand to see why")
        samples = side_by_side(list(argvs), rounds, lambda name: run_once(argvs[name], cwd))
    wall = {name: [w for w, _ in values] for name, values in samples.items()}
    cpu = {name: [c for _, c in values] for name, values in samples.items()}
    medians = {name: statistics.median(values) for name, values in wall.items()}
    return {
        "wall_ms": {name: summary(values) for name, values in wall.items()},
        "cpu_ms": {name: summary(values) for name, values in cpu.items()},
        "goal_ms": GOAL_MS,
        "ratio_vs_python_start": {name: round(medians[name] / medians["python_start"], 2)
                                  for name in medians if name != "python_start"},
    }


def table(result: dict) -> list[str]:
    wall, cpu = result["wall_ms"], result["cpu_ms"]
    lines = [f"{'variant':18s} {'median ms':>10s} {'p10':>7s} {'p90':>7s} {'cpu ms':>8s}"]
    lines += [f"{name:18s} {s['median']:10.1f} {s['p10']:7.1f} {s['p90']:7.1f} {cpu[name]['median']:8.1f}"
              for name, s in wall.items()]
    lines.append(f"doctor, whole process: {wall['doctor']['median']} ms median "
                 f"(goal < {result['goal_ms']:g} ms), {result['ratio_vs_python_start']['doctor']}x an "
                 "interpreter start")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = profile_parser(__doc__, "doctor.json")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter with reexec_native installed (its console script is timed)")
    args = parser.parse_args(argv)
    profile = profile_of(args)
    started = time.monotonic()
    result: dict = {"meta": start_meta("doctor.py", profile, rounds=ROUNDS[profile], python_exe=args.python)}
    result["doctor"] = run(args.python, ROUNDS[profile])
    write_result(result, started, args.output)
    print("\n".join(table(result["doctor"])))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
