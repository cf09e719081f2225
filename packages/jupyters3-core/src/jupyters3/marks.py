"""What JupyterS3 writes on objects and reads back, and the folder rule. Pure.

* ``x-amz-meta-jupyters3-mtime``: a save's time to the microsecond (S3's
  Last-Modified has one-second steps): :func:`now_stamp` writes it,
  :func:`saved_time` reads it back.
* ``x-amz-meta-jupyters3-renamed-from``: on what a rename copies, the source,
  until the rename completes (see :mod:`jupyters3.transfers`).
* :func:`is_folder`: a folder exists when anything is under ``<key>/`` but the
  checkpoints of a file of the same name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timezone

from jupyters3 import keys
from jupyters3.s3.client import ObjectMeta

__all__ = ["MTIME_META", "RENAMED_FROM_META", "is_folder", "now_stamp", "saved_time"]

#: User metadata holding the high-resolution save time (S3's Last-Modified has 1 s).
MTIME_META = "jupyters3-mtime"
#: Metadata naming the source on what a rename copies, until it completes.
RENAMED_FROM_META = "jupyters3-renamed-from"


def is_folder(prefix: str, objects: Sequence[object], common_prefixes: Sequence[str]) -> bool:
    """Whether a delimited listing of ``prefix`` shows a folder: anything under
    it but the checkpoints of a file of the same name (``<file>/.checkpoints/``)."""
    holder = prefix + keys.CHECKPOINTS + "/"
    return bool(objects) or any(p != holder for p in common_prefixes)


def saved_time(meta: ObjectMeta) -> datetime:
    """An object's save time: our high-resolution metadata if present, else Last-Modified."""
    stamp = meta.metadata.get(MTIME_META)
    if stamp:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(stamp)
            if parsed.tzinfo is not None:
                return parsed.astimezone(timezone.utc)
    return meta.last_modified


def now_stamp() -> tuple[datetime, dict[str, str]]:
    """The time of a write now, and the metadata that records it."""
    now = datetime.now(timezone.utc)
    return now, {MTIME_META: now.isoformat()}
