"""The fallback's workspace check reads Cargo.toml files before it asks cargo: a yes
from the files must be cargo's own answer (each one is checked against the real
`cargo metadata` here), and whatever the files leave open must come back as None
(cargo is then asked), never as a no or a wrong root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURE_WS

pytestmark = [
    pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+: 3.10 always asks cargo"),
    pytest.mark.skipif(shutil.which(os.environ.get("CARGO", "cargo")) is None, reason="cargo is not installed"),
]


def workspace_from_manifests(package, manifest=(), cwd=None):
    from reexec_native.cargo import workspace_from_manifests as read

    here = os.getcwd()
    os.chdir(cwd or here)
    try:
        return read(package, list(manifest))
    finally:
        os.chdir(here)


def cargo_says(cwd, manifest=()) -> tuple[str | None, list[str]]:
    """cargo metadata's workspace root and package names, run from `cwd`."""
    done = subprocess.run([os.environ.get("CARGO", "cargo"), "metadata", "--no-deps", "--format-version", "1",
                           *manifest], cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return None, []
    metadata = json.loads(done.stdout)
    return metadata["workspace_root"], [p["name"] for p in metadata["packages"]]


def crate(directory: Path, name: str, extra: str = "") -> Path:
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "main.rs").write_text("fn main() {}\n")
    (directory / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n'
                                          f"{extra}")
    return directory


