"""Packaging configuration, checked statically and offline: pyproject.toml's
[tool.cibuildwheel] (which wheels, which archs, which tests), the abi3 tag in setup.py
against requires-python, MANIFEST.in against the C sources, and the GitHub workflows
(valid YAML, every action pinned, trusted publishing only in the publish job).

`cibuildwheel --print-build-identifiers` runs only where cibuildwheel is importable
(scripts/test does not install it; ci.yml's wheel job does), PyYAML likewise. Files
that are not there (the workflows are not in the sdist) skip their checks.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
WORKFLOWS = ROOT / ".github" / "workflows"

# The one abi3 wheel (cp310 = requires-python's floor) plus the free-threaded
# interpreters, which cannot load abi3 extensions, and PyPy, which has no abi3 either.
PYTHONS = ["cp310", "cp314t", "cp315t", "pp311", "pp312"]
ARCHS = {
    "linux": ["x86_64", "aarch64"],
    "macos": ["x86_64", "arm64"],
    "windows": ["AMD64", "ARM64"],
}


def has_pypy(platform: str, libc_or_arch: str, arch: str) -> bool:
    """Where PyPy builds exist: manylinux (not musllinux), macOS, Windows AMD64 (not
    ARM64). cibuildwheel lists macOS arm64 PyPy only on an arm64 host."""
    if platform == "linux":
        return libc_or_arch == "manylinux"
    if platform == "macos":
        return arch == "x86_64" or pymachine() in ("arm64", "aarch64")
    return arch == "AMD64"


def pymachine() -> str:
    import platform as _platform
    return _platform.machine()


def expected_identifiers(platform: str) -> list[str]:
    """What cibuildwheel lists, in its order: per libc, per arch, per Python."""
    def pythons(libc_or_arch: str, arch: str) -> list[str]:
        return [py for py in PYTHONS
                if not py.startswith("pp") or has_pypy(platform, libc_or_arch, arch)]
    if platform == "linux":
        return [f"{py}-{libc}_{arch}" for libc in ("manylinux", "musllinux")
                for arch in ARCHS["linux"] for py in pythons(libc, arch)]
    if platform == "macos":
        return [f"{py}-macosx_{arch}" for py in PYTHONS for arch in ARCHS["macos"]
                if py in pythons(arch, arch)]
    # Windows: every CPython, then every PyPy.
    return [f"{py}-win_{arch.lower()}" for impl in ("cp", "pp") for arch in ARCHS["windows"]
            for py in pythons(arch, arch) if py.startswith(impl)]


def load_pyproject() -> dict:
    if not PYPROJECT.exists():
        pytest.skip("no pyproject.toml next to the tests")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def cibw() -> dict:
    return load_pyproject()["tool"]["cibuildwheel"]


# ---------------------------------------------------------------- pyproject / setup.py

def test_build_selects_one_abi3_wheel_the_free_threaded_ones_and_pypy(cibw):
    assert cibw["build"] == [f"{py}-*" for py in PYTHONS]
    assert cibw.get("enable") == ["pypy"], "PyPy, and no prerelease or other extra builds"


@pytest.mark.parametrize("platform", sorted(ARCHS))
def test_archs_are_pinned_per_platform(cibw, platform):
    assert cibw[platform]["archs"] == ARCHS[platform]


def test_abi3_tag_matches_requires_python_and_cffi():
    data = load_pyproject()
    project = data["project"]
    floor = re.fullmatch(r">=\s*3\.(\d+)", project["requires-python"])
    assert floor, project["requires-python"]
    setup_py = (ROOT / "setup.py")
    if not setup_py.exists():
        pytest.skip("no setup.py (tests copied without the build files)")
    tree = ast.parse(setup_py.read_text())
    tag = next(node.value.value for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LIMITED_API")
    assert tag == f"cp3{floor.group(1)}"
    assert f"cp3{floor.group(1)}-*" in data["tool"]["cibuildwheel"]["build"]
    # cffi 2 is the first with 3.14 and free-threading; 1.17 covers 3.10-3.13.
    for reqs in (project["dependencies"], data["build-system"]["requires"]):
        assert "cffi>=1.17; python_version < '3.14'" in reqs
        assert "cffi>=2.0; python_version >= '3.14'" in reqs


def test_test_commands_fit_each_platform(cibw):
    assert {"tests", "scripts", "csrc"} <= set(cibw["test-sources"])
    assert cibw["test-extras"] == ["test"]
    # Linux: the whole suite minus cargo (not in the manylinux/musllinux images).
    assert "-m 'not cargo' tests" in cibw["test-command"]
    # macOS: the portable tests; Windows: those and the Windows behaviour suite.
    assert cibw["macos"]["test-command"].endswith(" tests/test_api.py")
    assert cibw["windows"]["test-command"].endswith(" tests/test_api.py tests/windows")
    assert cibw["windows"]["repair-wheel-command"] == ""


def test_manifest_carries_every_c_source_and_the_tests():
    manifest = ROOT / "MANIFEST.in"
    if not manifest.exists():
        pytest.skip("no MANIFEST.in")
    filelist = pytest.importorskip("setuptools._distutils.filelist")
    skip_dirs = {".git", "build", "dist", "wheelhouse", "target", "__pycache__", ".venv",
                 ".pytest_cache", ".hypothesis", ".github", ".ci"}
    files = []
    for top, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip_dirs]
        files += [os.path.relpath(os.path.join(top, n), ROOT) for n in names]
    fl = filelist.FileList()
    fl.set_allfiles(files)
    for line in manifest.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            fl.process_template_line(line)
    included = set(fl.files)
    wanted = [f for f in files
              if f.startswith("csrc" + os.sep) and f.endswith((".c", ".h", ".py"))
              or f.startswith("tests" + os.sep) and f.endswith((".py", ".c", ".rs", ".toml", ".lock"))
              or f.startswith("scripts" + os.sep)]
    assert any(f.endswith("ffi_build.py") for f in wanted)
    missing = sorted(f for f in wanted if f not in included and "__pycache__" not in f)
    assert not missing, f"MANIFEST.in leaves out {missing}"


@pytest.mark.parametrize("platform", sorted(ARCHS))
def test_cibuildwheel_lists_exactly_the_intended_identifiers(platform):
    pytest.importorskip("cibuildwheel")
    if not PYPROJECT.exists():
        pytest.skip("no pyproject.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    result = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform,
         str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_identifiers(platform)


# ---------------------------------------------------------------- workflows

PINNED_SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PINNED_TAG = re.compile(r"^[\w.-]+/[\w./-]+@v\d+\.\d+\.\d+$")


def workflow_files() -> list[Path]:
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    if not files:
        pytest.skip("no .github/workflows (not part of the sdist)")
    return files


def load_workflow(path: Path) -> dict:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and "jobs" in data, path
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps_uses(data: dict):
    for job_name, job in data["jobs"].items():
        if "uses" in job:  # a reusable workflow
            yield job_name, job["uses"]
        for step in job.get("steps", []):
            if "uses" in step:
                yield job_name, step["uses"]


def test_workflows_exist():
    names = {p.name for p in workflow_files()}
    assert {"wheels.yml", "ci.yml"} <= names


def test_workflows_are_valid_yaml_and_every_action_is_pinned():
    for path in workflow_files():
        data = load_workflow(path)
        assert data["on"], path
        text = path.read_text()
        for job, uses in steps_uses(data):
            if uses.startswith("./"):
                continue
            assert PINNED_SHA.match(uses) or PINNED_TAG.match(uses), f"{path.name} {job}: {uses}"
            if PINNED_SHA.match(uses):
                # A SHA says nothing to a reader: the version goes in a comment.
                assert re.search(re.escape(uses) + r"\s+# v\d+\.\d+\.\d+", text), f"{path.name}: {uses}"


def test_wheels_workflow_builds_on_native_runners_and_publishes_on_tags():
    path = WORKFLOWS / "wheels.yml"
    if not path.exists():
        pytest.skip("no wheels.yml")
    data = load_workflow(path)
    assert data["permissions"] == {}
    assert data["on"]["push"]["tags"] == ["v*"]
    matrix = data["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    runners = {entry["os"]: entry["archs"] for entry in matrix}
    assert runners == {
        "ubuntu-24.04": "x86_64", "ubuntu-24.04-arm": "aarch64",
        "macos-15-intel": "x86_64", "macos-14": "arm64",
        "windows-2022": "AMD64", "windows-11-arm": "ARM64",
    }
    assert sorted(runners.values()) == sorted(a for archs in ARCHS.values() for a in archs)
    # id-token: write in the publish job and nowhere else.
    for name, job in data["jobs"].items():
        perms = job.get("permissions", {})
        assert (perms.get("id-token") == "write") == (name == "publish"), name
    publish = data["jobs"]["publish"]
    assert publish["environment"]["name"] == "pypi"
    assert "refs/tags/v" in publish["if"]
    assert set(publish["needs"]) == {"wheels", "sdist"}
    # The current publish action (v1.14), attestations on, every artifact (wheels and
    # the sdist) downloaded into the directory it uploads.
    publish_steps = [step for step in publish["steps"]
                     if step.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert len(publish_steps) == 1
    version = re.search(re.escape(publish_steps[0]["uses"]) + r"\s+# v(\d+)\.(\d+)\.\d+", path.read_text())
    assert version and (int(version[1]), int(version[2])) >= (1, 14), publish_steps[0]["uses"]
    assert publish_steps[0].get("with", {}).get("attestations") is not False
    assert "password" not in publish_steps[0].get("with", {}), "trusted publishing, no token"
    download = next(step for step in publish["steps"] if "download-artifact" in step.get("uses", ""))
    assert download["with"]["pattern"] == "cibw-*"
    uploads = [step["with"]["name"] for job in data["jobs"].values() for step in job.get("steps", [])
               if "upload-artifact" in step.get("uses", "")]
    assert "cibw-sdist" in uploads and any(name.startswith("cibw-wheels-") for name in uploads)


def test_ci_workflow_runs_the_suite_on_push_and_pull_requests():
    path = WORKFLOWS / "ci.yml"
    if not path.exists():
        pytest.skip("no ci.yml")
    data = load_workflow(path)
    assert "push" in data["on"] and "pull_request" in data["on"]
    runs = [step.get("run", "") for job in data["jobs"].values() for step in job.get("steps", [])]
    assert ".ci/run" in runs
    assert not any("id-token" in str(job.get("permissions", {})) for job in data["jobs"].values())
