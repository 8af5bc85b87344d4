"""What importing reexec_native, and `reexec-native exec`, cost a program's start.

Wall time of a whole child process (spawn to reaped), for:

- pass           python -c pass                                  (the floor of a start)
- import         python -c "import reexec_native"
- os_execv       python -c "import os; os.execv('/bin/true', ...)"
- cli_exec       python -c "<the console script's code>" exec -- /bin/true
- cli_script     reexec-native exec -- /bin/true: the console script installed next
                 to the interpreter (bin/ or Scripts/), as users run it: its shebang,
                 and whatever the installer wrote into it (older pips: `import re`)

The variants run interleaved, in a shuffled order each round, so they share the
machine's load; the figures are medians and the ratios import/pass and
cli_exec/os_execv. Usage: python benchmarks/import_cost.py [--rounds N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import side_by_side  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "import_cost.json"
TRUE = "/bin/true"
CONSOLE_SCRIPT = "import sys; from reexec_native.cli import main; sys.exit(main())"

VARIANTS = {
    "pass": ["-c", "pass"],
    "import": ["-c", "import reexec_native"],
    "os_execv": ["-c", f"import os; os.execv({TRUE!r}, [{TRUE!r}])"],
    "cli_exec": ["-c", CONSOLE_SCRIPT, "exec", "--", TRUE],
}


def run_once(argv: list[str]) -> int:
    """Nanoseconds from spawn to reaping a child that must exit 0."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} exited with {os.waitstatus_to_exitcode(status)}")
    return elapsed


def console_script(python: str) -> str | None:
    """The installed `reexec-native` script next to `python` (a venv's bin/), if any."""
    for name in ("reexec-native", "reexec-native.exe"):
        candidate = Path(python).parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def measure(rounds: int, python: str) -> dict[str, list[int]]:
    commands = {name: [python, "-P", *args] for name, args in VARIANTS.items()}
    script = console_script(python)
    if script is not None:
        commands["cli_script"] = [script, "exec", "--", TRUE]
    for argv in commands.values():  # warm the page cache and the .pyc files
        run_once(argv)
    return side_by_side(commands, rounds, lambda name: run_once(commands[name]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", type=Path, default=RESULTS)
    opts = parser.parse_args()
    samples = measure(opts.rounds, opts.python)
    medians = {name: statistics.median(values) / 1e6 for name, values in samples.items()}
    result = {
        "benchmark": "import_cost",
        "python": opts.python,
        "python_version": platform.python_version(),
        "machine": platform.machine(),
        "rounds": opts.rounds,
        "median_ms": {name: round(value, 3) for name, value in medians.items()},
        "ratios": {
            "import/pass": round(medians["import"] / medians["pass"], 3),
            "cli_exec/os_execv": round(medians["cli_exec"] / medians["os_execv"], 3),
            **({"cli_script/os_execv": round(medians["cli_script"] / medians["os_execv"], 3)}
               if "cli_script" in medians else {}),
        },
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, value in medians.items():
        print(f"{name:10s} {value:8.3f} ms")
    for name, value in result["ratios"].items():
        print(f"{name:18s} {value:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
