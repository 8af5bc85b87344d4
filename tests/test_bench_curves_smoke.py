"""benchmarks/parallel.py and benchmarks/scaling.py still run (their smoke profile, into a
temporary path), alone and through run.py. No timing is asserted: only that every
variant reached stamp in fresh processes and each section has its keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.skipif(not (BENCH / "parallel.py").exists() or sys.platform != "linux",
                                reason="the benchmarks need Linux and the source tree")
# benchmarks/parallel.py starts each batch with os.posix_spawn and POSIX_SPAWN_DUP2 file
# actions: not in PyPy's os (7.3.19)
needs_posix_spawn = pytest.mark.skipif(not hasattr(os, "POSIX_SPAWN_DUP2"),
                                       reason="benchmarks/parallel.py uses os.posix_spawn with "
                                              "os.POSIX_SPAWN_DUP2, which this interpreter's os lacks (PyPy)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One build of the C helpers for the whole module."""
    return tmp_path_factory.mktemp("cache")


def _run(cache: Path, script: str, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BITNET_REPAIR_PARENT", "REEXEC_NATIVE_TIERS")}
    result = subprocess.run([sys.executable, str(BENCH / script), "--smoke", "--no-plots",
                             "--cache-dir", str(cache), *args],
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _check_parallel(section: dict) -> None:
    assert section["ns"] == [1, 4]
    assert set(section["throughput_per_s"]) == {f"{v}/{n}" for v in ("reexec", "os_execv", "c_execve")
                                                for n in (1, 4)}
    assert all(s["n"] == 1 and s["median"] > 0 for s in section["throughput_per_s"].values())
    assert all(s["n"] == 1 and s["median"] > 0 for s in section["batch_wall_ms"].values())
    for key in ("ratio_reexec_vs_os_execv", "ratio_reexec_vs_c_execve"):
        assert set(section[key]) == {"1", "4"} and all(r > 0 for r in section[key].values())


def _check_scaling(section: dict) -> None:
    assert section["arg_max"] > 0 and section["left_out"] == []
    for axis in ("args", "env"):
        assert [p["count"] for p in section[axis]] == [0, 1000]
        for point in section[axis]:
            assert set(point["us"]) == {"reexec", "os_execve"}
            assert all(s["n"] == 1 and s["median"] > 0 for s in point["us"].values())
            assert point["ratio_reexec_vs_os_execve"] > 0 and point["exec_bytes"] > 0


@needs_posix_spawn
def test_parallel_benchmark_smoke(tmp_path, cache):
    out = tmp_path / "parallel.json"
    _run(cache, "parallel.py", "--output", str(out))
    data = json.loads(out.read_text())
    assert data["meta"]["profile"] == "smoke"
    _check_parallel(data["parallel"])


def test_scaling_benchmark_smoke(tmp_path, cache):
    out = tmp_path / "scaling.json"
    _run(cache, "scaling.py", "--output", str(out))
    data = json.loads(out.read_text())
    assert data["meta"]["profile"] == "smoke"
    _check_scaling(data["scaling"])


@pytest.fixture(scope="module")
def run_py_result(tmp_path_factory, cache) -> dict:
    """run.py --smoke with only the two curves."""
    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "latest.json"
    _run(cache, "run.py", "--only", "parallel", "--only", "scaling", "--output", str(out))
    return json.loads(out.read_text())


@needs_posix_spawn
def test_run_py_runs_both(run_py_result):
    _check_parallel(run_py_result["parallel"])
    _check_scaling(run_py_result["scaling"])
