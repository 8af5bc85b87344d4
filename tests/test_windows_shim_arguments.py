"""Windows shim under Wine: what the child receives, arguments and environment.

The quoting (win_cmdline.c) against its table and subprocess.list2cmdline, natively
and under Wine; arguments arrive unchanged through the driver and reexec_exec, as
both CommandLineToArgvW and the CRT see them; the environment block is sorted and
exact. Fixture and helpers: tests/_wine.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Before the import below, so pytest rewrites the asserts in _wine.py (its fixture and
# helpers) as it did when they lived in this file.
pytest.register_assert_rewrite("_wine")

from _wine import (ERROR_INVALID_PARAMETER, NOTE_WIN32, TIER_CREATEPROCESS, WIN, Case, Wine,
                   crt_view_is_checkable, decode_utf16_hex, parse_printargs, run_harness)

pytest_plugins = ["_wine"]  # the session fixture `wine`, registered once (see _wine.py)

pytestmark = pytest.mark.wine


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
# Quoting unit tests


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
# Arguments arrive unchanged


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
