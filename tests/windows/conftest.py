"""The Windows behaviour suite: runs inside Windows CPython (under Wine here:
``scripts/wine-python -m pytest tests/windows``; natively in the wheels workflow).

Exec hands over on Windows (a child, a waiting parent, the child's exit code), so
every test starts a Windows child interpreter and checks, from this Windows parent,
what it printed and its full 32-bit exit code (Wine's own Unix status keeps 8 bits).
Off Windows the whole folder is skipped (tests/conftest.py does not even collect it).
"""

from __future__ import annotations

import sys

import pytest

if sys.platform != "win32":
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items):
    if sys.platform != "win32":  # pragma: no cover - collect_ignore_glob already did it
        for item in items:
            item.add_marker(pytest.mark.skip(reason="Windows only"))
