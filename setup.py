"""setup.py exists only for cffi_modules (cffi has no pyproject.toml hook)."""

import sys
import sysconfig

from setuptools import setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel


class AbiThreeWheel(bdist_wheel):
    """Tag the wheel abi3 where the interpreter has a limited API to build against."""

    def finalize_options(self):
        free_threaded = sysconfig.get_config_var("Py_GIL_DISABLED")
        if sys.implementation.name == "cpython" and not free_threaded:
            self.py_limited_api = "cp310"
        super().finalize_options()


setup(
    cmdclass={"bdist_wheel": AbiThreeWheel},
    cffi_modules=["csrc/ffi_build.py:ffi"],
    zip_safe=False,
)
