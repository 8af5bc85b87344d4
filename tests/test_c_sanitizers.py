"""The C core and its C tests (tests/c/test_core.c, via scripts/c-tests) under
AddressSanitizer + UndefinedBehaviorSanitizer (gcc and clang, LeakSanitizer on) and
under valgrind memcheck, and -Wall -Wextra -Werror clean with gcc and clang.

Each variant builds into its own directory (C_TESTS_OUT), so the plain build of
test_c_core.py is not overwritten. A canary per tool (a planted leak / overflow)
shows the tool really reports errors here, so a green run means something.
CI installs clang, libclang-rt-14-dev and valgrind (REEXEC_CI makes them required)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAN_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1"
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
VALGRIND = "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --trace-children=no"


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("REEXEC_CI"):
            pytest.fail(f"{tool} is required in CI (see docs/hardening.md for the Debian packages)")
        pytest.skip(f"{tool} not installed")


def c_tests(tmp_path, *, cc="gcc", cflags="", runner="", extra_env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CC": cc, "CFLAGS": cflags, "RUNNER": runner,
           "C_TESTS_OUT": str(tmp_path / "out"), **(extra_env or {})}
    return subprocess.run([str(ROOT / "scripts" / "c-tests")], env=env, capture_output=True,
                          text=True, timeout=300)


def canary(tmp_path, cc: str, cflags: str, body: str) -> str:
    src = tmp_path / "canary.c"
    src.write_text("#include <stdlib.h>\n#include <string.h>\n" + body)
    exe = tmp_path / "canary"
    subprocess.run([cc, "-g", *cflags.split(), str(src), "-o", str(exe)], check=True)
    return str(exe)


LEAK = "void *volatile sink;\nint main(void) { sink = malloc(64); sink = 0; return 0; }\n"
OVERFLOW = "int main(int c, char **v) { char *p = malloc(8); p[8 + c - 1] = 1; free(p); (void)v; return 0; }\n"


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_c_core_under_asan_and_ubsan(cc, tmp_path):
    require(cc)
    result = c_tests(tmp_path, cc=cc, cflags=SAN_FLAGS, extra_env=SAN_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "C core tests: all passed" in result.stdout
    assert "runtime error" not in result.stderr  # UBSan reports
    # The canaries: LeakSanitizer and ASan do report in this environment.
    for body, words in ((LEAK, ("LeakSanitizer",)), (OVERFLOW, ("heap-buffer-overflow", "runtime error"))):
        run = subprocess.run([canary(tmp_path, cc, SAN_FLAGS, body)], capture_output=True, text=True,
                             env={**os.environ, **SAN_ENV})
        assert run.returncode != 0 and any(w in run.stderr for w in words), (words, run.stderr)


def test_c_core_under_valgrind_memcheck(tmp_path):
    require("valgrind")
    result = c_tests(tmp_path, runner=VALGRIND)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "C core tests: all passed" in result.stdout
    run = subprocess.run(VALGRIND.split() + [canary(tmp_path, "gcc", "-O0", LEAK)], capture_output=True, text=True)
    assert run.returncode == 99 and "definitely lost" in run.stderr, run.stderr


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_c_sources_are_warning_free(cc, tmp_path):
    """-Wall -Wextra -Werror (scripts/c-tests' flags) plus -Wpedantic on the core, and
    the test helper programs in tests/progs/ with the same flags."""
    require(cc)
    result = c_tests(tmp_path, cc=cc, cflags="-Wpedantic -Wno-overlength-strings -O2")
    assert result.returncode == 0, result.stdout + result.stderr
    for prog in sorted((ROOT / "tests" / "progs").glob("*.c")):
        build = subprocess.run([cc, "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / prog.stem), str(prog)],
                               capture_output=True, text=True)
        assert build.returncode == 0, f"{prog.name}: {build.stderr}"
