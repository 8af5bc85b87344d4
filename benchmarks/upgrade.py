"""A server upgraded under load: examples/upgrade_server.py, measured.

    python benchmarks/upgrade.py            # 3 rounds x 10 upgrades, verify off and on, alternating
    python benchmarks/upgrade.py --smoke --output /tmp/u.json

Each round starts the stdlib HTTP server on 127.0.0.1 (a child), puts a bounded load
on it (4 client threads, a new connection per request, at most 50,000 requests or
60 s) and has it re-exec itself every 0.3 s through reexec(listen_fds=[socket]),
10 times; with verify, each upgrade first runs `python --version` from the opened
image; with cargo, a third variant sends the last upgrade through
CargoRun(mode="build-exec") to the fixture workspace's xtask (tests/fixtures/cargo_ws),
which serves the socket from then on. Figures per round: requests sent, failed (refused, reset, timed out, wrong
answer), the longest stall (slowest request: a hand-over, where the new interpreter
starts and imports while connections wait in the backlog), median request, the
generations and PIDs seen. Writes benchmarks/results/upgrade.json (or --output).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FIXTURE_WS, REPO, log, profile_of, profile_parser, start_meta, write_result

PROFILES = {"full": (3, 10), "quick": (1, 10), "smoke": (1, 2)}


def _example():
    spec = importlib.util.spec_from_file_location("upgrade_server", REPO / "examples" / "upgrade_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    args = profile_parser(__doc__, "upgrade.json", quick_help="one round").parse_args(argv)
    profile = profile_of(args)
    rounds, upgrades = PROFILES[profile]
    example = _example()
    started = time.monotonic()
    result: dict = {"meta": start_meta("upgrade.py", profile, rounds=rounds, upgrades_per_round=upgrades),
                    "rounds": {"fast_path": [], "fast_path_verify": []}}
    variants = [("fast_path", False, None), ("fast_path_verify", True, None)]
    if shutil.which("cargo"):
        # The last upgrade rebuilds the fixture's xtask (already built once here, so cargo
        # only checks it is fresh) and execs it: the stall includes that cargo build.
        os.environ.setdefault("CARGO_TARGET_DIR", str(args.cache_dir / "upgrade-target"))
        os.environ.setdefault("CARGO_NET_OFFLINE", "true")
        subprocess.run(["cargo", "build", "-q", "-p", "xtask", "--features", "crossval-all"], cwd=FIXTURE_WS,
                       check=True)
        variants.append(("last_via_build_exec", False, str(FIXTURE_WS)))
        result["rounds"]["last_via_build_exec"] = []
    for n in range(rounds):
        for name, verify, build_exec in variants:
            log(f"[upgrade] round {n + 1}/{rounds}: {name}")
            ns = argparse.Namespace(upgrades=upgrades, every=0.3, verify=verify, requests=50000,
                                    seconds=60.0, clients=4, build_exec=build_exec)
            figures = example.demo(ns)
            figures.pop("server_stderr_tail", None)
            result["rounds"][name].append(figures)
    summary = {}
    for name, per in result["rounds"].items():
        summary[name] = {
            "requests_sent": sum(r["requests_sent"] for r in per),
            "failed": sum(r["failed"] for r in per),
            "upgrades": sum(len(r["generations_seen"]) - 1 for r in per),
            "longest_stall_ms_max": max(r["longest_stall_ms"] for r in per),
            "longest_stall_ms_median": statistics.median(r["longest_stall_ms"] for r in per),
            "median_request_ms": statistics.median(r["median_request_ms"] for r in per),
            "one_pid_per_round": all(len(r["pids_seen"]) == 1 for r in per),
        }
    result["summary"] = summary
    write_result(result, started, args.output)
    print("| hand-over | requests sent | failed | upgrades | longest stall ms (max / median of rounds) "
          "| median request ms | one PID |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, s in summary.items():
        print(f"| {name} | {s['requests_sent']} | {s['failed']} | {s['upgrades']} | "
              f"{s['longest_stall_ms_max']} / {s['longest_stall_ms_median']} | {s['median_request_ms']} | "
              f"{s['one_pid_per_round']} |")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
