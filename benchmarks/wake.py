"""Waking when the file is back: inotify against the timer, side by side in one run.

    python benchmarks/wake.py                 # full: 400 wake runs per mode, 2000 race runs
    python benchmarks/wake.py --quick         # 60 / 200
    python benchmarks/wake.py --smoke --output /tmp/w.json

1. Wake latency. The target is missing when reexec() starts (retry budget 2 s,
   fallback None). After a random 2-60 ms the parent hard-links the program back
   (cargo's uplift) and takes t_back = CLOCK_MONOTONIC right after link() returned.
   The delay starts once the child has imported reexec_native and is about to call
   reexec() (it says so through its stdout pipe). The program (benchmarks/c/stamp.c) reads CLOCK_MONOTONIC first thing in main()
   and prints the delta from $BENCH_T0, which the child wrote just before calling
   reexec(): start = BENCH_T0 + delta, latency = start - t_back (negative: the
   program started before link() had returned to the parent). Modes alternate run by
   run: inotify (the default) and poll ($REEXEC_NATIVE_WAIT=poll: the 5, 10, 20, 40,
   50 ms backoff alone, as before), and "present", the floor: the file is there
   from the start and the latency is from the reexec() call (the exec of a program
   from a forked Python child costs that much on its own).
2. The race under benchmarks/c/swapper.c's hostile cargo_link swapper (unlink +
   link in a tight loop), through race.py: reexec with inotify against reexec with
   the timer, alternating, default budget (0.25 s).

Writes benchmarks/results/wake.json (or --output).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import race
from _common import (
    STAMP_RE,
    bench_env,
    build_helpers,
    log,
    now_ns,
    profile_of,
    profile_parser,
    quiet_reexec_logger,
    start_meta,
    summary,
    write_result,
)

PROFILES = {"full": (400, 2000), "quick": (60, 200), "smoke": (6, 10)}
MODES = ("inotify", "poll", "present")


def _one_wake(mode: str, source: str, target: str, delay: float) -> float | None:
    """One run: ms from the link back to the program's first instruction. Mode
    "present": the file is there from the start, ms from the reexec() call (what the
    exec itself costs from this child, the floor of the other two)."""
    if mode == "present":
        os.link(source, target)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            os.environ["REEXEC_NATIVE_WAIT"] = "inotify" if mode == "present" else mode
            from reexec_native import reexec
            t0 = now_ns()
            os.write(1, f"t0={t0}\n".encode())
            reexec(["stamp"], executable=target, env=bench_env(t0), guard=None, fallback=None,
                   retry_budget=2.0)
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            pass
        os._exit(127)
    os.close(write_fd)
    out = b""
    while b"\n" not in out:  # the child imported reexec_native and is about to try
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        out += chunk
    if mode == "present":
        t_back = None
    else:
        time.sleep(delay)
        os.link(source, target)
        t_back = now_ns()
    _, status = os.waitpid(pid, 0)
    while chunk := os.read(read_fd, 65536):
        out += chunk
    os.close(read_fd)
    os.unlink(target)
    ran = STAMP_RE.search(out)
    t0 = next((int(line[3:]) for line in out.decode().splitlines() if line.startswith("t0=")), None)
    if not ran or t0 is None or status != 0:
        return None
    return (t0 + int(ran.group(2)) - (t0 if t_back is None else t_back)) / 1e6


def wake(helpers, runs: int, workdir: str) -> dict:
    quiet_reexec_logger()
    source = os.path.join(workdir, "built")
    shutil.copy2(helpers.stamp[0], source)
    target = os.path.join(workdir, "target")
    rng = random.Random(15)
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    failed = {m: 0 for m in MODES}
    for _ in range(runs):
        delay = rng.uniform(0.002, 0.060)
        for mode in MODES:
            ms = _one_wake(mode, source, target, delay)
            if ms is None:
                failed[mode] += 1
            else:
                samples[mode].append(ms)
    result = {m: {"latency_ms": summary(samples[m], 3), "failed": failed[m]} for m in MODES}
    med = {m: result[m]["latency_ms"].get("median") for m in MODES}
    if all(med.values()):
        # What the waiting adds on top of the exec itself, and the ratio of the two waits.
        result["inotify_minus_present_median_ms"] = round(med["inotify"] - med["present"], 3)
        result["poll_minus_present_median_ms"] = round(med["poll"] - med["present"], 3)
        result["poll_over_inotify_median"] = round(med["poll"] / med["inotify"], 1) if med["inotify"] > 0 else None
    return result


def race_section(helpers, runs: int, workdir: str) -> tuple[dict, dict]:
    quiet_reexec_logger()
    variants = race.Variants(helpers, workdir)
    return race.run_mode("cargo_link", runs, helpers, variants, workdir, names=("reexec_inotify", "reexec_poll"))


def main(argv=None) -> int:
    args = profile_parser(__doc__, "wake.json", quick_help="60 wake runs per mode, 200 race runs").parse_args(argv)
    profile = profile_of(args)
    wake_runs, race_runs = PROFILES[profile]
    helpers = build_helpers(args.cache_dir)
    started = time.monotonic()
    result: dict = {"meta": start_meta("wake.py", profile, wake_runs=wake_runs, race_runs=race_runs)}
    with tempfile.TemporaryDirectory(prefix="reexec-wake-") as tmp:
        log(f"[wake] latency: {wake_runs} runs per mode")
        result["wake_latency"] = wake(helpers, wake_runs, tmp)
    with tempfile.TemporaryDirectory(prefix="reexec-wake-race-") as tmp:
        log(f"[wake] cargo_link race: {race_runs} runs per strategy")
        result["race_cargo_link"], result["race_details"] = race_section(helpers, race_runs, tmp)
    write_result(result, started, args.output)
    w = result["wake_latency"]
    print("| wait | runs | failed | median ms after the link (present: after the call) | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in MODES:
        s = w[m]["latency_ms"]
        print(f"| {m} | {s.get('n', 0)} | {w[m]['failed']} | {s.get('median')} | {s.get('p90')} | "
              f"{s.get('p99')} | {s.get('max')} |")
    print("\n| cargo_link race | runs | failures | by kind |")
    print("| --- | ---: | ---: | --- |")
    for strategy, cell in result["race_cargo_link"].items():
        kinds = ", ".join(f"{k} {v}" for k, v in cell["by_kind"].items() if v)
        print(f"| {strategy} | {cell['runs']} | {cell['failures']} | {kinds} |")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
