"""The cdef comes from the public headers (csrc/include/reexec.h, reexec_upgrade.h):
every function, constant and struct field they declare is in the cdef csrc/ffi_build.py
gives cffi, for linux and for win32 (reexec_win_run only there); a header construct the
generator does not know fails the build with a message naming the line. The built
extension exposes exactly what reexec_native/_native.pyi types. And sources(): every C
file under csrc/ is compiled somewhere, each platform's list has distinct file names
(the Windows cross-build puts the objects in one folder).

The headers are read here with a separate, deliberately simple scan, so a generator
that drops a declaration is caught.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
HEADERS = [CSRC / "include" / "reexec.h", CSRC / "include" / "reexec_upgrade.h"]

pytestmark = pytest.mark.skipif(not (CSRC / "ffi_build.py").exists(),
                                reason="needs the source tree's csrc/")
cffi = pytest.importorskip("cffi")


@pytest.fixture(scope="module")
def ffi_build():
    sys.path.insert(0, str(CSRC))
    try:
        import ffi_build  # noqa: PLC0415
    finally:
        sys.path.remove(str(CSRC))
        sys.modules.pop("ffi_build", None)
    return ffi_build


def declared(platform: str) -> tuple[set[str], set[str], dict[str, list[str]]]:
    """(functions, constants, {struct: fields}) the headers declare for ``platform``."""
    functions, constants, structs = set(), set(), {}
    for header in HEADERS:
        text = re.sub(r"/\*.*?\*/", " ", header.read_text(), flags=re.S)
        if platform != "win32":
            text = re.sub(r"#ifdef _WIN32\n.*?#endif", "", text, flags=re.S)
        guard = re.search(r"#ifndef (\w+)\n#define \1\n", text).group(1)
        constants |= {n for n in re.findall(r"#define (\w+)", text) if n != guard}
        functions |= set(re.findall(r"^[\w ]+?\**\b(reexec_\w+)\s*\(", text, flags=re.M))
        for name, body in re.findall(r"typedef struct (\w+) \{(.*?)\}", text, flags=re.S):
            structs[name] = [re.search(r"(\w+)\s*(?:\[[^]]*\])?\s*$", decl).group(1)
                             for decl in body.split(";") if decl.strip()]
    return functions, constants, structs


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_every_header_declaration_is_in_the_cdef(ffi_build, platform):
    functions, constants, structs = declared(platform)
    assert "reexec_exec" in functions and "REEXEC_MAX_ATTEMPTS" in constants  # the scan works
    assert ("reexec_win_run" in functions) == (platform == "win32")
    decls = ffi_build.make_ffi(platform)._parser._declarations
    in_cdef_functions = {k.split()[1] for k in decls if k.startswith("function ")}
    in_cdef_constants = {k.split()[1] for k in decls if k.startswith("macro ")}
    assert in_cdef_functions == functions
    assert in_cdef_constants == constants
    for name, fields in structs.items():
        assert list(decls[f"struct {name}"][0].fldnames) == fields, name
    # The array sized by a macro is left for the C compiler to fill in.
    assert "attempts[...]" in ffi_build.cdef(platform)


@pytest.mark.parametrize("line, why", [
    ("#if defined(FOO)", "#if is not understood"),
    ("#define REEXEC_SQUARE(x) ((x) * (x))", "only object-like"),
    ("#define REEXEC_EMPTY", "only object-like"),
    ('extern "C" int reexec_x(void);', 'extern "C" outside'),
])
def test_a_header_construct_not_understood_is_an_error(ffi_build, line, why):
    text = f"#ifndef X_H\n#define X_H\nint reexec_ok(void);\n{line}\n#endif\n"
    with pytest.raises(ffi_build.HeaderError, match=re.escape(why)) as info:
        ffi_build.header_cdef(text, "linux", "x.h")
    assert "x.h:4:" in str(info.value)


def test_an_unclosed_conditional_is_an_error(ffi_build):
    with pytest.raises(ffi_build.HeaderError, match="left open"):
        ffi_build.header_cdef("#ifndef X_H\n#define X_H\n#ifdef _WIN32\n#endif\n", "win32", "x.h")


def pyi_lib_names() -> set[str]:
    tree = ast.parse((ROOT / "reexec_native" / "_native.pyi").read_text())
    lib = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Lib")
    return {n.target.id if isinstance(n, ast.AnnAssign) else n.name for n in lib.body
            if isinstance(n, (ast.AnnAssign, ast.FunctionDef))}


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_the_stub_types_exactly_the_cdef(ffi_build, platform):
    decls = ffi_build.make_ffi(platform)._parser._declarations
    names = {k.split()[1] for k in decls if k.startswith(("function ", "macro "))}
    assert pyi_lib_names() - {"reexec_win_run"} == names - {"reexec_win_run"}
    assert ("reexec_win_run" in names) == (platform == "win32")


@pytest.mark.skipif(sys.platform != "linux", reason="the installed extension of this platform")
def test_the_built_extension_exposes_what_the_stub_types():
    from reexec_native._native import lib  # noqa: PLC0415

    assert set(dir(lib)) == pyi_lib_names() - {"reexec_win_run"}


def test_every_c_file_is_compiled_somewhere_once(ffi_build):
    platforms = ["linux", "darwin", "freebsd14", "win32"]
    listed = set()
    for platform in platforms:
        files = ffi_build.sources(platform)
        names = [Path(f).name for f in files]
        assert len(set(names)) == len(names), (platform, names)
        assert all((ROOT / f).is_file() for f in files), files
        listed |= set(files)
    driver = "csrc/windows/driver/reexec_run_main.c"  # a program, not part of the extension
    on_disk = {p.relative_to(ROOT).as_posix() for p in CSRC.rglob("*.c")}
    assert on_disk - listed == {driver}
