"""The monorepo's test run (``hatch run test:all``) starts without the
caller's ``AWS_*`` variables.

Many AWS users set some in their shell (``AWS_PROFILE``, ``AWS_REGION``,
``AWS_EC2_METADATA_DISABLED``, ``AWS_ENDPOINT_URL``...). No test may depend
on them: each test, fixture and server process sets what it needs itself. So
they are removed here, before any test, fixture or subprocess (moto, Jupyter)
starts; the subprocesses inherit the cleaned environment.
"""

from __future__ import annotations

import os

for _name in [name for name in os.environ if name.startswith("AWS_")]:
    del os.environ[_name]
