"""Before exec, always: refuse what would fail, or kill the process, after the point
of no return, and say what the kernel's ENOEXEC meant.

Policy over two mechanisms: the kernel's own check (AT_EXECVE_CHECK, Linux 6.14+,
through the C core's reexec_check) and the format inspection in _elf. Refused with
an OSError whose ``.tier`` is ``"check"`` (the old process carries on):
- an ELF for another machine or class that no enabled binfmt_misc handler runs;
- an ELF whose PT_INTERP loader does not exist, a script whose #! interpreter does not;
- an ELF whose segments end past the end of the file (a cut-short copy: exec would
  "succeed" and the new image die of SIGSEGV).
When AT_EXECVE_CHECK says the kernel would refuse (EACCES: no permission, noexec
mount; ETXTBSY: a writer holds the file), the file is not inspected: each exec tier
then gives that answer itself, before the point of no return (ETXTBSY is retried).
"""

from __future__ import annotations

import errno
import os
import sys

from ._binding import kernel_check
from .errors import Attempt, ExecError

ENABLED = sys.platform.startswith("linux")


def check(fd: int, path: str, dev: int, ino: int, sealed: bool = False) -> None:
    """Raise an ExecError (tier "check") when exec of the open file `fd` (opened as
    `path`, with identity `dev`/`ino`; `sealed`: a snapshot copy of it, which has no
    path) is known to fail or to leave a dead process; return when it may run."""
    if not ENABLED or fd < 0:
        return
    if kernel_check(fd) not in (0, errno.ENOSYS):
        return  # the tiers will give the kernel's answer, recoverably
    from . import _elf

    image = _elf.inspect_fd(fd, None if sealed else path, dev, ino)
    verdict = _elf.refusal(image)
    if verdict is None:
        return
    err, why = verdict
    if image.truncated:
        # Cut short, or caught mid-rewrite? A writer that still holds it makes the
        # tiers answer ETXTBSY (retried); a file that changed while it was read is
        # ESTALE (retried); only a file that stood still is truly truncated.
        if kernel_check(fd) == errno.ETXTBSY:
            return
        if _elf.stamp_of(fd, None if sealed else path, dev, ino) not in (None, image.stamp):
            err, why = errno.ESTALE, "the file changed while it was read"
    # needs-interpreter: a missing interpreter is not a build tool's swap; never retried.
    note = "needs-interpreter" if err == errno.ENOENT else None
    raise ExecError.of(err, f"{os.strerror(err)} (refused before exec: {why})", path,
                       tier="check", attempts=[Attempt("check", err, note)], diagnosis=why)


def explain(fd: int, path: str, dev: int, ino: int, exc: ExecError, sealed: bool = False) -> ExecError:
    """The tiers' error, with what ENOEXEC meant for this file added to its text."""
    if not ENABLED or exc.errno != errno.ENOEXEC or fd < 0:
        return exc
    from . import _elf

    image = _elf.inspect_fd(fd, None if sealed else path, dev, ino)
    if image.kind == "unreadable":
        return exc
    why = _elf.explain_enoexec(image)
    exc.strerror = f"{exc.strerror}: {why}"
    exc.diagnosis = why
    return exc


def diagnosis(exc: BaseException | None) -> str | None:
    return getattr(exc, "diagnosis", None)
