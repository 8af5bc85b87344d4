"""``open_exe()``: a program opened for exec, as it is or as a sealed copy."""

from __future__ import annotations

from ._exe import ExeHandle, open_plain
from ._snapshot import no_copy, snapshots
from ._validate import snapshot_mode

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    import os
    from typing import Literal


def open_exe(path: str | bytes | os.PathLike[str] | None = None, *,
             snapshot: bool | Literal["required"] = False) -> ExeHandle:
    """Open a program for exec. ``None`` pins the running image itself (Linux:
    ``/proc/self/exe``, the exact inode even after the file was replaced).

    It must be a regular file with an execute bit: anything else is refused here
    (an ExecError, tier "open": PermissionError, as exec itself would), so the check
    and the exec agree. ``snapshot=True`` returns a sealed copy instead (memfd, else
    O_TMPFILE), which in-place rewrites of the file cannot touch; each refused method
    is logged, and if none works the plain handle is returned (its ``.snapshot`` is
    None) with a SnapshotWarning naming why each method failed; ``snapshot="required"``
    raises that ExecError (tier "snapshot") instead. A file being written (ETXTBSY) or
    changing during the copy (ESTALE) raises.
    """
    mode = snapshot_mode(snapshot)
    handle = open_plain(path)
    if not mode:
        return handle
    failures: list[str] = []
    try:
        for copy in snapshots(handle, failures):
            handle.close()
            return copy
        error = no_copy(handle.path, failures, required=mode == "required", stacklevel=2)
    except BaseException:  # mid-write (ETXTBSY, ESTALE): the plain handle is not leaked
        handle.close()
        raise
    if mode == "required":
        handle.close()
        raise error
    return handle
