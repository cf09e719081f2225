"""``python -m jupyters3 check``: see :mod:`jupyters3.check`."""

import sys

from jupyters3.check import main

sys.exit(main())
