"""Entry point of the reexec-native benchmarks: prints tables, writes JSON and plots.

    python benchmarks/run.py            # full run -> benchmarks/results/latest.json (+ PNGs)
    python benchmarks/run.py --quick    # < 2 min on 2 cores
    python benchmarks/run.py --smoke --output /tmp/x.json   # seconds; what the smoke test runs

Benchmarks (each module's docstring says what it measures and how):
  seed      seed.py      the running binary is rebuilt, it re-executes itself: spec vs reexec()
  race      race.py      re-exec while a hostile swapper replaces the target (5 swap modes)
  overhead  overhead.py  fast-path exec latency against the execveat floor
  fallback  fallback.py  cargo run vs direct exec (and build-exec when available)
  snapshot  snapshot.py  ms per MB of a sealed copy (snapshot=True): memfd, O_TMPFILE
  parallel  parallel.py  N fresh processes re-exec'ing at once: throughput, reexec vs os.execv
  scaling   scaling.py   first call with up to 100k arguments / 60k variables: reexec vs os.execve

parallel.py and scaling.py (and cold.py) also run alone, into results/parallel.json,
results/scaling.json (with their plots).

Run it with a Python that has reexec_native installed (and matplotlib for the plots;
without matplotlib the plots are skipped).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fallback  # noqa: E402
import overhead  # noqa: E402
import parallel  # noqa: E402
import race  # noqa: E402
import scaling  # noqa: E402
import seed  # noqa: E402
import snapshot  # noqa: E402
from _common import (  # noqa: E402
    build_helpers,
    profile_of,
    profile_parser,
    quiet_reexec_logger,
    start_meta,
    write_result,
)

PROFILES = {
    #          overhead runs, race runs (unpaced copy modes /8), seed runs, fallback runs,
    #          snapshot copies per size and method, parallel and scaling rounds (their Ns and
    #          counts: parallel.PROFILES, scaling.PROFILES)
    "full": dict(overhead=2000, race=2000, seed=15, fallback=10, snapshot=20,
                 parallel=parallel.PROFILES["full"]["rounds"], scaling=scaling.PROFILES["full"]["rounds"]),
    "quick": dict(overhead=200, race=200, seed=3, fallback=2, snapshot=5,
                  parallel=parallel.PROFILES["quick"]["rounds"], scaling=scaling.PROFILES["quick"]["rounds"]),
    "smoke": dict(overhead=20, race=20, seed=1, fallback=1, snapshot=1,
                  parallel=parallel.PROFILES["smoke"]["rounds"], scaling=scaling.PROFILES["smoke"]["rounds"]),
}
ALL = ("seed", "race", "overhead", "fallback", "snapshot", "parallel", "scaling")


def main(argv=None) -> int:
    parser = profile_parser(__doc__, "latest.json", quick_help="fewer runs (< 2 minutes)")
    parser.add_argument("--only", action="append", choices=ALL, help="run only these (repeatable)")
    parser.add_argument("--no-plots", action="store_true", help="no PNGs next to the JSON")
    args = parser.parse_args(argv)
    profile = profile_of(args)
    runs = PROFILES[profile]
    which = args.only or list(ALL)

    quiet_reexec_logger()
    import reexec_native

    started = time.monotonic()
    result: dict = {"meta": start_meta("run.py", profile, runs=runs,
                                       reexec_native=getattr(reexec_native, "__version__", None))}
    helpers = build_helpers(args.cache_dir)
    result["meta"]["static_compiler"] = helpers.compiler
    samples: dict = {}
    tables: list[str] = []

    if "seed" in which:
        result["seed_scenario"], samples["seed"] = seed.run(args.cache_dir, runs["seed"])
        tables += ["", "## Seed scenario: binary rebuilt, program re-executes itself", *seed.table(result["seed_scenario"])]
    if "race" in which:
        with tempfile.TemporaryDirectory(prefix="reexec-race-") as tmp:
            result["race"], result["race_details"] = race.run(helpers, runs["race"], tmp)
        tables += ["", "## Race under a hostile swapper", *race.table(result["race"], result["race_details"])]
    if "overhead" in which:
        result["fast_path_overhead"], samples["overhead"] = overhead.run(helpers, runs["overhead"])
        tables += ["", "## Fast-path overhead against the floor", *overhead.table(result["fast_path_overhead"])]
    if "fallback" in which:
        result["fallback"], samples["fallback"] = fallback.run(args.cache_dir, runs["fallback"])
        tables += ["", "## Fallback cost", *fallback.table(result["fallback"])]
    if "snapshot" in which:
        result["snapshot_cost"], samples["snapshot"] = snapshot.run(runs["snapshot"])
        tables += ["", "## Snapshot cost (sealed copy before exec)", *snapshot.table(result["snapshot_cost"])]
    if "parallel" in which:
        result["parallel"] = parallel.run(helpers, runs["parallel"], parallel.PROFILES[profile]["ns"], sys.executable)
        tables += ["", "## Parallel throughput (fresh processes re-exec'ing at once)", *parallel.table(result["parallel"])]
    if "scaling" in which:
        result["scaling"] = scaling.run(helpers, runs["scaling"], scaling.PROFILES[profile]["counts"], sys.executable)
        tables += ["", "## Many arguments / variables (first call, in-call)", *scaling.table(result["scaling"])]

    write_result(result, started, args.output)
    if not args.no_plots:
        try:
            import plots
            made = plots.make(result, samples, args.output.parent)
            tables += ["", "plots: " + ", ".join(str(p) for p in made)]
        except ImportError as exc:
            tables += ["", f"plots skipped ({exc})"]
    meta = result["meta"]
    print(f"# reexec-native benchmarks ({profile}) on {meta['kernel']}, {meta['libc']}, {meta['cpu_count']} CPUs, "
          f"Python {meta['python']}; load {meta['loadavg_start']} -> {meta['loadavg_end']}; {meta['duration_s']} s")
    print("\n".join(tables))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
