"""The race, under a hostile swapper.

benchmarks/c/swapper.c replaces a target file in a tight loop, alternating two
variants of stamp (static C programs that print their variant id), in one of four
ways: cargo_link (unlink + hard link, as cargo does), rename (a new file renamed
over it), copy_in_place (O_TRUNC + write into the same inode, as `cp` over an
existing file), cargo_copy (unlink + create + write: cargo's cross-filesystem path,
a new inode written while open). Meanwhile this process re-executes into the target
many times, one forked child per run, alternating the strategies:

- spec             the spec's fast path: exists() (a stat), then exec by path
- reexec           reexec(argv, executable=target, fallback=None), default retry budget
- reexec_snapshot  the same with snapshot=True (copy modes only): a sealed memfd copy
                   runs, made only while no writer holds the file

A fifth mode, copy_in_place_paced, rewrites in place with a 1 ms pause between
rewrites (a build tool that writes now and then) and runs many more times: the
question there is whether a snapshot ever runs a partial image.

For each run the child records which variant it checked (spec: the inode its stat
saw; reexec: the inode of the descriptor open_exe gave, recorded by wrapping the
fast path's open_exe) and the program reports which variant ran. The two variant
files have fixed inodes, so in the link modes an inode names a variant. In the copy
modes the inode does not change with the contents (or is new each time), so the
checked variant is read from the file's contents at check time (through the
descriptor itself for reexec): a descriptor pins an inode, not its contents.

The program reports the variant and the inode it runs from. Outcomes: ok (ran the
inode and the variant checked), wrong_binary (another inode, or the same inode with
other contents than were checked), unverified (same inode, but it was still being
written when checked: what ran was completed after the check), ENOENT
(spec: exists() was false, so the spec would pay for cargo run; or exec failed),
ETXTBSY, ENOEXEC, other errnos, crash (killed by a signal).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter

from _common import (STAMP_RE, ForkRunner, bench_env, emit, errno_name, log, now_ns,
                     quiet_reexec_logger)

MODES = ("cargo_link", "rename", "copy_in_place", "cargo_copy", "copy_in_place_paced")
STRATEGIES = ("spec", "reexec", "reexec_snapshot")
COPY_MODES = ("copy_in_place", "cargo_copy", "copy_in_place_paced")
PACED_PAUSE_US = 1000


def strategies(mode: str) -> tuple[str, ...]:
    return STRATEGIES if mode in COPY_MODES else STRATEGIES[:2]
KINDS = ("ok", "wrong_binary", "unverified", "ENOENT", "ETXTBSY", "ENOEXEC", "crash")


class Variants:
    """Which variant a file holds: by inode when it is one of the two sources,
    else by reading the marker at its known offset."""

    def __init__(self, helpers, workdir) -> None:
        self.sources = []
        for i, stamp in enumerate(helpers.stamp, start=1):
            src = os.path.join(workdir, f"variant{i}")
            shutil.copy2(stamp, src)
            self.sources.append(src)
        self.by_inode = {os.stat(p).st_ino: i for i, p in enumerate(self.sources, start=1)}
        self.offset = helpers.marker_offset

    def of(self, ino: int, reopen: str) -> str:
        """"INODE:VARIANT"; VARIANT is "partial" when the file was still being written."""
        if ino in self.by_inode:
            return f"{ino}:{self.by_inode[ino]}"
        return f"{ino}:{self._read(reopen)}"

    def _read(self, reopen: str) -> str:
        try:
            fd = os.open(reopen, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            return f"unreadable-{errno_name(exc.errno)}"
        try:
            byte = os.pread(fd, 1, self.offset)
            return byte.decode() if byte in (b"1", b"2") else "partial"
        finally:
            os.close(fd)


def _spec_child(target: str, variants: Variants):
    def child(fd: int) -> None:
        try:
            st = os.stat(target)  # Path::exists()
        except OSError as exc:
            emit(fd, f"fail {errno_name(exc.errno)} exists")
            os._exit(0)
        emit(fd, f"checked {variants.of(st.st_ino, target)}")
        try:
            os.execve(target, ["stamp"], bench_env(now_ns()))
        except OSError as exc:
            emit(fd, f"fail {errno_name(exc.errno)} exec")
        os._exit(0)
    return child


def _reexec_child(target: str, variants: Variants, snapshot: bool = False, wait: str | None = None):
    from reexec_native import ExeHandle, ReexecError, reexec
    from reexec_native import _exe

    real_open_exe = _exe.open_plain
    real_make_snapshot = ExeHandle.make_snapshot

    def child(fd: int) -> None:
        def recording_open_exe(path, *args, **kwargs):
            handle = real_open_exe(path, *args, **kwargs)
            if not snapshot:
                emit(fd, f"checked {variants.of(handle.st_ino, f'/proc/self/fd/{handle.fd}')}")
            return handle

        def recording_make_snapshot(self, *args, **kwargs):
            copy = real_make_snapshot(self, *args, **kwargs)  # what runs is the copy
            emit(fd, f"checked {variants.of(copy.st_ino, f'/proc/self/fd/{copy.fd}')}")
            return copy

        _exe.open_plain = recording_open_exe
        ExeHandle.make_snapshot = recording_make_snapshot
        if wait is not None:
            os.environ["REEXEC_NATIVE_WAIT"] = wait  # wake.py: inotify vs the timer, side by side
        try:
            reexec(["stamp"], executable=target, env=bench_env(now_ns()), guard=None, fallback=None,
                   snapshot=snapshot)
        except ReexecError as exc:
            err = exc.exec_error
            emit(fd, f"fail {errno_name(getattr(err, 'errno', None))} {getattr(err, 'tier', '?')}")
        os._exit(0)
    return child


def classify(status: int, out: bytes) -> tuple[str, int]:
    """(kind, retries) of one run from its wait status and output."""
    text = out.decode(errors="replace")
    checks = re.findall(r"^checked (\S+)$", text, re.M)
    retries = max(0, len(checks) - 1)
    if os.WIFSIGNALED(status):
        return "crash", retries
    ran = STAMP_RE.search(out)
    if ran:
        if not checks:
            return "wrong_binary", retries
        checked_ino, checked_variant = checks[-1].split(":")
        if ran.group(3) and ran.group(3).decode() != checked_ino:
            return "wrong_binary", retries  # another file than the one checked
        if checked_variant == "partial":
            return "unverified", retries  # checked mid-write: what ran was written after the check
        return ("ok" if checked_variant == ran.group(1).decode() else "wrong_binary"), retries
    fail = re.search(r"^fail (\S+)", text, re.M)
    return (fail.group(1) if fail else f"exit{os.waitstatus_to_exitcode(status)}"), retries


def _prepare_target(mode: str, target: str, variants: Variants) -> None:
    for path in (target, target + ".tmp"):
        if os.path.lexists(path):
            os.unlink(path)
    if mode in ("cargo_link", "rename"):
        os.link(variants.sources[0], target)
    else:  # the copy modes write into the target: it must be its own file
        shutil.copy2(variants.sources[0], target)


def run_mode(mode: str, runs: int, helpers, variants: Variants, workdir: str,
             names: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    target = os.path.join(workdir, "target")
    _prepare_target(mode, target, variants)
    pause = [str(PACED_PAUSE_US)] if mode == "copy_in_place_paced" else []
    swap_mode = mode.replace("_paced", "")
    swapper = subprocess.Popen([str(helpers.swapper), swap_mode, target, *variants.sources, *pause],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    names = names or strategies(mode)
    counts = {s: Counter() for s in names}
    retried = Counter()
    children = {"spec": _spec_child(target, variants), "reexec": _reexec_child(target, variants),
                "reexec_snapshot": _reexec_child(target, variants, snapshot=True),
                "reexec_inotify": _reexec_child(target, variants, wait="inotify"),
                "reexec_poll": _reexec_child(target, variants, wait="poll")}
    runner = ForkRunner()
    started = time.monotonic()
    try:
        time.sleep(0.05)
        for _ in range(runs):
            for strategy in names:
                status, out = runner.run(children[strategy])
                kind, retries = classify(status, out)
                counts[strategy][kind] += 1
                retried[strategy] += retries > 0
    finally:
        runner.close()
        swapper.send_signal(signal.SIGTERM)
        sw_out, sw_err = swapper.communicate(timeout=30)
    elapsed = time.monotonic() - started
    stats = dict(re.findall(r"(\w+)=(\d+)", sw_out.decode()))
    section = {}
    for strategy in names:
        c = counts[strategy]
        by_kind = {k: c.get(k, 0) for k in KINDS}
        by_kind.update({k: v for k, v in c.items() if k not in by_kind})
        section[strategy] = {"runs": runs, "failures": runs - c.get("ok", 0), "by_kind": by_kind,
                             "runs_that_retried": retried[strategy] if strategy != "spec" else None}
    details = {"swaps": int(stats.get("swaps", 0)), "swapper_etxtbsy": int(stats.get("etxtbsy", 0)),
               "swapper_errors": int(stats.get("errors", 0)), "seconds": round(elapsed, 2),
               "swaps_per_second": round(int(stats.get("swaps", 0)) / elapsed, 1) if elapsed else None}
    if sw_err.strip():
        details["swapper_stderr"] = sw_err.decode(errors="replace")[-500:]
    return section, details


def run(helpers, runs: int, workdir: str) -> tuple[dict, dict]:
    """Returns (race section: {mode: {strategy: {runs, failures, by_kind}}}, details per mode)."""
    quiet_reexec_logger()
    os.makedirs(workdir, exist_ok=True)
    variants = Variants(helpers, workdir)
    section, details = {}, {}
    for mode in MODES:
        # In the unpaced copy modes the file is open for writing most of the time, so
        # reexec retries (ETXTBSY) up to its 0.25 s budget: an eighth of the runs keeps
        # the full run within minutes.
        n = max(10, runs // 8) if mode in ("copy_in_place", "cargo_copy") else runs
        log(f"[race] {mode}: {n} runs per strategy")
        section[mode], details[mode] = run_mode(mode, n, helpers, variants, workdir)
    return section, details


def table(section: dict, details: dict) -> list[str]:
    lines = ["| swap mode | strategy | runs | failures | ok | wrong binary | unverified | ENOENT | ETXTBSY | ENOEXEC | crash | other |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for mode, per in section.items():
        for strategy, r in per.items():
            k = r["by_kind"]
            other = ", ".join(f"{n} {v}" for n, v in k.items() if n not in KINDS and v) or ""
            lines.append(f"| {mode} | {strategy} | {r['runs']} | {r['failures']} | {k['ok']} | "
                         f"{k['wrong_binary']} | {k['unverified']} | {k['ENOENT']} | {k['ETXTBSY']} | {k['ENOEXEC']} | "
                         f"{k['crash']} | {other} |")
    lines.append("swaps/s: " + ", ".join(f"{m} {d['swaps_per_second']}" for m, d in details.items()))
    return lines


if __name__ == "__main__":
    import json
    import tempfile
    from _common import DEFAULT_CACHE, build_helpers
    with tempfile.TemporaryDirectory() as tmp:
        sec, det = run(build_helpers(DEFAULT_CACHE), 200, tmp)
    print(json.dumps(det, indent=1))
    print("\n".join(table(sec, det)))
