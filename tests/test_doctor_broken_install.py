"""`reexec-native doctor` on a broken install: the C extension missing, or present but
failing to load. The report says what was looked for and the import error, exit 1, no
traceback. The package is copied to a scratch directory without (or with a corrupt)
_native module and put first on sys.path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import reexec_native
from conftest import child_env

INSTALLED = Path(reexec_native.__file__).resolve().parent
CONSOLE = "import sys; sys.path.insert(0, sys.argv.pop(1)); from reexec_native.cli import main; sys.exit(main())"


@pytest.fixture(params=["missing", "corrupt"])
def broken_install(request, tmp_path) -> tuple[str, Path]:
    copy = tmp_path / "site" / "reexec_native"
    shutil.copytree(INSTALLED, copy, ignore=shutil.ignore_patterns("_native.*", "__pycache__"))
    assert not list(copy.glob("_native.*"))
    if request.param == "corrupt":
        (copy / ("_native" + EXTENSION_SUFFIXES[0])).write_bytes(b"not an ELF file\n" * 8)
    return request.param, copy


def doctor(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-c", CONSOLE, str(site), "doctor", *args],
                          env=child_env(), capture_output=True, text=True, timeout=120)


def test_doctor_reports_the_missing_extension(broken_install):
    kind, copy = broken_install
    result = doctor(copy.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "Broken install: the C extension reexec_native._native did not load" in out
    assert str(copy / ("_native" + EXTENSION_SUFFIXES[0])) in out  # what was looked for
    if kind == "missing":
        assert "no _native.* file" in out
        assert "ModuleNotFoundError: No module named 'reexec_native._native'" in out
    else:
        assert "_native" + EXTENSION_SUFFIXES[0] in out.split("present there", 1)[1].splitlines()[0]
        assert "ImportError: " in out


def test_doctor_json_reports_the_missing_extension(broken_install):
    kind, copy = broken_install
    result = doctor(copy.parent, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    native = report["native"]
    assert native["loaded"] is False and native["module"] == "reexec_native._native"
    assert str(copy / ("_native" + EXTENSION_SUFFIXES[0])) in native["looked_for"]
    assert native["error"].startswith("ModuleNotFoundError" if kind == "missing" else "ImportError")
    assert report["plan"]["ok"] is False and report["package"] == str(copy)


def test_exec_help_works_without_the_extension(broken_install):
    """exec --help shows the library's defaults, read from the library; without the C
    extension it still prints, naming whose default each is."""
    _kind, copy = broken_install
    result = subprocess.run([sys.executable, "-P", "-c", CONSOLE, str(copy.parent), "exec", "--help"],
                            env=child_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "retried (default reexec's)" in out and "fallback (default CargoRun's)" in out


def test_doctor_of_a_good_install_loads_it():
    result = doctor(INSTALLED.parent, "--json", "--no-probe")
    report = json.loads(result.stdout)
    assert report["native"]["loaded"] is True and report["native"]["file"].startswith(str(INSTALLED))
