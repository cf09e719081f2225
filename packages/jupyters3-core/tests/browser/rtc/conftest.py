"""Real-time collaboration tests: collected only where jupyter-collaboration is installed.

They run in their own hatch env (``hatch run rtc:collaboration``, part of
``hatch run test:all``), since the collaboration extension changes every
JupyterLab started in its environment.
"""

import importlib.util

if importlib.util.find_spec("jupyter_collaboration") is None:
    collect_ignore_glob = ["test_*.py"]
