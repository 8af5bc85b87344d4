"""PyInstaller support: the ``pyinstaller40`` entry point's ``hook-dirs``, so freezing
an app that uses reexec_native needs no ``--hidden-import`` (see hook-reexec_native.py)."""

import os


def get_hook_dirs() -> list[str]:
    return [os.path.dirname(__file__)]
