"""The release artefacts, made and checked here as the wheels workflow makes them:
`python -m build` (the sdist, then the wheel built from it) from a clean copy of the
tree, `twine check --strict` on both, and the sdist installed *alone* (copied to an
empty directory, no source tree anywhere near) into a clean venv, where the compiled
extension loads and a real exec replaces a child process. And the version has one
source, `reexec_native.__version__`.

The tools (build, twine; pinned) go into their own venv, build/release-tools-venv;
building needs PyPI (setuptools and cffi in the isolated build environment), through
pip's own configuration. Needs the git checkout (the sdist is made from it)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPY = sys.implementation.name == "pypy"
# twine 7 needs nh3 (through readme-renderer), a Rust extension with no PyPy wheel: pip
# builds it from source there, which needs crates.io. PyPy builds with `build` alone;
# what twine checks (the metadata and the README) is the same from any interpreter.
TOOLS = ["build==1.6.1"] + ([] if PYPY else ["twine==7.0.0"])
# The wheel's tag and its extension's suffix: CPython's abi3 (cp310-abi3), or the
# interpreter's own where there is no limited API (PyPy: pp311-pypy311_pp73).
if PYPY:
    WHEEL_TAG = "pp{}{}-{}".format(*sys.version_info[:2], sysconfig.get_config_var("SOABI").replace("-", "_"))
    NATIVE_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
else:
    WHEEL_TAG, NATIVE_SUFFIX = "cp310-abi3", ".abi3.so"


def source_version() -> str:
    tree = ast.parse((ROOT / "reexec_native" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return ast.literal_eval(node.value)
    raise AssertionError("no __version__ in reexec_native/__init__.py")


def run(cmd: list[str], timeout: float = 900, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def make_venv(path: Path) -> Path:
    """A fresh venv of the interpreter running the tests (its base, not its venv)."""
    shutil.rmtree(path, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(path)])
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def tools() -> Path:
    if not (ROOT / "setup.py").exists() or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout (the sdist is made from it)")
    if not sys.platform.startswith("linux"):
        pytest.skip("the release build is checked on Linux")
    venv = ROOT / "build" / "release-tools-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        make_venv(venv)
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TOOLS])
    return python


@pytest.fixture(scope="module")
def dists(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist + wheel (built from the sdist) of a clean copy of the tree: tracked and new
    files, not ignored ones (build/ holds objects of in-place builds)."""
    work = tmp_path_factory.mktemp("release")
    src = work / "src"
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, src / name)
    run([str(tools), "-m", "build", "--outdir", str(work / "dist"), str(src)], timeout=1200)
    sdists = list((work / "dist").glob("*.tar.gz"))
    wheels = list((work / "dist").glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, list((work / "dist").iterdir())
    return {"sdist": sdists[0], "wheel": wheels[0]}


def test_build_makes_an_sdist_and_a_wheel_of_the_one_version(dists):
    version = source_version()
    assert dists["sdist"].name == f"reexec_native-{version}.tar.gz"
    assert dists["wheel"].name.startswith(f"reexec_native-{version}-{WHEEL_TAG}-")
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"reexec_native-{version}.dist-info/METADATA").decode()
    assert f"reexec_native/_native{NATIVE_SUFFIX}" in names, names
    assert {"reexec_native/py.typed", "reexec_native/_native.pyi"} <= set(names)
    assert f"\nVersion: {version}\n" in metadata
    assert "Content-Type: text/markdown" in metadata
    with tarfile.open(dists["sdist"]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"setup.py", "pyproject.toml", "csrc/ffi_build.py", "README.md"} <= members


@pytest.mark.skipif(PYPY, reason="twine 7 needs nh3, a Rust extension with no PyPy wheel (built from "
                    "source it needs crates.io); the metadata and README it checks are CPython's run's too")
def test_twine_check_strict_passes_on_both(tools, dists):
    result = run([str(tools), "-m", "twine", "check", "--strict", str(dists["sdist"]), str(dists["wheel"])])
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_sdist_alone_installs_and_its_extension_execs(dists, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    sdist = Path(shutil.copy2(dists["sdist"], alone))
    python = make_venv(tmp_path / "venv")
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-cache-dir", sdist.name], cwd=alone, timeout=1200)
    # -I: no source tree, no user site, no PYTHON* variables; cwd has only the sdist.
    code = (
        "import os, sys, reexec_native, reexec_native._native as native\n"
        "from reexec_native import open_exe\n"
        "print('version', reexec_native.__version__)\n"
        "print('module', reexec_native.__file__)\n"
        "print('native', native.__file__)\n"
        "print('pid', os.getpid(), flush=True)\n"
        "open_exe('/bin/sh').exec(['sh', '-c', 'echo replaced $$; exit 7'])\n"
    )
    child = subprocess.run([str(python), "-I", "-c", code], cwd=alone, capture_output=True,
                           text=True, timeout=60)
    lines = dict(line.split(" ", 1) for line in child.stdout.splitlines())
    assert child.returncode == 7, (child.stdout, child.stderr)
    assert lines["version"] == source_version()
    site = str(tmp_path / "venv")
    assert lines["module"].startswith(site) and lines["native"].startswith(site), lines
    assert lines["native"].endswith(NATIVE_SUFFIX)
    assert lines["replaced"] == lines["pid"], "exec keeps the PID: the child was replaced"


def test_the_version_has_one_source():
    """pyproject takes it from reexec_native.__version__; nothing else states it."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in data["project"] and "version" in data["project"]["dynamic"]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reexec_native.__version__"}
    if (ROOT / "setup.py").exists():
        assert "version" not in (ROOT / "setup.py").read_text().lower().replace("version_info", "")
    version = re.escape(source_version())
    stated = [str(p.relative_to(ROOT)) for p in (ROOT / "reexec_native").rglob("*.py")
              if re.search(rf"['\"]{version}['\"]", p.read_text())]
    assert stated == [os.path.join("reexec_native", "__init__.py")], stated
