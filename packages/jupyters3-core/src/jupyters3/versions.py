"""What this server last saw of each object: the basis of conditional writes.

When several servers share a bucket, a save must not silently replace a
version its user never saw. JupyterS3 remembers, per API path, the ETag it
last served (GET or HEAD) or wrote, or that it found the path absent, and
writes with the matching S3 condition:

* a remembered ETag -> ``If-Match: <etag>``: the write lands only over that
  version; if another writer got there first S3 answers 412 and nothing is
  replaced;
* remembered absent -> ``If-None-Match: *``: the write only creates
  (:data:`ABSENT`: no object at the path; :data:`FREE`: no object and no
  folder either, as a listing of the parent showed);
* nothing remembered (never read here, or forgotten) -> an unconditional write,
  as a blind PUT through the API always was.

With an ETag it also keeps, when given, that version's save time (the time
a model of it shows), so that a folder listing, which only carries S3's
one-second Last-Modified, can show the same time as the file's own model.

The memory is bounded (least recently used paths are forgotten first) and
pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = ["ABSENT", "FREE", "Basis", "Conditions", "VersionMemo"]


class _Absent:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: No object at the path (a HEAD found none); a folder may still be there.
ABSENT: Final = _Absent("ABSENT")
#: Neither an object nor a folder at the path (a listing of its parent).
FREE: Final = _Absent("FREE")

#: What a write is based on: an ETag, :data:`ABSENT`, or ``None`` (unknown).
Basis = str | _Absent | None


@dataclass(frozen=True)
class Conditions:
    """S3 write conditions: ``If-Match`` (an ETag) and/or ``If-None-Match: *``."""

    if_match: str | None = None
    if_none_match: bool = False

    @property
    def any(self) -> bool:
        return bool(self.if_match) or self.if_none_match


class VersionMemo:
    """Per-path ETags (or :data:`ABSENT`), at most ``capacity`` paths."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._seen: OrderedDict[str, str | _Absent] = OrderedDict()
        self._times: dict[str, tuple[str, datetime]] = {}
        self._version_ids: dict[str, tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def _put(self, path: str, value: str | _Absent) -> None:
        self._seen[path] = value
        self._seen.move_to_end(path)
        self._times.pop(path, None)
        self._version_ids.pop(path, None)
        while len(self._seen) > self.capacity:
            oldest, _ = self._seen.popitem(last=False)
            self._times.pop(oldest, None)
            self._version_ids.pop(oldest, None)

    def served(
        self,
        path: str,
        etag: str,
        saved: datetime | None = None,
        version_id: str | None = None,
    ) -> None:
        """This server served or wrote ``path`` at version ``etag`` (whose save
        time, the ``last_modified`` of its model, is ``saved`` when known, and
        whose S3 version id, on a versioned bucket, is ``version_id``)."""
        if etag:
            etag = etag.strip('"')
            self._put(path, etag)
            if saved is not None:
                self._times[path] = (etag, saved)
            if version_id:
                self._version_ids[path] = (etag, version_id)
        else:
            self.forget(path)

    def version_id(self, path: str) -> str | None:
        """The S3 version id of the version of ``path`` this server last saw, if known."""
        known, seen = self._version_ids.get(path), self._seen.get(path)
        return known[1] if known is not None and known[0] == seen else None

    def saved_time(self, path: str, etag: str) -> datetime | None:
        """The save time remembered for version ``etag`` of ``path``, if any."""
        known = self._times.get(path)
        return known[1] if known is not None and known[0] == etag.strip('"') else None

    def absent(self, path: str) -> None:
        """This server saw that no object is at ``path`` (or deleted it); a
        path known :data:`FREE` stays so (it says more)."""
        if self._seen.get(path) is FREE:
            self._seen.move_to_end(path)
            return
        self._put(path, ABSENT)

    def free(self, path: str) -> None:
        """This server saw that neither an object nor a folder is at ``path``."""
        self._put(path, FREE)

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)
        self._times.pop(path, None)
        self._version_ids.pop(path, None)

    def forget_under(self, folder: str) -> None:
        """Forget every path inside ``folder`` (after a folder rename or delete)."""
        head = folder.rstrip("/") + "/"
        for path in [p for p in self._seen if p.startswith(head)]:
            del self._seen[path]
            self._times.pop(path, None)
            self._version_ids.pop(path, None)

    def basis(self, path: str) -> Basis:
        value = self._seen.get(path)
        if value is not None:
            self._seen.move_to_end(path)
        return value

    def conditions(self, path: str) -> Conditions:
        """The S3 conditions for a write of ``path`` based on what was seen."""
        value = self.basis(path)
        if isinstance(value, _Absent):
            return Conditions(if_none_match=True)
        if isinstance(value, str):
            return Conditions(if_match=value)
        return Conditions()
