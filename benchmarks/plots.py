"""Plots of a benchmark run (matplotlib; run.py skips them if it is not installed):
latency distributions of the exec methods, failures per swap mode, the parallel
throughput curve and the argv/env scaling curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter  # noqa: E402

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
    if result.get("parallel"):
        made.append(parallel(result["parallel"], out_dir))
    if result.get("scaling"):
        made.append(scaling(result["scaling"], out_dir))
    return made


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log_y(ax) -> None:
    """A log y axis labelled in plain numbers at 1, 2 and 5 of each decade."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def parallel(result: dict, out_dir: Path) -> Path:
    """parallel.png: throughput per N and variant, and reexec/os.execv per N."""
    ns = result["ns"]
    tp = result["throughput_per_s"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for variant, label in (("reexec", "reexec()"), ("os_execv", "os.execv"), ("c_execve", "C fork + execve (floor)")):
        left.plot(ns, [tp[f"{variant}/{n}"].get("median") for n in ns], marker="o", label=label)
    left.set_xscale("log", base=2)
    _log_y(left)
    left.set_xticks(ns, [str(n) for n in ns])
    left.set_xlabel("processes started at once (each a fresh process)")
    left.set_ylabel("processes finished per second (median batch)")
    left.set_title("Throughput of a batch")
    left.legend(fontsize=8)
    ratios = [result["ratio_reexec_vs_os_execv"][str(n)] for n in ns]
    right.plot(ns, ratios, marker="o", color="#d62728", label="reexec() / os.execv")
    right.axhline(0.8, color="grey", linestyle="--", label="target at N = 32 (0.8)")
    right.axhline(1.0, color="black", linewidth=0.5)
    right.set_xscale("log", base=2)
    right.set_xticks(ns, [str(n) for n in ns])
    right.set_ylim(0, max(1.2, *(r or 0 for r in ratios)) * 1.05)
    right.set_xlabel("processes started at once")
    right.set_ylabel("throughput ratio")
    right.set_title("reexec() throughput / os.execv throughput")
    right.legend(fontsize=8)
    return _save(fig, out_dir / "parallel.png")


def _count_label(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


def scaling(result: dict, out_dir: Path) -> Path:
    """scaling.png: in-call time against the number of arguments and of variables."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, axis, what in zip(axes, ("args", "env"), ("arguments", "environment variables"), strict=True):
        points = [p for p in result[axis] if p.get("us")]
        xs = [max(p["count"], 1) for p in points]
        for variant, label in (("reexec", "reexec()"), ("os_execve", "os.execve")):
            ax.plot(xs, [p["us"][variant]["median"] / 1e3 for p in points], marker="o", label=label)
        ax.set_xscale("log")
        _log_y(ax)
        ax.set_xticks(xs, [_count_label(p["count"]) for p in points], fontsize=8, rotation=45)
        ax.minorticks_off()
        ax.margins(y=0.12)
        ax.set_xlabel(f"number of {what} (0 drawn at 1)")
        ax.set_ylabel("ms from just before the call to the new program (median)")
        for x, p in zip(xs, points, strict=True):
            ax.annotate(f"{p['ratio_reexec_vs_os_execve']}x", (x, p["us"]["reexec"]["median"] / 1e3),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_title(f"First call, many {what}")
        ax.legend(fontsize=8)
    return _save(fig, out_dir / "scaling.png")
