"""The cargo workspaces of the seed and fallback benchmarks, built once under the cache.

- fixture       a copy of tests/fixtures/cargo_ws (package xtask, feature crossval-all,
                no deps), its main() stamped: the first thing it does is read
                CLOCK_MONOTONIC and print `bench-stamp delta_ns=N` (N = now - $BENCH_T0)
                to stderr.
- generated_30  30 crates: xtask (stamped the same way) depending on 29 local path
                crates in layers (each depends on the previous two), no registry.
                cargo's no-op check then fingerprints 30 units, as in a real project.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _common import FIXTURE_WS, child_environ, log

STAMP_FN = r'''
/// Benchmark stamp: the first thing main() does.
fn bench_stamp() {
    #[repr(C)]
    struct Timespec { tv_sec: i64, tv_nsec: i64 }
    extern "C" { fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32; }
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(1 /* CLOCK_MONOTONIC */, &mut ts); }
    let now = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
    if let Some(t0) = std::env::var("BENCH_T0").ok().and_then(|v| v.parse::<i128>().ok()) {
        eprintln!("bench-stamp delta_ns={}", now - t0);
    }
}
'''


@dataclass
class Workspace:
    name: str
    root: Path
    crates: int

    @property
    def binary(self) -> Path:
        return self.root / "target" / "debug" / "xtask"

    def deps_binary(self) -> Path:
        """cargo's own output, deps/xtask-<hash>, which target/debug/xtask is a hard link to."""
        st = os.stat(self.binary)
        for path in glob.glob(str(self.root / "target" / "debug" / "deps" / "xtask-*")):
            if os.stat(path).st_ino == st.st_ino:
                return Path(path)
        raise RuntimeError(f"no deps/xtask-* hard link of {self.binary}")


def _stamp_main(source: str, extra_calls: str = "") -> str:
    if "fn main() {" not in source:
        raise RuntimeError("fixture main.rs has no `fn main() {`")
    return source.replace("fn main() {", "fn main() {\n    bench_stamp();" + extra_calls, 1) + STAMP_FN


def _write_fixture(root: Path) -> None:
    shutil.copytree(FIXTURE_WS, root, ignore=shutil.ignore_patterns("target"))
    main = root / "xtask" / "src" / "main.rs"
    main.write_text(_stamp_main(main.read_text()))


def _write_generated(root: Path, crates: int) -> None:
    libs = [f"crate_{i:02d}" for i in range(1, crates)]
    root.mkdir(parents=True)
    members = ", ".join(f'"{m}"' for m in ["xtask", *libs])
    (root / "Cargo.toml").write_text(f'[workspace]\nmembers = [{members}]\nresolver = "2"\n')
    for i, name in enumerate(libs):
        deps = libs[max(0, i - 2):i]
        (root / name / "src").mkdir(parents=True)
        dep_lines = "".join(f'{d} = {{ path = "../{d}" }}\n' for d in deps)
        (root / name / "Cargo.toml").write_text(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
            f"[dependencies]\n{dep_lines}")
        body = " + ".join([f"{d}::value(x)" for d in deps] or ["x"])
        fns = "\n".join(
            f"pub fn f{j}(v: &[u64]) -> u64 {{ v.iter().map(|x| x.wrapping_mul({j + 3})).sum() }}"
            for j in range(20))
        (root / name / "src" / "lib.rs").write_text(
            f"//! Generated crate {name}.\n{fns}\n"
            f"pub fn value(x: u64) -> u64 {{ f0(&[x, {i}]) + {body} }}\n")
    xtask = root / "xtask"
    (xtask / "src").mkdir(parents=True)
    dep_lines = "".join(f'{d} = {{ path = "../{d}" }}\n' for d in libs)
    (xtask / "Cargo.toml").write_text(
        '[package]\nname = "xtask"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        "[features]\ncrossval-all = []\n\n"
        f"[dependencies]\n{dep_lines}")
    fixture_main = (FIXTURE_WS / "xtask" / "src" / "main.rs").read_text()
    uses = "".join(f"\n    let _ = {d}::value(1);" for d in libs)
    (xtask / "src" / "main.rs").write_text(_stamp_main(fixture_main, uses))


def build(cache: Path, name: str) -> Workspace:
    """The workspace `name` (fixture | generated_30), generated and built if needed."""
    root = cache / "ws" / name
    crates = 1 if name == "fixture" else int(name.rsplit("_", 1)[1])
    if not (root / "Cargo.toml").exists():
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        if name == "fixture":
            _write_fixture(root)
        else:
            _write_generated(root, crates)
    ws = Workspace(name, root, crates)
    log(f"[workspaces] building {name} ({crates} crates) in {root}")
    subprocess.run(["cargo", "build", "--offline", "--quiet", "-p", "xtask", "--features", "crossval-all"],
                   cwd=root, env=child_environ(CARGO_TARGET_DIR=str(root / "target")), check=True)
    return ws


def restore_binary(ws: Workspace, deps_binary: Path) -> None:
    """Put cargo's output back at target/debug/xtask (hard link, as cargo does)."""
    if os.path.lexists(ws.binary):
        os.unlink(ws.binary)
    os.link(deps_binary, ws.binary)
