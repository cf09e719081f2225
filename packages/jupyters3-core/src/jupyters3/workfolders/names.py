"""Which names a kernel's working folder may hold, and what it calls a conflict copy. Pure.

A working folder mirrors the keys under one folder prefix as local files. A key
becomes a local path only when that path is safe and the same on every system:

* it maps back to a valid API path (:meth:`~jupyters3.keys.KeyMap.path_of`):
  no ``..`` or ``.`` segment, no empty segment (``a//b``, a leading ``/``), no
  control character, no backslash, no ``.checkpoints`` segment;
* each name fits the usual file system limit (255 bytes of UTF-8) and the
  whole path a conservative 4,000 bytes;
* no name of it starts with :data:`RESERVED` (the working folder's own files);
* it matches none of the patterns left out (``kernel_left_out``: hidden
  names and ``__pycache__`` by default; each pattern is matched against each
  name of the path, case-sensitively, as :func:`fnmatch.fnmatchcase` does);
* it does not differ from a path taken before it only in case or Unicode
  normalisation (:class:`FoldedNames`): such paths are one file on macOS and
  Windows, so the first in key order is kept everywhere, and a kernel's code
  sees the same folder on every system.

Every path left out is named with its reason (:class:`LeftOut`) in the log
and in the note the kernel can read (:data:`NOTE`).
"""

from __future__ import annotations

import fnmatch
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from jupyters3 import keys
from jupyters3.contents_errors import InvalidPath

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "NOTE",
    "RESERVED",
    "FoldedNames",
    "LeftOut",
    "conflict_name",
    "matched_pattern",
    "unsafe",
]

#: Names starting with this are the working folder's own (its note, files being written).
RESERVED = ".jupyters3-"
#: The note in every working folder: what it mirrors, how it syncs, what was left out.
NOTE = ".jupyters3-working-folder.txt"
#: The longest name most file systems take (ext4, APFS, NTFS: 255 bytes or characters).
MAX_NAME_BYTES = 255
#: The longest relative path kept (Linux's PATH_MAX is 4,096 bytes, the folder's own path included).
MAX_PATH_BYTES = 4000


@dataclass(frozen=True)
class LeftOut:
    """A path (relative to the working folder) or key that is not mirrored, and why."""

    name: str
    reason: str

    def line(self) -> str:
        return f"{self.name!r}: {self.reason}"


def unsafe(rel: str) -> str | None:
    """Why ``rel`` (``/``-separated, relative to the working folder) cannot be
    a local path, or None when it can."""
    try:
        if keys.normalize_path(rel) != rel or not rel:
            return "not a plain relative path"
    except InvalidPath as error:
        return str(error)
    for name in rel.split("/"):
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return f"a name longer than {MAX_NAME_BYTES} bytes"
        if name.startswith(RESERVED):
            return f"names starting with {RESERVED!r} are the working folder's own"
    if len(rel.encode("utf-8")) > MAX_PATH_BYTES:
        return f"a path longer than {MAX_PATH_BYTES} bytes"
    return None


def matched_pattern(rel: str, patterns: Sequence[str]) -> str | None:
    """The first pattern of ``patterns`` that one name of ``rel`` matches."""
    for name in rel.split("/"):
        for pattern in patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return pattern
    return None


def _fold(rel: str) -> str:
    return unicodedata.normalize("NFC", rel).casefold()


class FoldedNames:
    """The paths taken so far, folded as case-insensitive file systems fold
    them (case and Unicode normalisation); :meth:`take` refuses a path that
    folds to one taken by another path, or that needs a folder where a file
    was taken (or a file where a folder was)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._files: dict[str, str] = {}
        self._folders: dict[str, str] = {}
        for rel in taken:
            self.take(rel)

    def take(self, rel: str) -> str | None:
        """Take ``rel`` (a file's path); None, or why it cannot be taken."""
        folded = _fold(rel)
        other = self._files.get(folded)
        if other is not None:
            return None if other == rel else f"differs from {other!r} only in case or accents"
        if folded in self._folders:
            return "a folder of the same name is there"
        parents = folded.split("/")[:-1]
        originals = rel.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            folder = "/".join(parents[:depth])
            mine = "/".join(originals[:depth])
            if folder in self._files:
                return f"{self._files[folder]!r} is a file, not a folder"
            seen = self._folders.get(folder)
            if seen is not None and seen != mine:
                return f"its folder differs from {seen!r} only in case or accents"
        for depth in range(1, len(parents) + 1):
            self._folders.setdefault("/".join(parents[:depth]), "/".join(originals[:depth]))
        self._files[folded] = rel
        return None

    def take_folder(self, rel: str) -> str | None:
        """Take the folder ``rel`` (an empty folder's marker); None, or why not."""
        probe = self.take(rel + "/_")
        if probe is None:
            self._files.pop(_fold(rel + "/_"), None)
        return probe


def conflict_name(rel: str, when: datetime, taken: Iterable[str] = ()) -> str:
    """Where a kernel's version of ``rel`` is kept when S3 changed meanwhile:
    ``data (kernel conflict 2026-07-14 10-31-05).csv`` beside it (UTC), with
    `` 2``, `` 3``... added when that name is taken."""
    folder, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not stem or not dot:  # no extension, or a name like ".env"
        stem, dot, ext = name, "", ""
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H-%M-%S")
    used = set(taken)
    for number in range(1, 1000):
        suffix = f" {number}" if number > 1 else ""
        candidate = f"{stem} (kernel conflict {stamp}{suffix}){dot}{ext}"
        full = f"{folder}/{candidate}" if folder else candidate
        if full not in used:
            return full
    raise ValueError(f"no free conflict name for {rel!r}")
