"""Conditional writes: no save based on a stale version replaces a newer one.

:class:`ConditionalWrites` runs one S3 write (PUT, CompleteMultipartUpload,
CopyObject) with the conditions :class:`~jupyters3.versions.VersionMemo` gives
for its path, and turns the outcomes into what a Jupyter client should see:

* the condition held: the write landed, and its ETag is remembered;
* ``If-Match`` failed (412): someone else saved a newer version:
  :class:`~jupyters3.contents_errors.WriteConflict` (409) with a message
  saying so, and the newer object is left as it is;
* ``If-None-Match`` failed (412): someone else created the path: the same;
* ``If-Match`` on a key that is gone (404): it was deleted elsewhere since it
  was read here; the write is repeated as a creation, so the user's work is
  kept (and a creation by a third writer in between still answers 409);
* the store does not implement conditions (501 NotImplemented, or a 400 that
  names the header): with ``conditional_writes="auto"`` a warning is logged
  once and writes are unconditional from then on; with ``"on"`` the error stands.

Deletes follow the same setting: a delete removes only the version it names
(``If-Match`` on DeleteObject, the ``<ETag>`` of each key in DeleteObjects:
AWS since September 2025, moto 5.2). A store that refuses them is detected the
same way (:meth:`ConditionalWrites.refuses_conditional_deletes`); the store
then checks each version with a HEAD right before deleting it instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jupyters3 import errors
from jupyters3.contents_errors import WriteConflict
from jupyters3.versions import Conditions, VersionMemo

__all__ = ["ConditionalWrites"]

T = TypeVar("T")


def _refuses_conditions(error: errors.S3Error) -> bool:
    """The store rejected the conditional headers themselves."""
    if isinstance(error, errors.NotSupported):
        return True
    text = f"{error.code} {error.message}".lower()
    return isinstance(error, errors.InvalidRequest) and ("if-match" in text or "if-none" in text)


def _refuses_delete_conditions(error: errors.S3Error) -> bool:
    """The store rejected a delete's ETag condition itself."""
    if isinstance(error, errors.NotSupported):
        return True
    text = f"{error.code} {error.message}".lower()
    named = "if-match" in text or "etag" in text or "malformedxml" in text
    return isinstance(error, errors.InvalidRequest) and named


class ConditionalWrites:
    """Conditional S3 writes for one manager (see the module docstring)."""

    def __init__(self, versions: VersionMemo, mode: str, log: logging.Logger) -> None:
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"conditional_writes must be auto, on or off, not {mode!r}")
        self.versions = versions
        self.mode = mode
        self.enabled = mode != "off"
        #: Whether deletes carry the ETag of the version they may remove.
        self.deletes_enabled = mode != "off"
        self.log = log

    def refuses_conditional_deletes(self, error: errors.S3Error) -> bool:
        """Whether ``error``, the answer to a conditional delete, says the store
        does not implement conditional deletes; in ``auto`` mode they are then
        off from now on (with one warning), in ``on`` mode the error stands."""
        if not self.deletes_enabled or not _refuses_delete_conditions(error):
            return False
        if self.mode != "auto":
            return False
        self.deletes_enabled = False
        self.log.warning(
            "The S3 store does not support conditional deletes (%s): a rename checks "
            "each source with a HEAD right before deleting it instead, which narrows "
            "but does not close the window in which another server's save can be lost.",
            error.code,
        )
        return True

    def conditions(self, path: str, *, creating: bool = False) -> Conditions:
        """The conditions for a write of ``path`` (``creating``: If-None-Match)."""
        if not self.enabled:
            return Conditions()
        if creating:
            return Conditions(if_none_match=True)
        return self.versions.conditions(path)

    async def run(
        self,
        path: str,
        write: Callable[[Conditions], Awaitable[T]],
        *,
        creating: bool = False,
        over: str | None = None,
    ) -> T:
        """``await write(conditions)`` for ``path``; raises :class:`WriteConflict`
        when the path holds a version this write was not based on (``over``: that
        ETag, instead of the version remembered for ``path``)."""
        if over is not None and self.enabled:
            conditions = Conditions(if_match=over)
        else:
            conditions = self.conditions(path, creating=creating)
        try:
            return await write(conditions)
        except errors.PreconditionFailed:
            if not conditions.any:
                raise
            self.versions.forget(path)
            raise WriteConflict(path, created=conditions.if_none_match) from None
        except errors.NotFound as error:
            if not conditions.if_match or isinstance(error, errors.NoSuchBucket):
                raise
            self.log.info("%s was deleted elsewhere since it was read here; writing it anew", path)
            return await self.run(path, write, creating=True)
        except (errors.NotSupported, errors.InvalidRequest) as error:
            if not conditions.any or not _refuses_conditions(error) or self.mode != "auto":
                raise
            self.enabled = False
            self.log.warning(
                "The S3 store does not support conditional writes (%s): saves from several "
                "servers sharing this bucket can now overwrite each other. Set "
                "c.JupyterS3.conditional_writes = 'off' to silence this warning.",
                error.code,
            )
            return await write(Conditions())
