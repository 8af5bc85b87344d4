"""Snapshot cost: milliseconds per megabyte of image for a sealed copy.

open_exe(path) once, then ExeHandle.make_snapshot("memfd") and
make_snapshot("tmpfile", <dir of the image>) repeatedly on files of several sizes
(random bytes: the copy does not care what it copies); the copy is closed after
each run. Reports the median time per size and the slope in ms per MB, which is
what snapshot=True adds to a re-exec before exec (page cache warm).
"""

from __future__ import annotations

import os
import tempfile
import time

from _common import log, quiet_reexec_logger, summary

SIZES_MB = (1, 8, 32)
METHODS = ("memfd", "tmpfile")


def run(runs: int) -> tuple[dict, dict]:
    """Returns ({method: {size_mb: median_ms}, method_ms_per_mb: slope}, samples)."""
    from reexec_native import open_exe

    quiet_reexec_logger()
    section: dict = {"sizes_mb": list(SIZES_MB), "runs": runs}
    samples: dict = {}
    with tempfile.TemporaryDirectory(prefix="reexec-snapshot-") as tmp:
        for size in SIZES_MB:
            image = os.path.join(tmp, f"image-{size}mb")
            with open(image, "wb") as f:
                f.write(os.urandom(size * 1024 * 1024))
            os.chmod(image, 0o755)
            with open_exe(image) as handle:
                for method in METHODS:
                    tmpdir = tmp if method == "tmpfile" else None
                    times = []
                    for _ in range(runs):
                        t0 = time.perf_counter_ns()
                        copy = handle.make_snapshot(method, tmpdir)
                        times.append((time.perf_counter_ns() - t0) / 1e6)
                        copy.close()
                    samples[f"{method}_{size}mb"] = times
                    section.setdefault(method, {})[str(size)] = summary(times, 3)
            os.unlink(image)
            log(f"[snapshot] {size} MB done")
    for method in METHODS:
        medians = [section[method][str(size)]["median"] for size in SIZES_MB]
        slope = (medians[-1] - medians[0]) / (SIZES_MB[-1] - SIZES_MB[0])
        section[f"{method}_ms_per_mb"] = round(slope, 3)
    return section, samples


def table(section: dict) -> list[str]:
    lines = ["| method | " + " | ".join(f"{s} MB" for s in section["sizes_mb"]) + " | ms per MB |",
             "| --- | " + " | ".join("---:" for _ in section["sizes_mb"]) + " | ---: |"]
    for method in METHODS:
        cells = [f"{section[method][str(s)]['median']:.2f} ms" for s in section["sizes_mb"]]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {section[f'{method}_ms_per_mb']} |")
    return lines


if __name__ == "__main__":
    sec, _ = run(10)
    print("\n".join(table(sec)))
