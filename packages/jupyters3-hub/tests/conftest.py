# Tests run with --import-mode=importlib and no __init__.py files: put this folder on
# sys.path so test modules can `import hubworld` (the end-to-end JupyterHub fixture).
import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
