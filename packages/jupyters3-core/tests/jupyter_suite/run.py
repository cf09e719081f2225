"""Run jupyter_server's own contents tests against JupyterS3 (``hatch run test:jupyter_suite``).

1. ``fetch.py`` gets ``tests/`` from the sdist of the installed jupyter_server
   (downloaded once per version into ``.cache/jupyter-suite/<version>/``);
2. pytest runs its ``tests/services/contents`` in that folder, under the sdist's
   own pytest settings (``pyproject.toml``: warnings are errors, 100 s timeout),
   with ``plugin.py`` (``-p jupyter_suite.plugin``) pointing every test at
   JupyterS3 on a moto S3 server of its own, without pytest-asyncio (jupyter_server
   runs its async tests with pytest-jupyter's plugin);
3. the last line says ``jupyter_server X contents suite on JupyterS3: N passed,
   N failed, N excluded``; the exclusions and their reasons come just before.

Exits with pytest's status: non-zero when a test fails, when EXCLUDED.toml or the
seams no longer fit this jupyter_server version, or when no test ran.
Extra arguments go to pytest, e.g. ``-k test_rename``, ``-n 0`` (default ``-n 2``)
or ``tests/services/contents/test_api.py`` (a path in the suite's folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _paths(argv: list[str], suite: Path) -> tuple[list[str], bool]:
    """``argv`` with test paths made to work from the suite's folder (pytest runs
    there): ``tests/services/contents/test_api.py::test_x`` (relative to the
    suite) or any existing path; and whether there was one."""
    out, found = [], False
    for arg in argv:
        path = arg.split("::", 1)[0]
        if not arg.startswith("-") and path:
            if (suite / path).exists():
                found = True
            elif Path(path).exists():
                arg, found = str(Path(path).resolve()) + arg[len(path) :], True
        out.append(arg)
    return out, found


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    from fetch import fetch

    suite = fetch()
    argv, has_paths = _paths(argv, suite)
    contents = [] if has_paths else [str(suite / "tests" / "services" / "contents")]
    # As the repository's conftest.py does for our own tests: the caller's AWS_*
    # variables (AWS_PROFILE, AWS_EC2_METADATA_DISABLED, ...) never reach the suite,
    # whose servers and fixtures set what they need.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="js3-suite-report-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(suite / "pyproject.toml"),
            "--rootdir",
            str(suite),
            "-p",
            "no:asyncio",
            "-p",
            "no:cacheprovider",
            "-p",
            "jupyter_suite.plugin",
            "--color=no",
            "-n",
            "2",
            "--js3-suite-report",
            str(report),
            *contents,
            *argv,
        ]
        print(f"jupyter_suite: {' '.join(cmd)}", flush=True)
        status = subprocess.run(cmd, cwd=suite, env=env, check=False).returncode
        if not report.exists():
            print("jupyter_suite: pytest wrote no report: see its output above", flush=True)
            return status or 1
        summary = json.loads(report.read_text(encoding="utf-8"))
    ran = summary["passed"] + summary["failed"] + summary["skipped"]
    skipped = f", {summary['skipped']} skipped" if summary["skipped"] else ""
    print(
        f"jupyter_server {summary['jupyter_server']} contents suite on JupyterS3: "
        f"{summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['excluded']} excluded{skipped}",
        flush=True,
    )
    if not summary["harness_ok"]:
        print(
            "jupyter_suite: EXCLUDED.toml or plugin.py no longer fits this jupyter_server "
            "version: see 'jupyter_suite harness check' above",
            flush=True,
        )
    if status == 0 and ran == 0:
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
