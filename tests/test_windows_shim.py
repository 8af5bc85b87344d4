"""The Windows shim (csrc/reexec_win.c), cross-compiled with mingw-w64 and run under Wine.

Every check runs real Windows programs (tests/win/*.c) under Wine; nothing is mocked.
Wine's Unix exit status keeps only 8 bits, so full 32-bit exit codes are read inside
Wine by a Windows parent (exitcheck.exe, harness.exe) through GetExitCodeProcess.

Skipped when wine or x86_64-w64-mingw32-gcc is missing, unless REEXEC_REQUIRE_WINE=1
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.wine

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build-win-shim"
WIN = ROOT / "build" / "win"
MINGW = "x86_64-w64-mingw32-gcc"

TIER_EXECVEAT, TIER_FEXECVE, TIER_PATH, TIER_CREATEPROCESS = 0x01, 0x02, 0x04, 0x08
NOTE_UNSUPPORTED, NOTE_WIN32 = 4, 5
ERROR_INVALID_PARAMETER, ERROR_BAD_EXE_FORMAT = 87, 193

# The arguments every quoting bug trips over (sheredom/subprocess.h#100, libuv#1265,
# pysys-test PR #66, the MSVCRT backslash rules).
TRICKY_ARGS = [
    "plain",
    "with space",
    "",
    "tab\there",
    'quote"inside',
    '"',
    '""',
    '"wrapped"',
    "trailing\\",
    "trailing\\\\",
    "space and trailing\\",
    "C:\\dir with space\\",
    'back\\"quote',
    'back\\\\"quote',
    '\\\\\\"',
    "a\\b\\\\c",
    " ",
    "\t",
    "é ü ß",
    "日本語",
    "emoji 🐍 outside the BMP",
    "new\nline",
    "%PATH% ^& | < > !x!",
]


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


# --------------------------------------------------------------------------------------
# 6. The C core builds for Windows with -Wall -Wextra -Werror; quoting unit tests


def test_build_script_uses_strict_flags_and_builds(wine: Wine) -> None:
    script = BUILD_SCRIPT.read_text()
    for flag in ("-Wall", "-Wextra", "-Werror", "-municode", "set -euo pipefail"):
        assert flag in script
    assert os.access(BUILD_SCRIPT, os.X_OK)
    assert wine.build.returncode == 0
    for name in ("reexec_run.exe", "harness.exe", "printargs.exe", "exitcheck.exe"):
        assert (WIN / name).is_file()
    assert (WIN / "reexec_run.exe").read_bytes()[:2] == b"MZ"


def test_cmdline_unit_tests_under_wine(wine: Wine) -> None:
    """Table of vectors (list2cmdline as reference) + CommandLineToArgvW round trip."""
    proc = wine.run(wine.exe("test_cmdline.exe"))
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    assert out.strip().endswith("0 failures")


def test_cmdline_unit_tests_native(wine: Wine) -> None:
    native = WIN / "native" / "test_cmdline"
    if not native.exists():
        pytest.skip("no native C compiler: portable quoting tests not built")
    proc = subprocess.run([str(native)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith("0 failures")


def quote_natively(argvs: list[list[str]]) -> list[str | None]:
    tool = WIN / "native" / "native_quote_tool"
    request = "".join(
        " ".join("x" + "".join(f"{ord(ch):06x}" for ch in arg) for arg in argv) + "\n"
        for argv in argvs)
    proc = subprocess.run([str(tool)], input=request, capture_output=True, text=True,
                          timeout=30, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == len(argvs)
    return [None if line == "EINVAL" else
            "".join(chr(int(line[i:i + 6], 16)) for i in range(1, len(line), 6))
            for line in lines]


no_nul_text = st.text(
    alphabet=st.one_of(st.sampled_from(' \t"\\a'),
                       st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
    max_size=12)


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(argvs=st.lists(st.tuples(no_nul_text, st.lists(no_nul_text, max_size=6)),
                      min_size=1, max_size=30))
def test_quoting_matches_list2cmdline(wine: Wine, argvs) -> None:
    """Differential, natively: the C quoting equals subprocess.list2cmdline after
    argv[0], and argv[0] is '"' + argv[0] + '"' (refused when it contains a quote).
    One native_quote_tool run per example of up to 30 argv lists."""
    if not (WIN / "native" / "native_quote_tool").exists():
        pytest.skip("no native C compiler: native_quote_tool not built")
    lines = quote_natively([[argv0, *args] for argv0, args in argvs])
    for (argv0, args), line in zip(argvs, lines):
        if '"' in argv0:
            assert line is None
            continue
        expected = f'"{argv0}"' + "".join(" " + subprocess.list2cmdline([a]) for a in args)
        assert line == expected


# --------------------------------------------------------------------------------------
# 1. Exit codes pass through exactly (checked inside Wine)


EXIT_CODES = [0, 1, 255, 256, 259, 0xC0000005, 0xFFFFFFFF]


def test_exit_codes_pass_through_the_driver(wine: Wine) -> None:
    """exitcheck.exe (a Windows parent) runs `reexec_run.exe exitwith.exe CODE` for
    each code and prints GetExitCodeProcess: the full 32-bit value must arrive."""
    codes = ",".join(hex(c) for c in EXIT_CODES)
    proc = wine.run(wine.exe("exitcheck.exe"), "--codes", codes, "reexec_run.exe",
                    "exitwith.exe")
    assert proc.stdout.decode().split() == [f"exit={c}" for c in EXIT_CODES], proc.stderr


def test_exit_codes_pass_through_reexec_exec(wine: Wine, tmp_path: Path) -> None:
    exitwith = wine.exe("exitwith.exe")
    cases = [Case(exitwith, ["exitwith.exe", str(c)]) for c in EXIT_CODES]
    assert [r.exit_code for r in run_harness(wine, tmp_path, cases)] == EXIT_CODES


# --------------------------------------------------------------------------------------
# 2. Arguments arrive unchanged


def test_wine_transports_unix_argv(wine: Wine) -> None:
    """Precondition for the driver test below: Wine turns the Unix argv (UTF-8) into a
    Windows command line that printargs.exe splits back into the same strings."""
    proc = wine.run(wine.exe("printargs.exe"), *TRICKY_ARGS)
    got = parse_printargs(proc.stdout.decode().splitlines())
    assert got["clta"][1:] == TRICKY_ARGS
    assert got["crt"][1:] == TRICKY_ARGS


def test_driver_passes_arguments_unchanged(wine: Wine) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), "printargs.exe", *TRICKY_ARGS)
    assert proc.returncode == (1 + len(TRICKY_ARGS)) % 256, proc.stderr
    got = parse_printargs(proc.stdout.decode().splitlines())
    assert got["clta"] == ["printargs.exe", *TRICKY_ARGS]
    assert got["crt"] == ["printargs.exe", *TRICKY_ARGS]


def test_harness_argv0_and_arguments(wine: Wine, tmp_path: Path) -> None:
    printargs = wine.exe("printargs.exe")
    argv0s = [printargs, "name with spaces", "ünïcödé 名前", "C:\\dir\\", "x"]
    cases = [Case(printargs, [argv0, *TRICKY_ARGS]) for argv0 in argv0s]
    cases.append(Case(printargs, []))  # empty argv: the path becomes argv[0]
    results = run_harness(wine, tmp_path, cases)
    for case, result in zip(cases, results):
        got = parse_printargs(result.output)
        expected = case.argv or [printargs]
        assert got["clta"] == expected, (case.argv, result.output)
        if crt_view_is_checkable(expected):
            assert got["crt"] == expected, (case.argv, result.output)
        assert result.exit_code == len(got["crt"])  # printargs exits with its argc


def test_quote_in_argv0_is_refused(wine: Wine, tmp_path: Path) -> None:
    """argv[0] is parsed without escapes, so a '"' in it cannot be expressed."""
    [result] = run_harness(wine, tmp_path, [Case(wine.exe("printargs.exe"), ['a"b', "x"])])
    assert result.exit_code == 126
    assert result.output[0].startswith(f"exec-failed ret={ERROR_INVALID_PARAMETER} count=1")
    assert result.output[1] == (
        f"attempt tier={TIER_CREATEPROCESS} err={ERROR_INVALID_PARAMETER} note={NOTE_WIN32}")
    assert not any(line.startswith("clta") for line in result.output)


def test_posix_tiers_are_unsupported(wine: Wine, tmp_path: Path) -> None:
    posix = TIER_EXECVEAT | TIER_FEXECVE | TIER_PATH
    [result] = run_harness(wine, tmp_path,
                           [Case(wine.exe("printargs.exe"), ["p"], tiers=posix)])
    header, *attempts = result.output
    enosys = int(header.rsplit("enosys=", 1)[1])
    assert header.startswith(f"exec-failed ret={enosys} count=3")
    assert attempts == [f"attempt tier={t} err={enosys} note={NOTE_UNSUPPORTED}"
                        for t in (TIER_EXECVEAT, TIER_FEXECVE, TIER_PATH)]


arg_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(' \t"\\a'),
        st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
    max_size=10)
argv0_text = arg_text.filter(lambda s: '"' not in s)


@settings(max_examples=4, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(argvs=st.lists(st.tuples(argv0_text, st.lists(arg_text, max_size=6)),
                      min_size=25, max_size=25))
def test_arguments_round_trip_property(wine: Wine, tmp_path_factory, argvs) -> None:
    """Generated argv lists (spaces, tabs, quotes, backslashes, empty strings, any
    non-NUL Unicode) arrive unchanged through reexec_exec, as both
    CommandLineToArgvW and the CRT see them. 25 lists per Wine start."""
    printargs = wine.exe("printargs.exe")
    cases = [Case(printargs, [argv0, *args]) for argv0, args in argvs]
    results = run_harness(wine, tmp_path_factory.mktemp("prop"), cases)
    for case, result in zip(cases, results):
        got = parse_printargs(result.output)
        assert got.get("clta") == case.argv, (case.argv, result.output)
        if crt_view_is_checkable(case.argv):
            assert got.get("crt") == case.argv, (case.argv, result.output)


# --------------------------------------------------------------------------------------
# Environment


def test_explicit_environment_is_sorted_and_exact(wine: Wine, tmp_path: Path) -> None:
    env = ["zeta=last", "Alpha=1", "beta=ü 日本", "BETA2=x", "_under=score", "mIxEd=Case",
           "EMPTY=", "=C:=C:\\somewhere"]
    cases = [Case(wine.exe("printenv.exe"), ["printenv.exe"], env=env),
             Case(wine.exe("printenv.exe"), ["printenv.exe"], env=[])]
    full, empty = run_harness(wine, tmp_path, cases)
    entries = [decode_utf16_hex(line.split(" ")[1]) for line in full.output]
    ours = [e for e in entries if e in env]
    assert sorted(ours) == sorted(env)

    def name(entry: str) -> str:
        return entry[:entry.index("=", 1)].upper()

    assert ours == sorted(env, key=name)  # the block order CreateProcessW requires
    empty_entries = [decode_utf16_hex(line.split(" ")[1]) for line in empty.output]
    assert not any(e.startswith("REEXEC_ENV_MARKER=") for e in empty_entries)


def test_driver_passes_current_environment(wine: Wine) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), "printenv.exe",
                    extra_env={"REEXEC_ENV_MARKER": "välue 🐍"})
    assert proc.returncode == 0, proc.stderr
    entries = [decode_utf16_hex(line.split(" ")[1]) for line in proc.stdout.decode().split("\n")
               if line]
    assert "REEXEC_ENV_MARKER=välue 🐍" in entries


# --------------------------------------------------------------------------------------
# 3. Killing the shim kills the child (job object)


def test_killing_the_shim_kills_the_child(wine: Wine, tmp_path: Path) -> None:
    pidfile = windows_path(tmp_path / "pid")
    proc = wine.run(wine.exe("killcheck.exe"), "10000", pidfile,
                    "reexec_run.exe", "sleeper.exe", pidfile, timeout=90)
    assert proc.stdout.decode().split() == ["child=gone"], proc.stdout + proc.stderr


def test_control_without_job_the_child_survives(wine: Wine, tmp_path: Path) -> None:
    """Shows the test above can fail: a plain launcher (no job) leaves it alive."""
    pidfile = windows_path(tmp_path / "pid")
    proc = wine.run(wine.exe("killcheck.exe"), "1500", pidfile,
                    "exitcheck.exe", "sleeper.exe", pidfile, timeout=90)
    assert proc.stdout.decode().split() == ["child=alive"], proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# Console control: the shim ignores Ctrl+C, the child receives it


def run_in_pty(wine: Wine, tmp_path: Path, launcher: str) -> str:
    """ctrlparent.exe in a pseudo-terminal (headless Wine has no console, so no
    Ctrl+C events): returns the launcher's exit code as printed."""
    script = shutil.which("script")
    if script is None:
        pytest.skip("script(1) (util-linux) is needed for a pty")
    ready = windows_path(tmp_path / "ready")
    command = " ".join(shlex.quote(a) for a in [
        wine.wine, wine.exe("ctrlparent.exe"), ready, launcher, wine.exe("ctrlchild.exe"),
        ready])
    proc = subprocess.run([script, "-qec", command, "/dev/null"], env=wine.env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=90,
                          check=False)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stdout.decode(errors="replace"))
    assert "no-console" not in text, "Wine gave ctrlparent.exe no console inside script(1)"
    match = re.search(r"exit=(\d+)", text)
    assert match, text
    return match.group(1)


