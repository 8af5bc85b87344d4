"""Python re-executing itself on Windows: `python script.py args`, `-m pkg`, interpreter
flags, a relative script, os.chdir + cwd=start_dir(); reexec() with no argv re-runs
current_command() and the re-run sees the guard."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from _win import PY, child_env, run_py

SELF = """
import json, os, sys
import reexec_native
from reexec_native import guard_active, reexec, start_dir
if guard_active():
    print(json.dumps({"argv": sys.argv, "orig": sys.orig_argv[1:], "cwd": os.getcwd(),
                      "flags": [sys.flags.utf8_mode, sys.flags.dont_write_bytecode],
                      "unbuffered": not sys.stdout.line_buffering and sys.stdout.write_through,
                      "warnings": sys.warnoptions}))
    sys.exit(21)
if os.environ.get("SELF_CHDIR"):
    os.chdir(os.environ["SELF_CHDIR"])
reexec(cwd=start_dir(), fallback=None)
"""


def rerun(cmd: list[str], cwd, env=None):
    import subprocess

    proc = subprocess.run(cmd, cwd=cwd, env=env or child_env(), capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert proc.returncode == 21, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_python_script_with_args(tmp_path):
    script = tmp_path / "self.py"
    script.write_text(SELF, encoding="utf-8")
    seen = rerun([PY, str(script), "a b", 'q"x', ""], cwd=tmp_path)
    assert seen["argv"] == [str(script), "a b", 'q"x', ""]


def test_relative_script_after_chdir_with_start_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "self.py").write_text(SELF, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seen = rerun([PY, os.path.join("sub", "self.py"), "x"], cwd=tmp_path,
                 env=child_env(SELF_CHDIR=str(elsewhere)))
    assert seen["argv"] == [os.path.join("sub", "self.py"), "x"]
    assert os.path.normcase(seen["cwd"]) == os.path.normcase(str(tmp_path))


def test_interpreter_flags_are_kept(tmp_path):
    script = tmp_path / "self.py"
    script.write_text(SELF, encoding="utf-8")
    seen = rerun([PY, "-u", "-X", "utf8", "-B", "-W", "ignore::DeprecationWarning", str(script), "z"],
                 cwd=tmp_path)
    assert seen["orig"] == ["-u", "-X", "utf8", "-B", "-W", "ignore::DeprecationWarning", str(script), "z"]
    assert seen["flags"] == [1, 1]
    assert seen["unbuffered"] is True
    assert seen["warnings"] == ["ignore::DeprecationWarning"]


@pytest.fixture
def module_on_path():
    """A package in a folder on sys.path (the folder holding reexec_native): the
    embeddable CPython is isolated (._pth), so `-m` cannot find one in the cwd."""
    import reexec_native

    name = f"selfexec_{uuid.uuid4().hex[:8]}"
    folder = Path(reexec_native.__file__).resolve().parent.parent / name
    folder.mkdir()
    (folder / "__init__.py").write_text("", encoding="utf-8")
    (folder / "__main__.py").write_text(SELF, encoding="utf-8")
    yield name
    for item in folder.rglob("*"):
        if item.is_file():
            item.unlink()
    for item in sorted(folder.rglob("*"), reverse=True):
        item.rmdir()
    folder.rmdir()


def test_dash_m_package(module_on_path, tmp_path):
    seen = rerun([PY, "-m", module_on_path, "arg"], cwd=tmp_path)
    assert seen["orig"] == ["-m", module_on_path, "arg"]
    assert seen["argv"][1:] == ["arg"]


def test_current_command_is_the_interpreter_and_orig_argv():
    proc = run_py("import json, sys; from reexec_native import current_command; "
                  "print(json.dumps(current_command()))", "x y", flags=("-B",))
    cmd = json.loads(proc.stdout)
    assert cmd[0] == sys.executable
    assert cmd[1:4] == ["-X", "utf8", "-B"] and cmd[-1] == "x y"
