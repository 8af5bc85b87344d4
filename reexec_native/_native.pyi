# Stub for the CFFI module compiled from csrc/ (see csrc/ffi_build.py).
from typing import Any

ffi: Any
lib: Any
