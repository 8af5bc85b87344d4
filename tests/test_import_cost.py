"""`import reexec_native` loads only the package: the heavy modules (logging, typing,
json, shutil, threading, traceback, the C extension) load where they are used. The
time it saves is measured by benchmarks/import_cost.py, never asserted here."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_python

HEAVY = ("logging", "typing", "json", "shutil", "threading", "traceback", "subprocess", "argparse",
         "_cffi_backend", "reexec_native._native")


def loaded_after(code: str) -> set[str]:
    result = run_python(code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))")
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_loads_no_heavy_module():
    # json is imported by the check itself, after the import: what matters is the rest.
    loaded = loaded_after("import reexec_native")
    # _startdir: the working directory at import (start_dir()), a module of one getcwd().
    assert {m for m in loaded if m.startswith("reexec_native")} == {"reexec_native", "reexec_native._startup"}
    assert not loaded & (set(HEAVY) - {"json"})


def test_public_names_load_on_use():
    result = run_python("""
        import reexec_native
        from reexec_native import reexec, CargoRun, ReexecError, open_exe, listen_fds, DEFAULT_GUARD
        assert reexec_native.reexec is reexec and reexec.__module__ == "reexec_native._reexec"
        assert issubclass(ReexecError, Exception) and isinstance(DEFAULT_GUARD, str)
        assert set(reexec_native.__all__) <= set(dir(reexec_native))
        for name in reexec_native.__all__:
            getattr(reexec_native, name)
        try:
            reexec_native.no_such_name
        except AttributeError as exc:
            print("AttributeError", exc)
        from reexec_native import *
        print("ok", ExeHandle.__name__)
    """)
    assert result.returncode == 0, result.stderr
    assert "AttributeError module 'reexec_native' has no attribute 'no_such_name'" in result.stdout
    assert "ok ExeHandle" in result.stdout


def test_cli_exec_without_verbose_imports_no_logging():
    """`reexec-native exec` (no -v) drops the [reexec] lines without importing logging;
    the program it becomes proves it ran, and the parent's modules are reported just
    before the exec by an audit hook."""
    result = run_python("""
        import sys
        def hook(event, args):
            if event == "os.exec":
                print("logging loaded:", "logging" in sys.modules, flush=True)
        sys.addaudithook(hook)
        from reexec_native.cli import main
        sys.exit(main())
    """, args=("exec", "--", "/bin/echo", "became-echo"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "became-echo"
    assert "logging loaded: False" in result.stdout
    assert "[reexec]" not in result.stderr


def test_quick_exec_options_match_argparse():
    """The argparse-free parse of a plain `exec` gives what argparse gives."""
    from reexec_native import _cli_args as cli

    for flags in ([], ["-v"], ["--verbose", "--no-fallback"], ["--cargo-fallback"]):
        argv = ["exec", *flags, "--", "prog"]
        quick = cli._quick_exec_options(argv)
        assert quick is not None
        assert vars(quick) == vars(cli._parser().parse_args(argv)), flags
    for argv in (["exec", "--retry-budget=1", "--", "prog"], ["exec", "-h", "--", "prog"], ["doctor"],
                 ["exec", "--", "-prog"], ["exec", "--no-fallback", "--cargo-fallback", "--", "prog"]):
        assert cli._quick_exec_options(argv) is None, argv


@pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="benchmarks/import_cost.py starts its "
                    "runs with os.posix_spawn, which this interpreter's os lacks (PyPy)")
def test_benchmark_runs(tmp_path):
    """benchmarks/import_cost.py runs and writes its figures (no timing asserted)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "import_cost.py"
    out = tmp_path / "import_cost.json"
    result = subprocess.run([sys.executable, str(script), "--rounds", "2", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    # the installed console script, where the interpreter has one next to it (a venv)
    script_here = any((Path(sys.executable).parent / name).is_file() for name in ("reexec-native", "reexec-native.exe"))
    assert set(figures["median_ms"]) == {"pass", "import", "os_execv", "cli_exec"} | ({"cli_script"} if script_here else set())
    assert set(figures["ratios"]) == {"import/pass", "cli_exec/os_execv"} | (
        {"cli_script/os_execv"} if script_here else set())


def test_start_dir_is_recorded_at_import_not_at_first_use(tmp_path):
    """The public names load lazily, but start_dir() is the directory of the import."""
    import subprocess
    import sys

    code = ("import os, sys, reexec_native; os.chdir(sys.argv[1]); "
            "print(reexec_native.start_dir()); print(os.getcwd())")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd="/", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/", str(tmp_path)]


def test_quick_doctor_options_match_argparse():
    """The argparse-free parse of `doctor [--json] [--no-probe]` gives what argparse gives;
    anything else (help, an unknown option) goes to argparse."""
    from reexec_native import _cli_args as cli

    for flags in ([], ["--json"], ["--no-probe"], ["--no-probe", "--json"]):
        argv = ["doctor", *flags]
        quick = cli._quick_doctor_options(argv)
        assert quick is not None
        assert vars(quick) == vars(cli._parser().parse_args(argv)), flags
    for argv in (["doctor", "-h"], ["doctor", "--jsn"], ["exec", "--", "prog"], ["doctor", "x"]):
        assert cli._quick_doctor_options(argv) is None, argv
