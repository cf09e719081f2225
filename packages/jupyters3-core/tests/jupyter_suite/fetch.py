"""Fetch jupyter_server's own test-suite from the sdist of the installed version.

The tests are never copied into this repository: ``pip download`` fetches the
sdist of the jupyter_server version that the running environment has, and its
``tests/`` folder and ``pyproject.toml`` (which holds its pytest settings) are
extracted into ``<repo>/.cache/jupyter-suite/<version>/`` (git-ignored; set
``JS3_SUITE_CACHE`` to use another folder). A complete extraction is reused,
so the download happens once per version and machine.

Only ``tests/`` is extracted, not the sdist's ``jupyter_server/`` package: the
tests must import the jupyter_server that is installed, the one users run.

    python fetch.py            # prints the folder, fetching it if needed
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["cache_root", "fetch", "installed_version"]

_REPO = Path(__file__).resolve().parents[4]
_COMPLETE = ".complete"


def installed_version() -> str:
    """The version of jupyter_server in this environment."""
    return importlib.metadata.version("jupyter_server")


def cache_root() -> Path:
    """``$JS3_SUITE_CACHE``, else ``<repo>/.cache/jupyter-suite``."""
    env = os.environ.get("JS3_SUITE_CACHE")
    return Path(env) if env else _REPO / ".cache" / "jupyter-suite"


def _wanted(name: str, top: str) -> str | None:
    """The path inside the target folder of sdist member ``name``, or None to skip it."""
    if not name.startswith(top + "/"):
        return None
    rel = name[len(top) + 1 :]
    if rel == "pyproject.toml" or rel.startswith("tests/"):
        return rel
    return None


def _extract(archive: Path, staging: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/", 1)[0]
        chosen = []
        for member in members:
            rel = _wanted(member.name, top)
            if rel is None or not (member.isfile() or member.isdir()):
                continue
            member.name = rel
            chosen.append(member)
        if not any(m.name == "tests/conftest.py" for m in chosen):
            raise RuntimeError(
                f"{archive.name} has no tests/conftest.py: not a jupyter_server sdist?"
            )
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(staging, members=chosen, **kwargs)  # members: regular files and folders


def fetch(version: str | None = None, cache: Path | None = None) -> Path:
    """The folder holding ``tests/`` and ``pyproject.toml`` of jupyter_server ``version``
    (default: the installed one), downloaded and extracted on first use."""
    version = version or installed_version()
    target = (cache or cache_root()) / version
    if (target / _COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="js3-suite-", dir=target.parent) as tmp:
        download = Path(tmp) / "download"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"jupyter_server=={version}",
            "-d",
            str(download),
        ]
        subprocess.run(cmd, check=True)
        archives = sorted(download.glob("jupyter_server-*.tar.gz"))
        if len(archives) != 1:
            raise RuntimeError(f"pip download gave {archives!r}, expected one sdist")
        staging = Path(tmp) / "staging"
        _extract(archives[0], staging)
        (staging / _COMPLETE).write_text(archives[0].name + "\n", encoding="utf-8")
        if target.exists():  # an incomplete earlier attempt
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not (target / _COMPLETE).exists():  # not a concurrent fetch that won
                raise
    return target


if __name__ == "__main__":
    print(fetch(sys.argv[1] if len(sys.argv) > 1 else None))
