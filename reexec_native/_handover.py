"""What reexec() hands to the new program beyond argv and env: descriptors
(listen_fds, pass_fds) and a verify run before the point of no return. The fast
path and build-exec call exec_handle(); the cargo run fallback hands the descriptor
plan to _child.spawn_and_wait()."""

from __future__ import annotations

import os

from ._log import log
from ._validate import fds_asked, verify_args

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn

    from ._exe import ExeHandle
    from ._fds import FdPlan


class Handover:
    """listen_fds/pass_fds as an FdPlan, verify arguments and timeout."""

    def __init__(self, fds: FdPlan | None = None, verify: list[bytes] | None = None,
                 verify_timeout: float = 5.0) -> None:
        self.fds = fds
        self.verify = verify
        self.verify_timeout = verify_timeout

    @classmethod
    def from_args(cls, listen_fds: object, listen_fdnames: object, pass_fds: object, verify: object,
                  verify_timeout: object) -> Handover | None:
        """Checked keyword arguments of reexec(); None when nothing is asked for."""
        fds = None
        if fds_asked(listen_fds, listen_fdnames, pass_fds):
            from ._fds import FdPlan  # descriptor plans only when asked for (it imports contextlib)

            fds = FdPlan.from_args(listen_fds, listen_fdnames, pass_fds)
        args, timeout = verify_args(verify, verify_timeout)
        if fds is None and args is None:
            return None
        return cls(fds, args, timeout)

    def prepare(self, env: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """The new program's environment with this handover's LISTEN_* variables
        (LISTEN_PID: this process's, which an exec keeps; the cargo run fallback's
        child writes its own)."""
        if self.fds is None:
            return env
        return self.fds.listen_env(env, os.getpid())


def exec_handle(handle: ExeHandle, argv: list[bytes], env: Mapping[bytes, bytes], tiers: int,
                handover: Handover | None) -> NoReturn:
    """Verify (if asked), place the descriptors (if any), exec; raises if it fails,
    with the descriptor table as it was."""
    if handover is not None and handover.verify is not None:
        from ._verify import verify_image

        verify_image(handle, argv[0], handover.verify, env, tiers, handover.verify_timeout)
    # package-internal: ExeHandle._exec is exec() on already checked bytes and tiers
    if handover is None or handover.fds is None:
        handle._exec(argv, env, tiers)  # pyright: ignore[reportPrivateUsage]
        raise AssertionError("unreachable: _exec returns only with run=")
    from ._fds import placed  # descriptor plans only when asked for (it imports contextlib)

    log("Descriptors: %s", handover.fds.describe())
    with placed(handover.fds, handle) as target:
        target._exec(argv, env, tiers)  # pyright: ignore[reportPrivateUsage]
    raise AssertionError("unreachable: _exec returns only with run=")
