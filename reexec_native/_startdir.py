"""The working directory at ``import reexec_native``: start_dir()'s answer.

Imported by the package's ``__init__``, so it is recorded before the program can
chdir(), even though the public names load their modules only at first use.
"""

from os import getcwd as _getcwd


def _cwd_or_none() -> str | None:
    try:
        return _getcwd()
    except OSError:  # the start directory was already removed
        return None


START_DIR = _cwd_or_none()
