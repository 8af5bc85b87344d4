"""Shared helpers: building the C helpers, statistics, machine facts, the profiled
benchmarks' command line and results file, and running one program per forked child
with a timestamp in its environment.

Every latency here is "call to first instruction": the parent takes
t0 = clock_gettime_ns(CLOCK_MONOTONIC) just before its exec (or spawn) call and
passes it as $BENCH_T0; the new program (benchmarks/c/stamp.c, or the stamped xtask
of a benchmark workspace) reads CLOCK_MONOTONIC first thing in main() and prints
the delta.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
C_DIR = BENCH_DIR / "c"
FIXTURE_WS = REPO / "tests" / "fixtures" / "cargo_ws"
DEFAULT_CACHE = BENCH_DIR / ".cache"
STAMP_RE = re.compile(rb"variant=(\d+) delta_ns=(-?\d+)(?: ino=(\d+))?")
XTASK_STAMP_RE = re.compile(rb"bench-stamp delta_ns=(-?\d+)")
MARKER = b"BENCH-VARIANT-MARKER:"


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- C helpers ---------------------------------------------------------------------

@dataclass
class Helpers:
    """Paths of the compiled helpers: stamp variants 1 and 2, floor, swapper."""
    stamp: tuple[Path, Path]
    floor: Path
    swapper: Path
    compiler: str
    marker_offset: int


def _static_compiler() -> list[str]:
    """gcc -static if static glibc links here, else musl-gcc -static."""
    probe = subprocess.run(["gcc", "-static", "-x", "c", "-o", os.devnull, "-"],
                           input=b"int main(void){return 0;}", capture_output=True)
    if probe.returncode == 0:
        return ["gcc", "-static"]
    if shutil.which("musl-gcc"):
        return ["musl-gcc", "-static"]
    raise RuntimeError("neither gcc -static (libc6-dev static archives) nor musl-gcc works: "
                       + probe.stderr.decode(errors="replace"))


def build_helpers(cache: Path) -> Helpers:
    """Compile benchmarks/c/*.c into cache/bin (rebuilt when a source is newer)."""
    out = cache / "bin"
    out.mkdir(parents=True, exist_ok=True)
    cc = _static_compiler()
    flags = ["-O2", "-Wall", "-Wextra"]

    def build(source: str, name: str, *extra: str) -> Path:
        src = C_DIR / source
        dst = out / name
        if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
            subprocess.run([*cc, *flags, *extra, "-o", str(dst), str(src)], check=True)
        return dst

    stamps = (build("stamp.c", "stamp1", "-DVARIANT=1"), build("stamp.c", "stamp2", "-DVARIANT=2"))
    offsets = {p.read_bytes().find(MARKER) for p in stamps}
    if len(offsets) != 1 or -1 in offsets:
        raise RuntimeError(f"variant marker not at one offset in both stamps: {offsets}")
    return Helpers(stamp=stamps, floor=build("floor.c", "floor"), swapper=build("swapper.c", "swapper"),
                   compiler=" ".join(cc), marker_offset=offsets.pop() + len(MARKER))


# -- statistics ---------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: list[float], digits: int = 1) -> dict:
    """{median, p10, p90, p99, mean, min, max, n}, rounded."""
    if not values:
        return {"n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "p10": round(percentile(values, 10), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "mean": round(statistics.fmean(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }



def side_by_side(names, rounds: int, measure, shuffle=random.shuffle) -> dict[str, list]:
    """`rounds` rounds of measure(name) for each of `names`, in a new shuffled order
    each round, so that the variants share the machine's load alike; a None from
    measure (a failed run) is left out."""
    samples: dict[str, list] = {name: [] for name in names}
    order = list(names)
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            value = measure(name)
            if value is not None:
                samples[name].append(value)
    return samples

# -- machine facts -----------------------------------------------------------------

def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def machine_facts() -> dict:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uname = platform.uname()
    return {
        "kernel": f"{uname.system} {uname.release}",
        "machine": uname.machine,
        "libc": " ".join(platform.libc_ver()),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "gcc": _first_line(["gcc", "--version"]),
        "cargo": _first_line(["cargo", "--version"]),
        "rustc": _first_line(["rustc", "--version"]),
        "cargo_path": shutil.which("cargo"),
        "cargo_is_rustup_proxy": bool(shutil.which("cargo"))
        and os.path.basename(os.path.realpath(shutil.which("cargo"))) == "rustup",
    }


def git_commit() -> str | None:
    return _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])



# -- a profiled benchmark's command line and results file ---------------------------

PROFILE_FLAGS = {"full": "", "quick": " --quick", "smoke": " --smoke"}


def profile_parser(doc: str, output: str, *, quick_help: str | None = None) -> argparse.ArgumentParser:
    """--quick / --smoke (neither: the full profile), --output (default
    benchmarks/results/`output`) and --cache-dir, for a benchmark described by `doc`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help=quick_help or "fewer runs")
    size.add_argument("--smoke", action="store_true", help="the fewest runs, to check the benchmark works")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / output,
                        help=f"JSON path (default: benchmarks/results/{output})")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="where helpers and workspaces are built (default: benchmarks/.cache)")
    return parser


def profile_of(args: argparse.Namespace) -> str:
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def start_meta(script: str, profile: str, **fields: object) -> dict:
    """A results file's "meta" at the start: the profile, `fields` (run counts...),
    the command that reproduces it, date, commit, load and the machine."""
    return {"profile": profile, **fields,
            "command": f"python benchmarks/{script}{PROFILE_FLAGS[profile]}",
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], **machine_facts()}


def write_result(result: dict, started: float, output: Path) -> None:
    """Close "meta" (load at the end, duration since `started`, a time.monotonic())
    and write the results file."""
    result["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")

# -- one exec per forked child -------------------------------------------------------

class ForkRunner:
    """Runs `child(result_fd)` in a forked child whose stdout is a pipe, waits, and
    returns (raw status, everything the child and its exec'd program wrote).

    `child` must exec or call os._exit; if it returns, the child exits 127.
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)

    def run(self, child) -> tuple[int, bytes]:
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(self.write_fd, 1)
                child(1)
            except BaseException:  # noqa: BLE001 - nothing may escape a forked child
                pass
            os._exit(127)
        _, status = os.waitpid(pid, 0)
        return status, self._drain()

    def _drain(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


def emit(fd: int, text: str) -> None:
    """One line from a forked child to the parent (before it execs)."""
    os.write(fd, (text + "\n").encode())


def errno_name(number: int | None) -> str:
    return errno.errorcode.get(number or 0, str(number))


def bench_env(t0: int, **extra: str) -> dict[str, str]:
    """The small, fixed environment every exec benchmark passes on."""
    env = {"PATH": "/usr/bin:/bin", "BENCH_T0": str(t0)}
    env.update(extra)
    return env


def quiet_reexec_logger() -> None:
    import logging
    logging.getLogger("reexec_native").disabled = True


def child_environ(**extra: str) -> dict[str, str]:
    """os.environ without anything that would change reexec_native's behaviour."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BITNET_REPAIR_PARENT", "REEXEC_NATIVE_TIERS", "CARGO", "BENCH_T0")}
    env.update(extra)
    return env
