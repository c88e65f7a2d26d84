"""``python -m sitefx``: the same as the ``sitefx`` command."""

import sys

from sitefx.cli import main

sys.exit(main())
