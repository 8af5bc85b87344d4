"""benchmarks/wake.py and benchmarks/upgrade.py still run (their smoke profile). No
timing is asserted: only that each produced its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_env

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.skipif(not BENCH.exists() or sys.platform != "linux",
                                reason="benchmarks need Linux and the source tree")


def test_wake_benchmark_smoke(tmp_path):
    out = tmp_path / "wake.json"
    result = subprocess.run([sys.executable, str(BENCH / "wake.py"), "--smoke", "--output", str(out),
                             "--cache-dir", str(tmp_path / "cache")],
                            capture_output=True, text=True, timeout=240, env=child_env())
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    for mode in ("inotify", "poll", "present"):
        cell = data["wake_latency"][mode]
        assert cell["latency_ms"]["n"] + cell["failed"] == data["meta"]["wake_runs"]
    for strategy in ("reexec_inotify", "reexec_poll"):
        cell = data["race_cargo_link"][strategy]
        assert cell["runs"] == sum(cell["by_kind"].values())


def test_upgrade_benchmark_smoke(tmp_path):
    out = tmp_path / "upgrade.json"
    result = subprocess.run([sys.executable, str(BENCH / "upgrade.py"), "--smoke", "--output", str(out)],
                            capture_output=True, text=True, timeout=240,
                            env=child_env(CARGO_TARGET_DIR=str(tmp_path / "target")))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    for summary in data["summary"].values():
        assert summary["requests_sent"] > 0 and summary["upgrades"] == data["meta"]["upgrades_per_round"]
