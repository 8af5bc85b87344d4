"""The seed scenario: the running program's binary is rebuilt, and it re-executes itself.

The running program is a private copy of the Python interpreter placed at the
workspace's target/debug/xtask (so /proc/self/exe names it). It first does what a
cargo rebuild does to that path (unlink, then hard-link cargo's fresh
deps/xtask-<hash>, so the workspace stays up to date), then, with t0 in $BENCH_T0:

- spec  the spec's strategy ported faithfully: exe = readlink("/proc/self/exe")
        (now ".../xtask (deleted)"); if it exists, exec it; else
        `cargo run -p xtask --features crossval-all -- ARGS` (cwd = the workspace),
        wait, exit with its code
- ours  reexec(argv) with the default CargoRun fallback

Both end in target/debug/xtask, whose first instruction in main() reads the clock and
prints the delta. Runs alternate between the two strategies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

from _common import XTASK_STAMP_RE, child_environ, log, summary
from workspaces import build, restore_binary

ARGS = ["preflight", "--backend", "bitnet"]

CHILD = textwrap.dedent("""
    import logging, os, subprocess, sys, time
    from reexec_native import reexec
    logging.getLogger("reexec_native").disabled = True
    strategy, deps_binary = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    me = os.readlink("/proc/self/exe")
    os.unlink(me)                # the rebuild, as cargo does it: unlink ...
    os.link(deps_binary, me)     # ... then hard-link the new binary
    env = dict(os.environ)
    t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    env["BENCH_T0"] = str(t0)
    if strategy == "spec":
        exe = os.readlink("/proc/self/exe")           # Rust's env::current_exe()
        env["BITNET_REPAIR_PARENT"] = "1"
        if os.path.exists(exe):
            try:
                os.execve(exe, [exe, *args], env)
            except OSError:
                pass
        cmd = ["cargo", "run", "-p", "xtask", "--features", "crossval-all", "--", *args]
        sys.exit(subprocess.call(cmd, env=env))
    reexec([me, *args], env=env)
""")


def _python_copy(cache) -> str:
    copy = cache / "bin" / "python-copy"
    copy.parent.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(sys.executable)
    if not copy.exists() or copy.stat().st_size != os.stat(real).st_size:
        shutil.copy2(real, copy)
    return str(copy)


def _site_packages() -> str:
    import reexec_native
    return os.path.dirname(os.path.dirname(os.path.abspath(reexec_native.__file__)))


def run_once(ws, strategy: str, python_copy: str, deps_binary, env) -> tuple[float | None, str]:
    """One re-exec; (ms from the call to xtask's first clock read, cargo's stderr)."""
    if os.path.lexists(ws.binary):
        os.unlink(ws.binary)
    os.link(python_copy, ws.binary)  # the old build, running
    try:
        out = subprocess.run([str(ws.binary), "-c", CHILD, strategy, str(deps_binary), *ARGS],
                             cwd=ws.root, env=env, capture_output=True, timeout=300)
    finally:
        restore_binary(ws, deps_binary)
    m = XTASK_STAMP_RE.search(out.stderr)
    if out.returncode != 0 or not m or b"xtask-fixture" not in out.stdout:
        log(f"[seed] {ws.name} {strategy}: rc={out.returncode} stderr={out.stderr[-400:]!r}")
        return None, out.stderr.decode(errors="replace")
    return int(m.group(1)) / 1e6, out.stderr.decode(errors="replace")


def run(cache, runs: int, workspace_names=("fixture", "generated_30")) -> tuple[dict, dict]:
    """Returns (seed_scenario section, raw samples in ms per workspace and strategy)."""
    python_copy = _python_copy(cache)
    section, samples = {}, {}
    for name in workspace_names:
        ws = build(cache, name)
        deps_binary = ws.deps_binary()
        env = child_environ(PYTHONPATH=_site_packages(), CARGO_TARGET_DIR=str(ws.root / "target"))
        log(f"[seed] {name}: {runs} runs per strategy")
        got = {"spec": [], "ours": []}
        rebuilt = 0
        for _ in range(runs):
            for strategy in got:
                ms, stderr = run_once(ws, strategy, python_copy, deps_binary, env)
                rebuilt += "Compiling" in stderr
                if ms is not None:
                    got[strategy].append(ms)
        spec, ours = summary(got["spec"], 2), summary(got["ours"], 3)
        section[name] = {
            "crates": ws.crates,
            "spec_ms": spec.get("median"),
            "ours_ms": ours.get("median"),
            "ratio": round(spec["median"] / ours["median"], 1) if spec.get("n") and ours.get("n") else None,
            "spec": spec,
            "ours": ours,
            "cargo_recompiled_runs": rebuilt,
            "spec_path_taken": "cargo run (exists() is false for '... (deleted)')",
        }
        samples[name] = got
    return section, samples


def table(section: dict) -> list[str]:
    lines = ["| workspace | crates | spec: current_exe → cargo run (ms) | reexec() (ms) | ratio |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in section.items():
        lines.append(f"| {name} | {r['crates']} | {r['spec_ms']} (p90 {r['spec'].get('p90')}) | "
                     f"{r['ours_ms']} (p90 {r['ours'].get('p90')}) | {r['ratio']}× |")
    return lines


if __name__ == "__main__":
    import json
    from _common import DEFAULT_CACHE
    sec, _ = run(DEFAULT_CACHE, 3)
    print(json.dumps(sec, indent=1))
    print("\n".join(table(sec)))
