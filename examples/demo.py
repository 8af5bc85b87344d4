"""Demo of reexec-native's two tiers, with the spec's diagnostic lines.

1. Fast path: a running program's binary is rebuilt under it (unlink + link, as
   cargo does). /proc/self/exe now reads '... (deleted)', which the original spec
   would exec and fail on; reexec() execs the rebuilt binary through a descriptor.
2. Fallback: the binary is gone for good; after its retry budget the fast path
   gives up and `cargo run -p xtask --features crossval-all -- ARGS` takes over on
   the fixture workspace, and the exit code comes back exactly.

The "program" is a private copy of the Python interpreter running a small app, so
the demo needs nothing but Python, a C compiler (for the package) and cargo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "tests" / "fixtures" / "cargo_ws"

APP = textwrap.dedent("""
    import os, shutil, sys
    from reexec_native import reexec, guard_active, current_exe

    me = sys.executable
    st = os.stat("/proc/self/exe")
    if guard_active():
        print(f"[app] generation 2: pid {os.getpid()}, running inode {st.st_ino}, args {sys.argv[1:]}")
        sys.exit(0)
    print(f"[app] generation 1: pid {os.getpid()}, running inode {st.st_ino}, args {sys.argv[1:]}")
    # Rebuild our own binary the way cargo does: unlink the old file, link the new one.
    shutil.copy2(os.path.realpath(sys.base_prefix + "/bin/python3"), me + ".new")
    os.unlink(me)
    os.link(me + ".new", me)
    os.unlink(me + ".new")
    print(f"[app] rebuilt {me}: new inode {os.stat(me).st_ino}")
    print(f"[app] /proc/self/exe now reads {os.readlink('/proc/self/exe')!r}: "
          f"the spec would exec that and get ENOENT")
    print(f"[app] current_exe() = {current_exe()!r}", flush=True)
    reexec()
""")

GONE = textwrap.dedent("""
    import os, sys
    from reexec_native import reexec
    os.unlink(sys.executable)
    print(f"[app] deleted {sys.executable}; re-executing", flush=True)
    reexec(["xtask", "preflight", "--backend", "bitnet"], retry_budget=0.05)
""")


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    python = os.path.realpath(sys.executable)
    with tempfile.TemporaryDirectory(prefix="reexec-demo-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "BITNET_REPAIR_PARENT"}
        env["CARGO_TARGET_DIR"] = str(Path(tmp) / "target")
        # The copied interpreter lives outside any venv: point it at the site-packages
        # that hold the installed package (and cffi), wherever they are.
        import reexec_native
        site = str(Path(reexec_native.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH")) if p)
        banner("building the fixture workspace (offline)")
        subprocess.run(["cargo", "build", "--offline", "-p", "xtask", "--features", "crossval-all"],
                       cwd=WORKSPACE, env=env, check=True, stderr=subprocess.STDOUT)

        app = Path(tmp) / "app"
        shutil.copy2(python, app)
        banner("1. fast path: the binary is rebuilt while it runs")
        first = subprocess.run([str(app), "-c", APP, "repair", "--backend", "bitnet"], env=env, cwd=tmp, stderr=subprocess.STDOUT)
        print(f"exit code: {first.returncode}", flush=True)

        shutil.copy2(python, app)
        banner("2. fallback: the binary is gone, cargo run takes over (xtask exits with 3)")
        second = subprocess.run([str(app), "-c", GONE], env={**env, "XTASK_EXIT": "3"}, cwd=WORKSPACE, stderr=subprocess.STDOUT)
        print(f"exit code: {second.returncode} (the child's, passed through)", flush=True)
    ok = first.returncode == 0 and second.returncode == 3
    print("\ndemo " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
