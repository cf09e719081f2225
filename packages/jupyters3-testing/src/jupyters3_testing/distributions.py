"""Build a package and read what its wheel and sdist carry (for packaging tests).

Used by the jupyters3 packages' own ``test_packaging.py``; nothing here is
specific to them. Building needs ``hatchling`` importable (a test dependency).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import NamedTuple

__all__ = ["Sdist", "Wheel", "build", "changelog_version", "read_sdist", "read_wheel"]


def build(package_dir: Path, out: Path, *, timeout: float = 300) -> None:
    """``hatchling build`` of ``package_dir``: its wheel and sdist land in ``out``."""
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=package_dir,
        check=True,
        capture_output=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Wheel:
    """A wheel's member names and its ``METADATA``."""

    path: Path
    names: list[str]
    metadata: Message

    def read(self, suffix: str) -> bytes:
        """The one member whose name ends with ``suffix`` (e.g. ``.dist-info/entry_points.txt``)."""
        (name,) = [n for n in self.names if n.endswith(suffix)]
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(name)


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(metadata_name).decode())
    return Wheel(path, names, metadata)


class Sdist(NamedTuple):
    """An sdist's files (path below its top folder -> bytes) and its ``PKG-INFO``."""

    files: dict[str, bytes]
    pkg_info: Message


def read_sdist(path: Path) -> Sdist:
    files = {}
    with tarfile.open(path) as tf:
        for member in tf.getmembers():
            if member.isfile() and "/" in member.name:
                extracted = tf.extractfile(member)
                assert extracted is not None
                files[member.name.split("/", 1)[1]] = extracted.read()
    return Sdist(files, Parser().parsestr(files["PKG-INFO"].decode()))


def changelog_version(text: str) -> str:
    """The newest released version of a Keep a Changelog file ([Unreleased] skipped)."""
    versions: list[str] = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    released = [v for v in versions if v.lower() != "unreleased"]
    assert released, "CHANGELOG.md names no released version"
    return released[0]
