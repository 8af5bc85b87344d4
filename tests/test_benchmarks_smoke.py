"""The benchmarks still run (their quickest mode, into a temporary path). No timing
is asserted: only that each benchmark produced its section with the expected keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _env import fd_exec_unavailable

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

pytestmark = pytest.mark.skipif(not RUN.exists() or shutil.which("cargo") is None or sys.platform != "linux",
                                reason="benchmarks need Linux, cargo and the source tree")


@pytest.mark.skipif(not hasattr(os, "O_PATH") or not hasattr(os, "POSIX_SPAWN_DUP2"),
                    reason="benchmarks/overhead.py measures os.execve on an os.O_PATH descriptor and "
                           "benchmarks/parallel.py spawns with os.POSIX_SPAWN_DUP2: this interpreter's os "
                           "has neither (PyPy)")
def test_benchmarks_smoke(tmp_path):
    if fd_exec_unavailable() is not None:
        pytest.skip("under a binfmt_misc emulator (the arm64 leg's qemu-user) building the benchmarks' "
                    "30-crate cargo workspace takes longer than this smoke's 240 s bound (seen: over "
                    "4 minutes); the amd64 suites run it")
    out = tmp_path / "smoke.json"
    env = {k: v for k, v in os.environ.items() if k not in ("BITNET_REPAIR_PARENT", "REEXEC_NATIVE_TIERS")}
    result = subprocess.run([sys.executable, str(RUN), "--smoke", "--no-plots", "--output", str(out),
                             "--cache-dir", str(tmp_path / "cache")],
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["seed_scenario"]) == {"fixture", "generated_30"}
    for ws in data["seed_scenario"].values():
        assert ws["spec_ms"] and ws["ours_ms"] and ws["ratio"]
    for mode in ("cargo_link", "rename", "copy_in_place"):
        for strategy in ("spec", "reexec"):
            cell = data["race"][mode][strategy]
            assert cell["runs"] == sum(cell["by_kind"].values())
    for key in ("floor_us", "os_execv_us", "os_execve_fd_us", "reexec_us"):
        assert data["fast_path_overhead"][key]["median"] > 0
    assert data["fast_path_overhead"]["ratio_vs_execv"] > 0
    assert data["fallback"]["fixture"]["cargo_run_ms"] > 0
    assert "kernel" in data["meta"] and "loadavg_end" in data["meta"]


def test_cold_call_benchmark_smoke(tmp_path):
    """benchmarks/cold.py: every variant reached stamp in fresh processes, both clocks."""
    out = tmp_path / "cold.json"
    result = subprocess.run([sys.executable, str(RUN.parent / "cold.py"), "--smoke", "--output", str(out),
                             "--cache-dir", str(tmp_path / "cache")],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    cold = json.loads(out.read_text())["cold_call"]
    assert set(cold["us"]) == {"reexec/whole", "reexec/in_call", "os_execv/whole", "os_execv/in_call",
                               "c_execve/whole", "ext_floor/whole"}
    assert all(s["n"] == 3 and s["median"] > 0 for s in cold["us"].values())
    assert set(cold["ratio_reexec_vs_os_execv"]) == {"whole", "in_call"}
    assert cold["ratio_ext_floor_vs_os_execv_whole"] > 0


def test_doctor_benchmark_smoke(tmp_path):
    """benchmarks/doctor.py: every variant ran to exit 0 in fresh processes (no timing asserted)."""
    out = tmp_path / "doctor.json"
    result = subprocess.run([sys.executable, str(RUN.parent / "doctor.py"), "--smoke", "--output", str(out)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    doctor = json.loads(out.read_text())["doctor"]
    assert set(doctor["wall_ms"]) == {"doctor", "doctor_json", "doctor_no_probe", "python_start"}
    assert all(s["n"] == 2 and s["median"] > 0 for s in doctor["wall_ms"].values())
    assert set(doctor["ratio_vs_python_start"]) == {"doctor", "doctor_json", "doctor_no_probe"}
