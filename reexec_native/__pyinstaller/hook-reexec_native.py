"""PyInstaller hook for reexec_native.

The CFFI extension (reexec_native._native) imports ``_cffi_backend`` from C, where
PyInstaller's import analysis cannot see it: without this, a frozen app dies at
import with "No module named '_cffi_backend'". The package's own modules are
imported lazily (inside functions, for import cost): collect them all.
"""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = ["_cffi_backend", *collect_submodules("reexec_native", filter=lambda name: "__pyinstaller" not in name)]
