"""Before exec, always: what the program file is, and whether exec of it can work.

An ELF image (class, byte order, machine, PT_INTERP loader, $ORIGIN in RPATH/RUNPATH,
segments past the end of the file) or a ``#!`` script (its interpreter). ``check()``
refuses what would fail, or kill the process, after the point of no return;
``explain()`` says what the kernel's ENOEXEC meant. Policy over two mechanisms: the
kernel's own check (AT_EXECVE_CHECK, Linux 6.14+, through the C core's reexec_check)
and the format inspection here. Refused with an ExecError whose ``.tier`` is
``"check"`` (the old process carries on):
- an ELF for another machine or class that no enabled binfmt_misc handler runs;
- an ELF whose PT_INTERP loader does not exist, a script whose #! interpreter does not;
- an ELF whose segments end past the end of the file (a cut-short copy: exec would
  "succeed" and the new image die of SIGSEGV).
When AT_EXECVE_CHECK says the kernel would refuse (EACCES: no permission, noexec
mount; ETXTBSY: a writer holds the file), the file is not inspected: each exec tier
then gives that answer itself, before the point of no return (ETXTBSY is retried).

The inspection reads
through the descriptor that will be executed, never through the path: an O_PATH
descriptor cannot be read, so it is reopened O_RDONLY through its
``/proc/self/fd/N`` magic link, which names that very inode (no path lookup, so no
race with a build tool swapping the path). Where /proc is missing it reopens the
path and reads only if (st_dev, st_ino) still match. An exec-only file (mode 0711
as another user) cannot be read at all: then nothing is known and nothing is refused.
Layouts: elf(5); the #! rules: fs/binfmt_script.c (at most 256 bytes, BINPRM_BUF_SIZE).
"""

from __future__ import annotations

import errno
import os
import sys

from ._binding import kernel_check
from ._log import log

TYPE_CHECKING = False  # not typing's: importing typing costs a quarter of a start
if TYPE_CHECKING:
    from typing import Literal

    from .errors import ExecError

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 5, 15, 29
BINPRM_BUF_SIZE = 256
_MAX_PHNUM = 4096  # far beyond any real image; bounds what a corrupt header makes us read
_MAX_DYNAMIC = 1 << 20

MACHINES = {
    2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
    43: "sparc64", 50: "ia64", 62: "x86_64", 183: "aarch64", 243: "riscv", 258: "loongarch",
}
# What a kernel of this uname machine runs besides its own (class, e_machine): the
# 32-bit compat ABIs. Whether this kernel has them (CONFIG_IA32_EMULATION, COMPAT)
# only it knows: these are never refused before exec, its ENOEXEC is explained after.
_COMPAT = {
    "x86_64": {(ELFCLASS32, 3), (ELFCLASS32, 62)},
    "aarch64": {(ELFCLASS32, 40)},
    "ppc64le": {(ELFCLASS32, 20)}, "ppc64": {(ELFCLASS32, 20)},
    "s390x": {(ELFCLASS32, 22)}, "mips64": {(ELFCLASS32, 8)},
}


def machine_name(machine: int) -> str:
    return MACHINES.get(machine, f"e_machine {machine}")