def test_ctrl_c_reaches_the_child_and_the_shim_waits(wine: Wine, tmp_path: Path) -> None:
    """Ctrl+C to the console group: the shim's handler returns TRUE (it keeps
    waiting), the child's own handler sees CTRL_C_EVENT (not disabled by an
    inherited SetConsoleCtrlHandler(NULL, TRUE)) and exits 5, which the shim forwards."""
    assert run_in_pty(wine, tmp_path, wine.exe("reexec_run.exe")) == "5"


def test_control_launcher_without_handler_dies_on_ctrl_c(wine: Wine, tmp_path: Path) -> None:
    """Shows the test above can fail: exitcheck.exe has no handler and is killed by
    the Ctrl+C (Wine's default handler exits with 0), so 5 never arrives."""
    assert run_in_pty(wine, tmp_path, wine.exe("exitcheck.exe")) != "5"


# --------------------------------------------------------------------------------------
# 4. Standard handles are inherited


def test_child_uses_the_shims_stdin_stdout_stderr(wine: Wine) -> None:
    data = bytes(range(256)) * 64 + b"\r\n\n\x1a end"
    proc = wine.run(wine.exe("reexec_run.exe"), "catlike.exe", input=data)
    assert proc.returncode == 42
    assert proc.stdout == data
    assert proc.stderr == f"stderr:{len(data)}\n".encode()


