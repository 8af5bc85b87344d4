"""Which package modules a plain reexec() runs code in, and how often it switches between them.

A fresh interpreter imports reexec_native and calls ``reexec([true], executable=true)``
(the defaults otherwise: guard, fallback, retry budget) under ``sys.setprofile``. Every
Python call and return inside the package is an event; the module an event is in is the
module whose code runs. A switch is two consecutive package events in different modules
(a call into another module, or the return from it). Calls into the standard library
are not events: they do not move the path between the package's modules.

The figure is the call itself: from the call of reexec() to the C core's exec, lazy
imports made inside it included. Loading the modules that define reexec() (the first
``reexec_native.reexec``, PEP 562) is reported apart, as "with the imports". The exec
itself ends the process, so each event is written to a pipe as it happens; the parent
reads them all once the process is replaced (the pipe's write end closes at exec).

    python benchmarks/call_path.py          # the report as text
    python benchmarks/call_path.py --json   # and as JSON (for tests/test_module_graph.py)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

CHILD = r"""
import os, sys
out = int(os.environ["CALL_PATH_FD"])
def profile(frame, event, arg):
    if event in ("call", "return"):
        name = frame.f_globals.get("__name__", "")
        if name == "reexec_native" or name.startswith("reexec_native."):
            os.write(out, f"{name} {event} {frame.f_code.co_name}\n".encode())
import reexec_native
sys.setprofile(profile)
reexec_native.reexec([sys.argv[1]], executable=sys.argv[1])
"""


def measure(python: str = sys.executable) -> dict[str, dict[str, object]]:
    """Run the child; for the call (and with the imports): the modules entered, in
    order of first entry, and the switches."""
    true = shutil.which("true") or "/bin/true"
    read_fd, write_fd = os.pipe()
    env = {k: v for k, v in os.environ.items() if k != "BITNET_REPAIR_PARENT"}
    env["CALL_PATH_FD"] = str(write_fd)
    # cwd: not a source checkout, whose reexec_native/ (no compiled module) would shadow the installed one
    proc = subprocess.Popen([python, "-c", CHILD, true], env=env, pass_fds=(write_fd,), cwd=tempfile.gettempdir(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, stderr = proc.communicate()
    if proc.returncode != 0 or not data:
        raise SystemExit(f"call_path: the child failed (exit {proc.returncode}): {stderr.decode()}")
    events = [line.split(" ") for line in data.decode().splitlines()]
    start = next(i for i, (_module, event, function) in enumerate(events)
                 if (event, function) == ("call", "reexec"))
    return {"in_call": _path(events[start:]), "with_imports": _path(events)}


def _path(events: list[list[str]]) -> dict[str, object]:
    modules: list[str] = []
    switches = 0
    previous = None
    for module, _event, _function in events:
        if module not in modules:
            modules.append(module)
        if previous is not None and module != previous:
            switches += 1
        previous = module
    return {"modules": modules, "switches": switches, "events": len(events)}


def main() -> int:
    result = measure()
    if "--json" in sys.argv[1:]:
        print(json.dumps(result))
        return 0
    for label, key in (("in the call", "in_call"), ("with the imports", "with_imports")):
        path = result[key]
        assert isinstance(path, dict)
        modules = path["modules"]
        print(f"plain reexec(), {label}: code runs in {len(modules)} package modules, "
              f"{path['switches']} switches between them ({path['events']} call/return events)")
        print("  " + " ".join(m.replace("reexec_native", "") or "reexec_native" for m in modules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
