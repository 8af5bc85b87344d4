"""PyInstaller hook for reexec_native.

The CFFI extension (reexec_native._native) imports ``_cffi_backend`` from C, where
PyInstaller's import analysis cannot see it: without this, a frozen app dies at
import with "No module named '_cffi_backend'". The package's own modules are
imported lazily (inside functions, for import cost): collect them all.

PyInstaller ships no types (and is absent where users type-check their code), so its
helper is looked up at run time and given its type here: ``mypy -p reexec_native``
and pyright stay clean with or without PyInstaller installed.
"""

from collections.abc import Callable
from importlib import import_module

_collect_submodules: Callable[..., list[str]] = import_module("PyInstaller.utils.hooks").collect_submodules



def _not_this_hook(name: str) -> bool:
    return "__pyinstaller" not in name


hiddenimports = ["_cffi_backend", *_collect_submodules("reexec_native", filter=_not_this_hook)]
