"""The Windows behaviour suite: runs inside Windows CPython (under Wine here:
``scripts/wine-python -m pytest tests/windows``; natively in the wheels workflow).

Exec hands over on Windows (a child, a waiting parent, the child's exit code), so
every test starts a Windows child interpreter and checks, from this Windows parent,
what it printed and its full 32-bit exit code (Wine's own Unix status keeps 8 bits).
Off Windows the whole folder is skipped (tests/conftest.py does not even collect it).
"""

from __future__ import annotations

import os
import sys

import pytest

if sys.platform != "win32":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def _a_workspace_for_the_fake_cargo(_outside_the_source_tree):
    """The suite's scratch working directory (tests/conftest.py) gets a Cargo.toml the
    fallback's own reading cannot settle, so it asks cargo, and the fake cargo
    (_win.make_fake_cargo) answers as a workspace with xtask: without any Cargo.toml the
    files settle a no, and nothing would run."""
    from _env import fake_workspace

    fake_workspace(os.getcwd())


def pytest_collection_modifyitems(items):
    if sys.platform != "win32":  # pragma: no cover - collect_ignore_glob already did it
        for item in items:
            item.add_marker(pytest.mark.skip(reason="Windows only"))
