"""Names the contents API makes up: free names for new files and copies,
numbered as jupyter_server numbers them, and sizes in words. Pure."""

from __future__ import annotations

import itertools
import re

__all__ = ["copy_name", "first_free_name", "human_size"]

_COPY_PAT = re.compile(r"\-Copy\d*\.")


def first_free_name(filename: str, insert: str, taken: set[str]) -> str:
    """``filename``, else ``name{insert}1.ext``, ``name{insert}2.ext``, ... : the
    first not in ``taken``, numbered as jupyter_server's ``increment_filename``."""
    basename, dot, ext = filename.rpartition(".")
    if ext != "ipynb":
        basename, dot, ext = filename.partition(".")
    for i in itertools.count():
        name = f"{basename}{f'{insert}{i}' if i else ''}{dot}{ext}"
        if name not in taken:
            return name
    raise AssertionError("unreachable")


def copy_name(name: str, taken: set[str]) -> str:
    """The name of a copy of ``name`` in a folder holding ``taken``: ``a-Copy1.txt``,
    ``a-Copy2.txt``, ... (a copy of a copy counts from its original's name)."""
    return first_free_name(_COPY_PAT.sub(".", name), "-Copy", taken)


def human_size(count: int) -> str:
    """``count`` bytes in words: ``"1.5 MiB"``, ``"312 bytes"``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"
