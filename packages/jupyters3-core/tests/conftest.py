# Tests run with --import-mode=importlib and no __init__.py files: put this folder on
# sys.path so test modules can `import strategies` (shared Hypothesis strategies).
import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """In chaos mode, append what the chaos proxies saw to $JS3_CHAOS_REPORT."""
    import os

    from jupyters3_testing.chaos import chaos_report

    target = os.environ.get("JS3_CHAOS_REPORT")
    report = chaos_report()
    if target and report:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(report + "\n")
