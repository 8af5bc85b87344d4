"""``python -m reexec_native``: the ``reexec-native`` command."""

import sys

from .cli import main

sys.exit(main())
