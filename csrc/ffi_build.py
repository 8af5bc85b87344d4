"""CFFI (API mode) build script for ``reexec_native._native``.

setup.py names it in ``cffi_modules``. Two things are decided here and nowhere else:
which C files the extension compiles on each platform (``sources``, which
scripts/portability-gate, scripts/c-tests and scripts/_winpy_build.py read too), and
the cdef, which is derived from the public headers include/reexec.h and
include/reexec_upgrade.h (``cdef``), so the headers are the one description of the C API.
"""

import os
import re
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE_DIR = os.path.join(HERE, "include")
HEADERS = ("reexec.h", "reexec_upgrade.h")


def sources(platform=sys.platform):
    """The C files the extension compiles for ``platform`` (a sys.platform value).

    Every platform gets the whole reexec.h/reexec_upgrade.h API: where a mechanism does
    not exist, a file under unsupported/ gives the documented answer (ENOSYS)."""
    common = ["common/reexec_vector.c"]
    posix = ["posix/reexec_posix.c", "posix/reexec_fds.c", "posix/fork_pipe.c"]
    linux_only = ["posix/reexec_snapshot.c", "posix/reexec_check.c", "posix/reexec_wait.c"]
    not_linux = ["unsupported/snapshot_unsupported.c", "unsupported/check_unsupported.c",
                 "unsupported/wait_unsupported.c"]
    if platform == "win32":
        names = [*common, "windows/reexec_win.c", "windows/win_text.c", "windows/win_child.c",
                 "windows/win_cmdline.c", "unsupported/fds_unsupported.c", *not_linux]
    elif platform == "linux":
        names = common + posix + linux_only
    else:  # darwin, freebsd*, other POSIX systems
        names = common + posix + not_linux
    return ["csrc/" + name for name in names]


class HeaderError(ValueError):
    """A construct in a public header that the cdef generator does not understand."""


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_LINE_COMMENT = re.compile(r"//[^\n]*")
_DEFINE = re.compile(r"#\s*define\s+([A-Za-z_]\w*)(\s+\S.*)?$")
_DIRECTIVE = re.compile(r"#\s*(\w+)\s*(.*)$")
_ARRAY_BY_NAME = re.compile(r"\[\s*[A-Za-z_]\w*\s*\]")


def header_cdef(text, platform=sys.platform, name="<header>"):
    """The cdef for one header's text: comments, the include guard, #include lines and
    the extern "C" block go; ``#define NAME value`` becomes ``#define NAME ...``; the
    ``#ifdef _WIN32`` part stays only for win32; an array sized by a macro becomes
    ``[...]``. Anything else with a ``#`` raises HeaderError naming the line."""

    def fail(lineno, line, why):
        raise HeaderError(f"{name}:{lineno}: {why}: {line.strip()!r} (csrc/ffi_build.py "
                          "derives the cdef from the header; teach header_cdef this construct)")

    # Comments become blanks of the same line count, so line numbers stay right.
    text = _BLOCK_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = _LINE_COMMENT.sub("", text)
    lines = text.split("\n")
    out = []
    # Stack of open conditionals: (kind, keep) with kind "guard", "cplusplus", "win32".
    stack = []
    guard = None
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            if stripped and all(keep for _, keep in stack):
                if 'extern "C"' in stripped:
                    fail(lineno, line, 'extern "C" outside an #ifdef __cplusplus block')
                out.append(_ARRAY_BY_NAME.sub("[...]", line.rstrip()))
            continue
        directive = _DIRECTIVE.match(stripped)
        if directive is None:
            fail(lineno, line, "not a preprocessor directive")
        word, rest = directive.group(1), directive.group(2).strip()
        if word == "ifndef" and guard is None and not stack:
            guard = rest
            stack.append(("guard", True))
        elif word == "define" and guard is not None and rest == guard:
            continue  # the guard's own #define
        elif word == "ifdef" and rest == "__cplusplus":
            stack.append(("cplusplus", False))
        elif word == "ifdef" and rest == "_WIN32":
            stack.append(("win32", platform == "win32"))
        elif word == "endif":
            if not stack:
                fail(lineno, line, "#endif without #if")
            stack.pop()
        elif word == "include":
            continue  # the headers it names are declared by their own cdef (or by cffi)
        elif word == "define":
            match = _DEFINE.match(stripped)
            if match is None or match.group(2) is None:
                fail(lineno, line, "only object-like #define NAME value is understood")
            if all(keep for _, keep in stack):
                out.append(f"#define {match.group(1)} ...")
        else:
            fail(lineno, line, f"#{word} is not understood")
    if stack:
        raise HeaderError(f"{name}: {len(stack)} conditional(s) left open at the end")
    return "\n".join(out) + "\n"


def cdef(platform=sys.platform):
    """The cdef of the extension for ``platform``: both public headers, in order."""
    parts = []
    for header in HEADERS:
        with open(os.path.join(INCLUDE_DIR, header), encoding="utf-8") as f:
            parts.append(header_cdef(f.read(), platform, "csrc/include/" + header))
    return "".join(parts)


def _limited_api():
    # cffi compiles with Py_LIMITED_API; free-threaded builds have no limited API.
    return not sysconfig.get_config_var("Py_GIL_DISABLED")


def make_ffi(platform=sys.platform):
    """The FFI for ``platform``: its cdef, its sources and its compiler options."""
    from cffi import FFI  # noqa: PLC0415 (sources() and cdef() work without cffi)

    ffi = FFI()
    ffi.cdef(cdef(platform))
    ffi.set_source(
        "reexec_native._native",
        "".join(f'#include "{header}"\n' for header in HEADERS),
        sources=sources(platform),
        include_dirs=[INCLUDE_DIR],
        libraries=["kernel32"] if platform == "win32" else [],
        extra_compile_args=[] if platform == "win32" else ["-std=c99"],
        py_limited_api=_limited_api(),
    )
    return ffi


ffi = make_ffi()

if __name__ == "__main__":
    ffi.compile(verbose=True)
