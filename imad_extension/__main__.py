"""``python -m imad_extension <command>``: the ``imad`` command line (``cli.main``)."""

import sys

from .cli import main

sys.exit(main())
