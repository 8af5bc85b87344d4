"""Plots of a benchmark run (matplotlib; run.py skips them if it is not installed):
latency distributions of the exec methods, and failures per swap mode."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"floor": "execveat, C (floor)", "floor_execve": "execve(path), C",
          "fresh_os_execv": "os.execv(path)", "fresh_os_execve_fd": "os.execve(fd)", "fresh_reexec": "reexec()",
          "os_execv": "os.execv(path), forked child", "os_execve_fd": "os.execve(fd), forked child",
          "py_execveat": "execveat via ctypes, forked child", "reexec": "reexec(), forked child"}


def make(result: dict, samples: dict, out_dir: Path) -> list[Path]:
    made = []
    over = samples.get("overhead")
    if over:
        names = [n for n in LABELS if over.get(n)]
        fig, ax = plt.subplots(figsize=(9, 5))
        ax.boxplot([over[n] for n in names], vert=False, showfliers=False, whis=(1, 99))
        ax.set_yticks(range(1, len(names) + 1), [LABELS[n] for n in names])
        ax.set_xlabel("µs from the exec call to the new program's first clock read (whiskers p1-p99)")
        ax.set_title("Exec latency of a tiny static program")
        fig.tight_layout()
        path = out_dir / "exec_latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    race = result.get("race")
    if race:
        modes = list(race)
        kinds = ["wrong_binary", "unverified", "ENOENT", "ETXTBSY", "ENOEXEC", "crash"]
        colors = ["#d62728", "#ff9896", "#1f77b4", "#ff7f0e", "#9467bd", "#000000"]
        fig, ax = plt.subplots(figsize=(10, 4.5))
        strategies = ("spec", "reexec", "reexec_snapshot")
        width = 0.28
        for s_i, strategy in enumerate(strategies):
            present = [m for m in modes if strategy in race[m]]
            left = [0.0] * len(present)
            xs = [modes.index(m) + (s_i - 1) * width for m in present]
            for kind, color in zip(kinds, colors):
                vals = [100 * race[m][strategy]["by_kind"].get(kind, 0) / race[m][strategy]["runs"] for m in present]
                ax.bar(xs, vals, width, bottom=left, color=color, edgecolor="white",
                       label=kind if s_i == 0 else None, hatch="//" if strategy == "spec" else None)
                left = [a + b for a, b in zip(left, vals)]
            for x, total in zip(xs, left):
                ax.text(x, total + 1, {"reexec_snapshot": "snap"}.get(strategy, strategy), ha="center", fontsize=7)
        ax.set_xticks(range(len(modes)), [m.replace("_paced", "\n(paced)") for m in modes], fontsize=8)
        ax.set_ylabel("% of runs that failed")
        ax.set_ylim(0, 110)
        ax.set_title("Re-exec under a hostile swapper: failures by kind (hatched: spec)")
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path = out_dir / "race_failures.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made