def root(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Cargo.toml").write_text(body)
    return directory


def assert_yes_is_cargos(found, cwd, package, manifest=()):
    """The files' yes is what cargo metadata answers from the same place."""
    cargo_root, names = cargo_says(cwd, manifest)
    assert found == cargo_root and (package is None or package in names), (found, cargo_root, names)


@pytest.mark.parametrize("start", [".", "xtask", "xtask/src"])
def test_the_fixture_workspace_from_anywhere_inside_it(start):
    found = workspace_from_manifests("xtask", cwd=FIXTURE_WS / start)
    assert found == str(FIXTURE_WS)
    assert_yes_is_cargos(found, FIXTURE_WS / start, "xtask")


def test_member_globs_a_root_package_and_a_name_that_is_not_the_directory(tmp_path):
    ws = root(tmp_path / "ws", '[workspace]\nmembers = ["crates/*", "tools/xt"]\nresolver = "2"\n'
                               '[package]\nname = "top"\nversion = "0.1.0"\nedition = "2021"\n')
    (ws / "src").mkdir()
    (ws / "src" / "main.rs").write_text("fn main() {}\n")
    crate(ws / "crates" / "a", "alpha")
    crate(ws / "crates" / "b", "beta")
    crate(ws / "tools" / "xt", "xtask")
    for package in ("xtask", "alpha", "top", None):
        found = workspace_from_manifests(package, cwd=ws / "crates" / "b" / "src")
        assert found == str(ws)
        assert_yes_is_cargos(found, ws / "crates" / "b" / "src", package)


def test_a_package_with_no_workspace_above_is_its_own(tmp_path):
    alone = crate(tmp_path / "xtask", "xtask")
    found = workspace_from_manifests("xtask", cwd=alone / "src")
    assert found == str(alone)
    assert_yes_is_cargos(found, alone / "src", "xtask")
    assert workspace_from_manifests("other", cwd=alone) is None


def test_the_manifest_path_is_read_instead_of_the_working_directory(tmp_path):
    manifest = ["--manifest-path", str(FIXTURE_WS / "xtask" / "Cargo.toml")]
    found = workspace_from_manifests("xtask", manifest, cwd=tmp_path)
    assert found == str(FIXTURE_WS)
    assert_yes_is_cargos(found, tmp_path, "xtask", manifest)
    assert workspace_from_manifests("xtask", [f"--manifest-path={FIXTURE_WS / 'Cargo.toml'}"],
                                    cwd=tmp_path) == str(FIXTURE_WS)


def test_outside_any_workspace_or_without_the_package_the_files_settle_nothing(tmp_path):
    assert workspace_from_manifests("xtask", cwd=tmp_path) is None
    ws = root(tmp_path / "ws", '[workspace]\nmembers = ["server"]\n')
    crate(ws / "server", "server")
    assert workspace_from_manifests("xtask", cwd=ws / "server") is None


def no_manifest_here(cwd, manifest=()):
    from reexec_native.cargo import no_manifest_here as settle

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return settle(list(manifest))
    finally:
        os.chdir(here)


def test_no_cargo_toml_up_to_the_root_is_the_one_no_the_files_settle(tmp_path):
    """Nothing named Cargo.toml from the working directory up: cargo metadata refuses
    too (checked), and the refusal says where it looked. Anything named Cargo.toml on
    the way (a directory, a dangling link, a file that is no manifest), or a
    --manifest-path, leaves it to cargo."""
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    if any(os.path.lexists(os.path.join(d, "Cargo.toml")) for d in [tmp_path, *tmp_path.parents]):
        pytest.skip(f"a Cargo.toml above {tmp_path}")
    assert no_manifest_here(deep) == f"no cargo workspace from {deep}: no Cargo.toml there or in any directory above it"
    assert cargo_says(deep) == (None, [])
    assert no_manifest_here(deep, ["--manifest-path", str(deep / "Cargo.toml")]) is None
    for kind in ("directory", "dangling link", "not a manifest"):
        entry = tmp_path / "a" / "Cargo.toml"
        if kind == "directory":
            entry.mkdir()
        elif kind == "dangling link":
            entry.symlink_to(tmp_path / "nowhere")
        else:
            entry.write_text("not toml [")
        assert no_manifest_here(deep) is None, kind
        if entry.is_dir() and not entry.is_symlink():
            entry.rmdir()
        else:
            entry.unlink()


def test_an_excluded_or_unlisted_package_is_left_to_cargo(tmp_path):
    ws = root(tmp_path / "ws", '[workspace]\nmembers = ["crates/*"]\nexclude = ["crates/xtask"]\n')
    crate(ws / "crates" / "xtask", "xtask")
    crate(ws / "crates" / "other", "other")
    loose = crate(ws / "loose", "xtask")
    assert workspace_from_manifests("xtask", cwd=ws) is None  # excluded: not a member
    assert workspace_from_manifests("xtask", cwd=ws / "crates" / "xtask") is None  # cargo looks further up
    assert workspace_from_manifests("xtask", cwd=loose) is None  # not a member: cargo refuses
    assert cargo_says(loose)[0] is None


@pytest.mark.parametrize("case", ["package.workspace", "glob without manifest", "bad toml", "duplicate names",
                                  "nested root", "members not strings", "workspace not a table"])
def test_what_the_files_cannot_settle_goes_to_cargo(tmp_path, case):
    ws = root(tmp_path / "ws", '[workspace]\nmembers = ["crates/*"]\n')
    crate(ws / "crates" / "xtask", "xtask")
    start = ws
    if case == "package.workspace":
        start = crate(ws / "crates" / "xtask", "xtask", 'workspace = "../.."\n')
    elif case == "glob without manifest":
        (ws / "crates" / "empty").mkdir()
    elif case == "bad toml":
        (ws / "crates" / "broken").mkdir()
        (ws / "crates" / "broken" / "Cargo.toml").write_text("[package\nname = 'x'\n")
    elif case == "duplicate names":
        crate(ws / "crates" / "copy", "xtask")
    elif case == "nested root":
        crate(ws / "crates" / "inner", "inner", '[workspace]\n')
    elif case == "members not strings":
        root(ws, '[workspace]\nmembers = [1]\n')
    elif case == "workspace not a table":
        root(ws, 'workspace = "yes"\n')
    assert workspace_from_manifests("xtask", cwd=start) is None
