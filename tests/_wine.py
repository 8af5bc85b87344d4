"""Shared by the Windows shim tests (tests/test_windows_shim_*.py): the Wine session
fixture that builds everything once, and the helpers that run and read the test
programs in tests/win/.

The shim (csrc/windows/reexec_win.c, win_text.c, win_child.c, win_cmdline.c) is
cross-compiled with mingw-w64 and run under Wine; nothing is mocked. Wine's Unix
exit status keeps only 8 bits, so full 32-bit exit codes are read inside Wine by a
Windows parent (exitcheck.exe, harness.exe) through GetExitCodeProcess.

Skipped when wine or x86_64-w64-mingw32-gcc is missing, unless REEXEC_REQUIRE_WINE=1
(CI), which turns the skip into a failure.

Test modules load this file with `pytest_plugins = ["_wine"]`, not by importing the
fixture: pytest registers an imported fixture once per module, so a session-scoped
one would build and start Wine once per module; as a plugin it is registered once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build-win-shim"
WIN = ROOT / "build" / "win"
MINGW = "x86_64-w64-mingw32-gcc"

TIER_EXECVEAT, TIER_FEXECVE, TIER_PATH, TIER_CREATEPROCESS = 0x01, 0x02, 0x04, 0x08
NOTE_UNSUPPORTED, NOTE_WIN32 = 4, 5
ERROR_INVALID_PARAMETER, ERROR_BAD_EXE_FORMAT = 87, 193
ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_SHARING_VIOLATION = 5, 6, 32
ERROR_FILE_INVALID = 1006  # reexec_exec: the path no longer names the opened file


# --------------------------------------------------------------------------------------
# Wine session


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("REEXEC_REQUIRE_WINE") == "1":
        pytest.fail(f"{reason} (REEXEC_REQUIRE_WINE=1)")
    pytest.skip(reason)


def windows_path(path: Path) -> str:
    """The Z: drive of a default Wine prefix maps '/'."""
    return "Z:" + str(PurePosixPath(path)).replace("/", "\\")


@dataclass
class Wine:
    wine: str
    env: dict[str, str]
    build: subprocess.CompletedProcess = field(repr=False)

    def run(self, program: str, *args: str, cwd: Path = WIN, input: bytes | None = None,
            timeout: float = 60, extra_env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run([self.wine, program, *args], cwd=cwd, env=env, input=input,
                              capture_output=True, timeout=timeout, check=False)

    def exe(self, name: str) -> str:
        return windows_path(WIN / name)


@pytest.fixture(scope="session")
def wine() -> Iterator[Wine]:
    # Debian: /usr/bin/wine comes from the `wine` package; wine64 alone has only
    # /usr/lib/wine/wine64.
    wine_binary = (shutil.which("wine") or shutil.which("wine64")
                   or next((p for p in ("/usr/lib/wine/wine64",) if os.access(p, os.X_OK)), None))
    _require(wine_binary is not None, "wine is not installed (apt-get install wine wine64)")
    _require(shutil.which(MINGW) is not None,
             f"{MINGW} is not installed (apt-get install gcc-mingw-w64-x86-64-win32)")
    build = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=300,
                           check=False)
    assert build.returncode == 0, f"build-win-shim failed:\n{build.stdout}\n{build.stderr}"

    prefix = Path(os.environ.get("REEXEC_WINEPREFIX", ROOT / "build" / "wineprefix"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINE")}
    env.pop("DISPLAY", None)  # no windows, no dialogs
    env.update(
        WINEPREFIX=str(prefix),
        WINEDEBUG="-all",
        WINEDLLOVERRIDES="mscoree,mshtml=",  # no Mono/Gecko install prompts
        LANG="C.UTF-8",  # Wine converts the Unix argv from the locale's charset
        LC_ALL="C.UTF-8",
    )
    session = Wine(wine_binary, env, build)
    # The first start creates/updates the prefix (~10 s on a fresh one).
    first = session.run(session.exe("exitwith.exe"), "7", timeout=300)
    assert first.returncode == 7, first.stderr.decode(errors="replace")
    yield session
    wineserver = shutil.which("wineserver") or (
        "/usr/lib/wine/wineserver64" if os.access("/usr/lib/wine/wineserver64", os.X_OK) else None)
    if wineserver:
        subprocess.run([wineserver, "-k"], env=env, capture_output=True, timeout=60, check=False)


# --------------------------------------------------------------------------------------
# Output parsing


def decode_utf16_hex(token: str) -> str:
    assert token.startswith("x"), token
    units = bytes.fromhex(token[1:])
    # 4 hex digits per UTF-16 unit, big-endian as printed
    return units.decode("utf-16-be") if units else ""


def parse_printargs(lines: list[str]) -> dict[str, list[str]]:
    """{'clta': [...], 'crt': [...], 'line': [...]} from printargs.exe output."""
    parsed = {}
    for line in lines:
        label, *rest = line.split(" ")
        if label in ("clta", "crt"):
            count, tokens = int(rest[0]), rest[1:]
            assert len(tokens) == count, line
            parsed[label] = [decode_utf16_hex(t) for t in tokens]
        elif label == "line":
            parsed[label] = [decode_utf16_hex(rest[0])]
    return parsed


def crt_view_is_checkable(argv: list[str]) -> bool:
    """Wine's msvcrt.dll parses argv[0] with backslash escapes, unlike Windows
    (stdargv.c: a quoted program name is copied up to the next quote) and unlike
    Wine's own CommandLineToArgvW: for `"C:\\dir\\" a` it gives `C:\\dir" a`.
    An argv[0] ending in a backslash (a directory, never a real program) is
    therefore only checked through CommandLineToArgvW. See docs/windows.md."""
    return not argv or not argv[0].endswith("\\")


def hex_utf8(text: str) -> str:
    return "x" + text.encode("utf-8").hex()


@dataclass
class Case:
    path: str
    argv: list[str]
    env: list[str] | None = None
    tiers: int = TIER_CREATEPROCESS

    def spec(self) -> str:
        lines = ["case", f"p {hex_utf8(self.path)}"]
        lines += [f"a {hex_utf8(a)}" for a in self.argv]
        if self.env is not None:
            lines.append("E")
            lines += [f"e {hex_utf8(e)}" for e in self.env]
        lines.append(f"t {self.tiers}")
        return "\n".join(lines) + "\n"


@dataclass
class CaseResult:
    output: list[str]
    exit_code: int


def run_harness(wine: Wine, tmp_path: Path, cases: list[Case]) -> list[CaseResult]:
    """Runs every case in one Wine start (harness.exe runs each in a child)."""
    spec = tmp_path / "spec.txt"
    spec.write_text("".join(c.spec() for c in cases), encoding="ascii")
    proc = wine.run(wine.exe("harness.exe"), windows_path(spec), timeout=120)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace") + proc.stderr.decode(
        errors="replace")
    results: list[CaseResult] = []
    current: list[str] = []
    for line in proc.stdout.decode("ascii").splitlines():
        if line.startswith("case "):
            current = []
        elif line.startswith("exit "):
            _, index, code = line.split(" ")
            assert int(index) == len(results)
            results.append(CaseResult(current, int(code)))
        else:
            current.append(line)
    assert len(results) == len(cases), proc.stdout
    return results