class Image:
    """What the first bytes of a program say. kind: "elf", "script", "empty" or
    "other"; "unreadable" when the file could not be read (nothing else is known).
    A plain class, not a dataclass: dataclasses imports inspect (~5 ms), and this
    module is imported just before an exec."""

    __slots__ = ("kind", "size", "elf_class", "little_endian", "machine", "interpreter",
                 "script_line", "origin_paths", "truncated", "stamp", "head")

    def __init__(self, kind: str, size: int = 0, *, elf_class: int = 0, little_endian: bool = True,
                 machine: int = 0, interpreter: str | None = None, script_line: str | None = None,
                 truncated: str | None = None, head: bytes = b"") -> None:
        self.kind = kind
        self.size = size
        self.elf_class = elf_class
        self.little_endian = little_endian
        self.machine = machine
        self.interpreter = interpreter  # PT_INTERP, or the #! line's program
        self.script_line = script_line  # the whole #! line, for messages
        self.origin_paths: list[str] = []  # RPATH/RUNPATH entries with $ORIGIN
        self.truncated = truncated  # why the ELF image ends before its headers say it does
        self.stamp: tuple[int, int, int] = (0, 0, 0)  # (size, mtime_ns, ctime_ns) when it was read
        self.head = head  # the first BINPRM_BUF_SIZE bytes (binfmt_misc matches on them)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__[1:-1])
        return f"Image({self.kind!r}, {fields})"

    @property
    def bits(self) -> int:
        return 64 if self.elf_class == ELFCLASS64 else 32

    def describe(self) -> str:
        """``64-bit aarch64 ELF``, for messages."""
        order = "" if self.little_endian else " big-endian"
        return f"{self.bits}-bit{order} {machine_name(self.machine)} ELF"


