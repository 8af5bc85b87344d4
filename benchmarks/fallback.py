"""Fallback cost: cargo run versus direct exec, on both workspaces.

Time from the call to xtask's first clock read (its stamp), and wall time until the
command finished, for:

- direct_exec      os.execve(target/debug/xtask) from a forked child (what the fast path costs)
- cargo_run        `cargo run -p xtask --features crossval-all -- ARGS`, spawned and waited
                   (the spec's fallback, and CargoRun()'s command), on an up-to-date workspace
- build_exec       CargoRun(mode="build-exec").run(): cargo build, then exec of the binary;
                   only when CargoRun accepts `mode` (otherwise reported as pending)
- reexec_missing   reexec() when the program is gone: the fast path retries ENOENT for its
                   0.25 s budget, then the CargoRun() fallback (the whole price of a miss)
"""

from __future__ import annotations

import inspect
import os
import subprocess

from _common import XTASK_STAMP_RE, ForkRunner, child_environ, log, now_ns, quiet_reexec_logger, summary
from workspaces import build

ARGS = ["preflight", "--backend", "bitnet"]


def build_exec_supported() -> bool:
    from reexec_native import CargoRun
    return "mode" in inspect.signature(CargoRun).parameters


def _forked(ws, env, body):
    """Run body(t0) in a forked child with cwd = workspace and stderr into the pipe."""
    def child(_fd):
        os.chdir(ws.root)
        os.dup2(1, 2)
        os.environ.clear()
        os.environ.update(env)
        body()
    return child


def run(cache, runs: int, workspace_names=("fixture", "generated_30")) -> tuple[dict, dict]:
    quiet_reexec_logger()
    from reexec_native import CargoRun, reexec
    has_build_exec = build_exec_supported()
    section, samples = {}, {}
    runner = ForkRunner()
    try:
        for name in workspace_names:
            ws = build(cache, name)
            env = child_environ(CARGO_TARGET_DIR=str(ws.root / "target"))
            log(f"[fallback] {name}: {runs} runs per method")
            first, wall = {}, {}

            def direct():
                t0 = now_ns()
                os.execve(str(ws.binary), ["xtask", *ARGS], {**env, "BENCH_T0": str(t0)})

            def build_exec():
                t0 = now_ns()
                os.environ["BENCH_T0"] = str(t0)
                CargoRun(mode="build-exec").run([b"xtask", *(a.encode() for a in ARGS)],
                                                {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()})

            def missing():
                t0 = now_ns()
                reexec(["xtask", *ARGS], executable=str(ws.root / "gone"), env={**env, "BENCH_T0": str(t0)},
                       guard=None)

            forked = {"direct_exec": direct, "reexec_missing": missing}
            if has_build_exec:
                forked["build_exec"] = build_exec
            for key in ("direct_exec", "cargo_run", *forked.keys() - {"direct_exec"}):
                first[key], wall[key] = [], []
            for _ in range(runs):
                for key in first:
                    start = now_ns()
                    if key == "cargo_run":
                        t0 = now_ns()
                        out = subprocess.run(["cargo", "run", "-p", "xtask", "--features", "crossval-all", "--", *ARGS],
                                             cwd=ws.root, env={**env, "BENCH_T0": str(t0)}, capture_output=True)
                        status, text = out.returncode, out.stderr + out.stdout
                    else:
                        status, text = runner.run(_forked(ws, env, forked[key]))
                    end = now_ns()
                    m = XTASK_STAMP_RE.search(text)
                    if m and b"xtask-fixture" in text:
                        first[key].append(int(m.group(1)) / 1e6)
                        wall[key].append((end - start) / 1e6)
                    else:
                        log(f"[fallback] {name} {key}: status {status}: {text[-300:]!r}")
            entry = {"crates": ws.crates}
            for key in first:
                s, w = summary(first[key], 2), summary(wall[key], 2)
                entry[f"{key}_ms"] = s.get("median")
                entry[f"{key}_p90_ms"] = s.get("p90")
                entry[f"{key}_wall_ms"] = w.get("median")
            if not has_build_exec:
                entry["build_exec_ms"] = None
                entry["build_exec_status"] = "pending: CargoRun does not accept mode= in this version"
            if entry.get("direct_exec_ms"):
                entry["cargo_run_vs_direct"] = round(entry["cargo_run_ms"] / entry["direct_exec_ms"], 1)
            section[name] = entry
            samples[name] = first
    finally:
        runner.close()
    section["units"] = ("ms from the call to xtask's first clock read (median, p90); *_wall_ms: "
                        "until the command finished, as seen by the caller")
    return section, samples


def table(section: dict) -> list[str]:
    lines = ["| workspace | direct exec (ms) | cargo run (ms) | build-exec (ms) | reexec(), binary gone (ms) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in section.items():
        if not isinstance(r, dict):
            continue
        lines.append(f"| {name} | {r.get('direct_exec_ms')} | {r.get('cargo_run_ms')} | "
                     f"{r.get('build_exec_ms') if r.get('build_exec_ms') is not None else 'pending'} | "
                     f"{r.get('reexec_missing_ms')} |")
    return lines


if __name__ == "__main__":
    import json
    from _common import DEFAULT_CACHE
    sec, _ = run(DEFAULT_CACHE, 2)
    print(json.dumps(sec, indent=1))
    print("\n".join(table(sec)))
