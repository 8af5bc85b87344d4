"""The environment of the children both suites start (tests/ and, inside Windows
CPython, tests/windows/): the runner's own, without what would change what the
library does in them."""

from __future__ import annotations

import os

# The default guard (a child would refuse to re-exec), the test seams (tiers, snapshot
# methods), a cargo chosen by whoever runs the tests (cargo itself sets CARGO for the
# programs it runs), and unbuffered stdio (some tests watch what buffering does).
INHERITED_NOT = frozenset({"BITNET_REPAIR_PARENT", "REEXEC_NATIVE_TIERS", "REEXEC_NATIVE_SNAPSHOT", "CARGO",
                           "PYTHONUNBUFFERED"})


#: A fake cargo's (a sh script's) first line: it answers the cargo fallback's check
#: before anything runs (`cargo metadata --no-deps ...`) as a workspace with an xtask
#: package would, so the script's own body runs only as `cargo run`/`cargo build`.
FAKE_CARGO_METADATA = ("if [ \"$1\" = metadata ]; then echo "
                       "'{\"packages\": [{\"name\": \"xtask\"}], \"workspace_root\": \"/fake-ws\"}'; exit 0; fi")


def child_env(**extra: str | None) -> dict[str, str]:
    """os.environ without INHERITED_NOT (on Windows, in any case), plus `extra`
    (a None value removes the variable)."""
    fold = str.upper if os.name == "nt" else str
    env = {k: v for k, v in os.environ.items() if fold(k) not in INHERITED_NOT}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