def open_for_reading(fd: int, path: str | None, dev: int, ino: int) -> int | None:
    """A readable descriptor on the inode `fd` holds, or None when there is none
    (exec-only file, /proc missing and the path names another file now)."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    candidates = [f"/proc/self/fd/{fd}"] + ([path] if path else [])
    for candidate in candidates:
        try:
            rfd = os.open(candidate, flags)
        except OSError:
            continue
        st = os.fstat(rfd)
        if (st.st_dev, st.st_ino) == (dev, ino):
            return rfd
        os.close(rfd)
    return None


def inspect_fd(fd: int, path: str | None, dev: int, ino: int) -> Image:
    """Read the program behind descriptor `fd` (opened from `path`, identity (dev, ino))."""
    rfd = open_for_reading(fd, path, dev, ino)
    if rfd is None:
        return Image("unreadable")
    try:
        return inspect_readable(rfd)
    finally:
        os.close(rfd)


def inspect_path(path: str) -> Image:
    """Read the program at `path` (for the running image and the doctor)."""
    try:
        rfd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return Image("unreadable")
    try:
        return inspect_readable(rfd)
    finally:
        os.close(rfd)


def inspect_readable(rfd: int) -> Image:
    st = os.fstat(rfd)
    size = st.st_size
    head = os.pread(rfd, BINPRM_BUF_SIZE, 0)
    if not head:
        image = Image("empty", size)
    elif head.startswith(b"#!"):
        image = _script(head, size)
    elif head.startswith(ELF_MAGIC):
        try:
            image = _elf(rfd, head, size)
        except _Short:  # shorter than fstat said: it is being rewritten
            image = Image("elf", size, head=head, truncated=f"{size} bytes, shorter than its headers say")
    else:
        image = Image("other", size, head=head)
    image.stamp = (size, st.st_mtime_ns, st.st_ctime_ns)
    return image


def stamp_of(fd: int, path: str | None, dev: int, ino: int) -> tuple[int, int, int] | None:
    """(size, mtime_ns, ctime_ns) of the inode `fd` holds now (None: cannot tell)."""
    try:
        st = os.stat(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if (st.st_dev, st.st_ino) != (dev, ino):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _script(head: bytes, size: int) -> Image:
    line = head[2:].split(b"\n", 1)[0]
    words = line.replace(b"\t", b" ").strip().split(b" ")
    interpreter = os.fsdecode(words[0]) if words and words[0] else None
    return Image("script", size, interpreter=interpreter,
                 script_line="#!" + os.fsdecode(line).rstrip(), head=head)


class _Short(ValueError):
    """Fewer bytes than the headers being read need."""


# Field widths in bytes (unsigned, in the image's byte order) of Elf{32,64}_Ehdr from
# e_type on, Elf{32,64}_Phdr and Elf{32,64}_Dyn.
_EHDR = {False: (2, 2, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2), True: (2, 2, 4, 8, 8, 8, 4, 2, 2, 2, 2, 2, 2)}
_PHDR = {False: (4, 4, 4, 4, 4, 4, 4, 4), True: (4, 4, 8, 8, 8, 8, 8, 8)}
_DYN = {False: (4, 4), True: (8, 8)}


def _fields(data: bytes, offset: int, widths: tuple[int, ...], little: bool) -> list[int]:
    """struct.unpack_from for unsigned fields, without importing struct (a tenth of a
    cold reexec()); _Short when `data` ends first."""
    order: Literal["little", "big"] = "little" if little else "big"
    values: list[int] = []
    for width in widths:
        end = offset + width
        if end > len(data):
            raise _Short(f"{len(data)} bytes, {end} needed")
        values.append(int.from_bytes(data[offset:end], order))
        offset = end
    return values


def _elf(rfd: int, head: bytes, size: int) -> Image:
    image = Image("elf", size, head=head)
    if len(head) < 20:
        image.truncated = f"{size} bytes, shorter than an ELF header"
        return image
    image.elf_class, data = head[4], head[5]
    image.little_endian = little = data != 2
    (image.machine,) = _fields(head, 18, (2,), little)
    is64 = image.elf_class == ELFCLASS64
    ehdr = _EHDR[is64]
    if image.elf_class not in (ELFCLASS32, ELFCLASS64) or len(head) < 16 + sum(ehdr):
        image.truncated = f"{size} bytes, shorter than an ELF header" if len(head) < 52 else None
        return image
    fields = _fields(head, 16, ehdr, little)
    phoff, phentsize, phnum = fields[4], fields[8], fields[9]
    phdr = _PHDR[is64]
    if phnum == 0 or phentsize < sum(phdr) or phnum > _MAX_PHNUM:
        return image
    if phoff + phnum * phentsize > size:
        image.truncated = f"{size} bytes, but its program headers end at byte {phoff + phnum * phentsize}"
        return image
    table = os.pread(rfd, phnum * phentsize, phoff)
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        entry = _fields(table, i * phentsize, phdr, little)
        if is64:
            p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align = entry
        else:
            p_type, offset, vaddr, _paddr, filesz, _memsz, _flags, _align = entry
        if p_type == PT_LOAD:
            loads.append((vaddr, offset, filesz))
            if offset + filesz > size and image.truncated is None:
                image.truncated = (f"{size} bytes, but segment {i} (PT_LOAD) needs bytes up to "
                                   f"{offset + filesz}")
        elif p_type == PT_INTERP and offset + filesz <= size:
            image.interpreter = os.fsdecode(os.pread(rfd, min(filesz, 4096), offset).split(b"\0", 1)[0])
        elif p_type == PT_DYNAMIC and offset + filesz <= size:
            dynamic = (offset, min(filesz, _MAX_DYNAMIC))
    if dynamic is not None and image.truncated is None:
        image.origin_paths = _origin_paths(rfd, little, is64, dynamic, loads)
    return image


def _origin_paths(rfd: int, little: bool, is64: bool, dynamic: tuple[int, int],
                  loads: list[tuple[int, int, int]]) -> list[str]:
    """RPATH/RUNPATH entries that contain $ORIGIN or ${ORIGIN} (ld.so(8))."""
    entry = _DYN[is64]
    width = sum(entry)
    raw = os.pread(rfd, dynamic[1], dynamic[0])
    strtab: int | None = None
    wanted: list[int] = []
    for off in range(0, len(raw) - width + 1, width):
        # d_tag is signed; the tags compared here are small positive numbers either way
        tag, value = _fields(raw, off, entry, little)
        if tag == DT_NULL:
            break
        if tag == DT_STRTAB:
            strtab = value
        elif tag in (DT_RPATH, DT_RUNPATH):
            wanted.append(value)
    if strtab is None or not wanted:
        return []
    base = next((off + strtab - vaddr for vaddr, off, filesz in loads if vaddr <= strtab < vaddr + filesz), None)
    if base is None:
        return []
    found: list[str] = []
    for index in wanted:
        text = os.pread(rfd, 4096, base + index).split(b"\0", 1)[0]
        for part in os.fsdecode(text).split(":"):
            if "$ORIGIN" in part or "${ORIGIN}" in part:
                found.append(part)
    return found


# ---- this process and binfmt_misc ---------------------------------------------------

_host: Image | None = None


def host() -> Image:
    """The running image (/proc/self/exe), read once."""
    global _host
    if _host is None:
        _host = inspect_path("/proc/self/exe")
    return _host


def kernel_machine() -> str:
    return os.uname().machine


def runs_natively(image: Image) -> bool | None:
    """True: this kernel runs the image itself (our own class and machine); None: a
    compat ABI this kernel may or may not have; False: another machine or class."""
    me = host()
    if me.kind != "elf":
        return None
    if (image.elf_class, image.machine, image.little_endian) == (me.elf_class, me.machine, me.little_endian):
        return True
    if (image.elf_class, image.machine) in _COMPAT.get(kernel_machine(), set()) and image.little_endian == me.little_endian:
        return None
    return False


BINFMT_DIR = "/proc/sys/fs/binfmt_misc"


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def binfmt_handler(image: Image, root: str = BINFMT_DIR) -> tuple[bool | None, str | None]:
    """(True, name) when an enabled binfmt_misc entry's magic matches the image (as the
    kernel matches it: magic & mask at offset); (False, None) when binfmt_misc is
    mounted and none does; (None, None) when it cannot be seen (not mounted here):
    then only the kernel knows."""
    try:
        status = _read_text(os.path.join(root, "status")).strip()
        names = os.listdir(root)
    except OSError:
        return None, None
    if status != "enabled":
        return False, None
    for name in sorted(names):
        if name in ("status", "register"):
            continue
        try:
            text = _read_text(os.path.join(root, name))
        except OSError:
            continue
        entry: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(" ")
            if sep:
                entry[key] = value
        if text.splitlines()[:1] != ["enabled"] or "magic" not in entry:
            continue
        try:
            magic = bytes.fromhex(entry["magic"])
            mask = bytes.fromhex(entry.get("mask", "ff" * len(magic)))
            offset = int(entry.get("offset", "0"))
        except ValueError:
            continue
        window = image.head[offset:offset + len(magic)]
        if len(window) == len(magic) and all((b & m) == (g & m) for b, m, g in zip(window, mask, magic, strict=False)):
            return True, name
    return False, None


# ---- the verdicts ------------------------------------------------------------------

def refusal(image: Image, binfmt_root: str = BINFMT_DIR) -> tuple[int, str] | None:
    """(errno, why) when exec of this image is known to fail, or to kill the process
    after the point of no return; None when it may run (or nothing is known)."""
    if image.kind == "script":
        interp = image.interpreter
        if interp is None:
            return errno.ENOEXEC, f"its #! line names no interpreter ({image.script_line!r})"
        if not os.path.exists(interp):
            return errno.ENOENT, f"its #! interpreter {interp} does not exist ({image.script_line!r})"
        return None
    if image.kind != "elf":
        return None
    if image.truncated:
        return errno.ENOEXEC, f"truncated ELF image: {image.truncated}; rebuild it"
    native = runs_natively(image)
    if native is False:
        found, handler = binfmt_handler(image, binfmt_root)
        if found is False:
            return errno.ENOEXEC, foreign_text(image) + "; no enabled binfmt_misc handler runs it"
        if found:
            log("Check: %s: binfmt_misc handler %s runs it", foreign_text(image), handler)
        else:
            log("Check: %s: binfmt_misc is not visible here, the kernel decides", foreign_text(image))
    if native is not False and image.interpreter and not os.path.exists(image.interpreter):
        return errno.ENOENT, f"its ELF loader (PT_INTERP) {image.interpreter} does not exist"
    return None


def foreign_text(image: Image) -> str:
    """``64-bit aarch64 ELF, this is 64-bit x86_64``."""
    me = host()
    this = me.describe().replace(" ELF", "") if me.kind == "elf" else kernel_machine()
    if me.kind == "elf" and image.machine == me.machine and image.elf_class != me.elf_class:
        return f"{image.bits}-bit ELF of another class, this is {this}"
    return f"{image.describe()}, this is {this}"


def explain_enoexec(image: Image) -> str:
    """Why the kernel answered ENOEXEC (Exec format error) for this image."""
    if image.kind == "empty":
        return "an empty file: truncated or never written; rebuild it"
    if image.kind == "other":
        text = image.head and all(b in b"\t\n\r\f\b\x1b" or 32 <= b < 127 or b >= 128 for b in image.head)
        if text:
            return "a text file without a #! line: add one (e.g. #!/bin/sh) or run it through its interpreter"
        return "neither ELF nor #! script, and no binfmt_misc handler took it"
    if image.kind == "script":
        return f"the #! line could not be used ({image.script_line!r})"
    if image.kind == "elf":
        if image.truncated:
            return f"truncated ELF image: {image.truncated}; rebuild it"
        native = runs_natively(image)
        if native is False:
            return foreign_text(image)
        if native is None:
            return f"{image.describe()}: this {kernel_machine()} kernel does not run it (no 32-bit compat support?)"
        return f"{image.describe()} the kernel would not load (damaged headers?); rebuild it"
    return "truncated or half-written: rebuild it"


# ---- before exec -------------------------------------------------------------------

ENABLED = sys.platform.startswith("linux")


def check(fd: int, path: str, dev: int, ino: int, sealed: bool = False) -> None:
    """Raise an ExecError (tier "check") when exec of the open file `fd` (opened as
    `path`, with identity `dev`/`ino`; `sealed`: a snapshot copy of it, which has no
    path) is known to fail or to leave a dead process; return when it may run."""
    if not ENABLED or fd < 0:
        return
    if kernel_check(fd) not in (0, errno.ENOSYS):
        return  # the tiers will give the kernel's answer, recoverably
    image = inspect_fd(fd, None if sealed else path, dev, ino)
    verdict = refusal(image)
    if verdict is None:
        return
    err, why = verdict
    if image.truncated:
        # Cut short, or caught mid-rewrite? A writer that still holds it makes the
        # tiers answer ETXTBSY (retried); a file that changed while it was read is
        # ESTALE (retried); only a file that stood still is truly truncated.
        if kernel_check(fd) == errno.ETXTBSY:
            return
        if stamp_of(fd, None if sealed else path, dev, ino) not in (None, image.stamp):
            err, why = errno.ESTALE, "the file changed while it was read"
    # needs-interpreter: a missing interpreter is not a build tool's swap; never retried.
    note = "needs-interpreter" if err == errno.ENOENT else None
    from .errors import Attempt, ExecError  # (on failure only: see _validate._too_long)

    raise ExecError.of(err, f"{os.strerror(err)} (refused before exec: {why})", path,
                       tier="check", attempts=[Attempt("check", err, note)], diagnosis=why)


def explain(fd: int, path: str, dev: int, ino: int, exc: ExecError, sealed: bool = False) -> ExecError:
    """The tiers' error, with what ENOEXEC meant for this file added to its text."""
    if not ENABLED or exc.errno != errno.ENOEXEC or fd < 0:
        return exc
    image = inspect_fd(fd, None if sealed else path, dev, ino)
    if image.kind == "unreadable":
        return exc
    why = explain_enoexec(image)
    exc.strerror = f"{exc.strerror}: {why}"
    exc.diagnosis = why
    return exc

