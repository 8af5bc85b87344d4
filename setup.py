"""setup.py exists only for cffi_modules (cffi has no pyproject.toml hook) and the
abi3 wheel tag; everything else is in pyproject.toml."""

import sys
import sysconfig

from setuptools import setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 (pyproject asks for >= 70.1)
    from wheel.bdist_wheel import bdist_wheel

# The oldest CPython the one abi3 wheel is for: the floor of requires-python in
# pyproject.toml (tests/test_packaging.py checks they agree). csrc/ffi_build.py
# compiles with the limited API under the same condition as below.
LIMITED_API = "cp310"


def limited_api_supported():
    """CPython with a GIL: free-threaded builds (3.13t-3.14t) have no limited API
    (setuptools refuses py_limited_api there), PyPy and others no abi3."""
    return sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED")


class AbiThreeWheel(bdist_wheel):
    """Tag the wheel cp310-abi3 where the interpreter has a limited API to build against."""

    def finalize_options(self):
        if limited_api_supported():
            self.py_limited_api = LIMITED_API
        super().finalize_options()


setup(
    cmdclass={"bdist_wheel": AbiThreeWheel},
    cffi_modules=["csrc/ffi_build.py:ffi"],
    zip_safe=False,
)
