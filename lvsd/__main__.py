"""``python -m lvsd``: the same as the ``lvsd`` command."""

import sys

from lvsd.cli import main

sys.exit(main())
