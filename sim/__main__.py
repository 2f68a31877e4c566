"""``python -m sim`` is the ``govsim`` command."""

import sys

from .cli import main

sys.exit(main())
