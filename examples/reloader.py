"""A long-lived Python program that re-executes itself, again and again: on SIGUSR2 or
SIGHUP (as gunicorn's arbiter re-executes on USR2) or when a watched file changes (as a
hupper-style reloader restarts on a source change). It shows the reexec() call such
programs should make (docs/upgrade.md, "Servers and reloaders"):

    reexec(guard=None, fallback=None, cwd=start_dir(), env=...)

- guard=None: the re-exec is triggered by a signal or a change, never by starting, so
  it cannot loop; the default guard would refuse the second generation.
- fallback=None: this program is not built by cargo. If the exec cannot happen (the
  interpreter is briefly missing during an upgrade, the script is gone), reexec()
  raises before the point of no return and this generation keeps running.
- cwd=start_dir(): the command line's relative paths (``python examples/reloader.py``)
  resolve where the program was started, even after it chdir()s.

    python examples/reloader.py --generations 3 --self-signal   # demo: 3 re-execs, then exit
    python examples/reloader.py --generations 1 --watch app.py  # re-exec when app.py changes

Each generation prints ``[reloader] generation N pid P``; the last one exits 0.
tests/test_safe_defaults.py runs it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from reexec_native import ReexecError, reexec, start_dir

GENERATION = "RELOADER_GENERATION"


def upgrade(generation: int) -> None:
    """Replace this process with the same command, one generation on. Returns only if
    that was refused (nothing ran): the caller carries on as it was."""
    env = {**os.environ, GENERATION: str(generation + 1)}
    try:
        reexec(guard=None, fallback=None, cwd=start_dir(), env=env)
    except ReexecError as exc:
        print(f"[reloader] re-exec refused, generation {generation} carries on: {exc}", file=sys.stderr,
              flush=True)


def _mtime(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=3, help="exit 0 once this generation is reached")
    parser.add_argument("--self-signal", action="store_true", help="send ourselves SIGUSR2 in each generation")
    parser.add_argument("--watch", metavar="FILE", help="re-exec when FILE's modification time changes")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="give up (exit 1) after this long")
    args = parser.parse_args(argv)

    generation = int(os.environ.get(GENERATION, "0"))
    wanted: list[bool] = []
    for signum in (signal.SIGUSR2, signal.SIGHUP):
        signal.signal(signum, lambda *_: wanted.append(True))  # acted on in the loop, not in the handler
    print(f"[reloader] generation {generation} pid {os.getpid()}", flush=True)  # and ready for a signal
    if generation >= args.generations:
        return 0
    seen = _mtime(args.watch)
    if args.self_signal:
        os.kill(os.getpid(), signal.SIGUSR2)
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        if wanted or _mtime(args.watch) != seen:
            wanted.clear()
            seen = _mtime(args.watch)
            upgrade(generation)
        time.sleep(0.01)
    return 1


if __name__ == "__main__":
    sys.exit(main())