# --------------------------------------------------------------------------------------
# 5. Batch files are refused, and nothing runs


@pytest.fixture()
def batch_dir(tmp_path: Path) -> Path:
    script = b"@echo off\r\necho ran > ran.txt\r\n"
    (tmp_path / "x.bat").write_bytes(script)
    (tmp_path / "y.cmd").write_bytes(script)
    return tmp_path


def test_control_batch_file_would_run(wine: Wine, batch_dir: Path) -> None:
    """Shows the refusal test can fail: Wine's cmd.exe does run x.bat."""
    wine.run("cmd", "/c", "x.bat", cwd=batch_dir)
    assert (batch_dir / "ran.txt").exists()


@pytest.mark.parametrize("target", ["x.bat", "y.cmd", "X.BaT. ..", "Y.CMD ", "x.bat."])
def test_batch_targets_are_refused(wine: Wine, batch_dir: Path, target: str) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), target, "arg", cwd=batch_dir)
    err = proc.stderr.decode()
    assert proc.returncode == 126, err
    assert f"refusing to run the batch file '{target}'" in err
    assert f"Win32 error {ERROR_BAD_EXE_FORMAT}" in err
    time.sleep(0.2)
    assert not (batch_dir / "ran.txt").exists()


def test_batch_refusal_is_reported(wine: Wine, batch_dir: Path, tmp_path: Path) -> None:
    [result] = run_harness(wine, tmp_path, [Case(windows_path(batch_dir / "X.BaT. .."),
                                                 ["x.bat"])])
    assert result.output[1] == (
        f"attempt tier={TIER_CREATEPROCESS} err={ERROR_BAD_EXE_FORMAT} note={NOTE_WIN32}")
    assert not (batch_dir / "ran.txt").exists()


# --------------------------------------------------------------------------------------
# Driver errors


def test_missing_program_exits_127(wine: Wine, tmp_path: Path) -> None:
    proc = wine.run(wine.exe("reexec_run.exe"), "no_such_program.exe", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 127
    assert "'no_such_program.exe'" in err and "tier createprocess" in err
    assert "Win32 error 2" in err


def test_directory_exits_126(wine: Wine, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    proc = wine.run(wine.exe("reexec_run.exe"), "adir", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 126
    assert "'adir'" in err and "Win32 error 5" in err
