"""Helpers of the Windows suite: run a child interpreter, read what it printed, make
a fake cargo.exe, and ask Windows about processes (ctypes, kernel32)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from ctypes import wintypes
from pathlib import Path

from _env import child_env  # one for both suites (tests/ is on sys.path: tests/conftest.py)

HERE = Path(__file__).resolve().parent
PY = sys.executable
PRINTARGS = str(HERE / "printargs.py")
# `reexec-native` as its console script runs it (`python -c CLI ARGS...`).
CLI = "import sys; from reexec_native.cli import main; sys.exit(main())"
GUARD = "BITNET_REPAIR_PARENT"
# The hand-over's child exits with its own status, which the waiting parent takes over.
EXIT_CODES = [0, 3, 255, 256, 259, 70000, 0xC0000005, 0xFFFFFFFF]

kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
kernel32.OpenProcess.restype = wintypes.HANDLE
kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
kernel32.WaitForSingleObject.argtypes = [wintypes.HANDLE, wintypes.DWORD]
kernel32.GetExitCodeProcess.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
SYNCHRONIZE, PROCESS_QUERY_LIMITED_INFORMATION = 0x00100000, 0x1000
WAIT_OBJECT_0 = 0


def run_py(code: str, *args: str, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
           input: str | None = None, timeout: float = 60, flags: tuple[str, ...] = ()
           ) -> subprocess.CompletedProcess:
    """`python.exe -X utf8 [flags] -c CODE ARGS...` (stdio captured as UTF-8 text);
    returncode is the full 32-bit exit code, made unsigned."""
    proc = subprocess.run([PY, "-X", "utf8", *flags, "-c", textwrap.dedent(code), *args],
                          env=child_env() if env is None else env, cwd=cwd, input=input,
                          capture_output=True, timeout=timeout, encoding="utf-8", errors="replace")
    proc.returncode &= 0xFFFFFFFF
    return proc


def argv0_seen(argv0: str = PY) -> str:
    """argv[0] as a child started by a plain CreateProcessW (subprocess) with that name
    sees it: the name itself here; a venv's python.exe launcher (real Windows CI)
    restarts the base interpreter and may rewrite it. The hand-over must do the same."""
    proc = subprocess.run([argv0, PRINTARGS], executable=PY, capture_output=True, text=True,
                          encoding="utf-8", check=True, timeout=60)
    return printed(proc.stdout)["clta"][0]


def expected_argv(argv: list[str]) -> list[str]:
    return [argv0_seen(argv[0]), *argv[1:]]


def exit_code_program(code: int) -> list[str]:
    """A program that exits with the full 32-bit `code` (ExitProcess: sys.exit and
    os._exit take only a signed C int)."""
    return [PY, "-c", f"import ctypes; ctypes.windll.kernel32.ExitProcess({code})"]


def printed(stdout: str) -> dict:
    """The JSON line printargs.py printed."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def process_alive(pid: int) -> bool:
    handle = kernel32.OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return False
    try:
        return kernel32.WaitForSingleObject(handle, 0) != WAIT_OBJECT_0
    finally:
        kernel32.CloseHandle(handle)


def wait_dead(pid: int, timeout_ms: int = 20000) -> bool:
    handle = kernel32.OpenProcess(SYNCHRONIZE, False, pid)
    if not handle:
        return True
    try:
        return kernel32.WaitForSingleObject(handle, timeout_ms) == WAIT_OBJECT_0
    finally:
        kernel32.CloseHandle(handle)


FAKE_CARGO = r'''#!python
"""A fake cargo: prints its argv as JSON; `run ... -- ARGS`: exits with the code in
$FAKE_CARGO_EXIT (full 32 bits); `build`: prints a compiler-artifact message naming
$FAKE_CARGO_ARTIFACT, or exits with $FAKE_CARGO_EXIT when that is set; `metadata` (the
fallback's check before it runs anything): a workspace with an xtask package."""
import ctypes, json, os, sys
if sys.argv[1:2] == ["metadata"]:
    print(json.dumps({"packages": [{"name": "xtask"}], "workspace_root": "C:\\fake-ws"}), flush=True)
    ctypes.windll.kernel32.ExitProcess(0)
print(json.dumps({"fake_cargo": sys.argv, "guard": os.environ.get("BITNET_REPAIR_PARENT")}),
      file=sys.stderr if "build" in sys.argv[1:2] else sys.stdout, flush=True)
code = int(os.environ.get("FAKE_CARGO_EXIT", "0"))
if sys.argv[1:2] == ["build"] and "FAKE_CARGO_ARTIFACT" in os.environ:
    print("not json, a build script's line")
    print(json.dumps({"reason": "compiler-artifact", "package_id": "path+file:///C:/ws/xtask#0.1.0",
                      "target": {"kind": ["bin"], "name": "xtask"},
                      "executable": os.environ["FAKE_CARGO_ARTIFACT"]}))
    print(json.dumps({"reason": "build-finished", "success": True}))
sys.stdout.flush()
ctypes.windll.kernel32.ExitProcess(code)
'''


def make_fake_cargo(folder: Path, name: str = "cargo") -> Path:
    """`folder/NAME.exe`: a real Windows executable acting as cargo. It is distlib's
    script launcher (what pip makes for console scripts) with FAKE_CARGO appended: the
    launcher runs this interpreter on it in a child (job object) and exits with the
    child's full exit code."""
    from distlib.scripts import ScriptMaker

    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{name}.py").write_text(FAKE_CARGO, encoding="utf-8")
    maker = ScriptMaker(str(src), str(folder))
    maker.executable = PY
    maker.variants = {""}
    made = maker.make(f"{name}.py")
    exe = folder / f"{name}.exe"
    assert [os.path.normcase(p) for p in made] == [os.path.normcase(str(exe))], made
    return exe
