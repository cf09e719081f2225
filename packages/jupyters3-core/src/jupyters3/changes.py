"""What this server changed in a bucket: the store's one hook for what follows its writes.

Every write and delete the store makes (:class:`~jupyters3.store.S3Store`,
the contents layer's only door to S3) is announced, once it succeeded, to the
listeners of its :class:`Changes`: a listing cache updates its entries in
place, a kernel's working folder takes the new version. A listener sees keys,
not API paths (``store.keymap.path_of`` maps them back), and must be quick:
it runs in the write's own task; slow work is the listener's to schedule.

A listener that raises is logged and dropped, never the write's failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Change", "Changes", "Listener", "Removed", "Written"]


@dataclass(frozen=True)
class Written:
    """An object is now at ``key``: ``size`` bytes (None: not known here, a
    copy of an object of unknown size), ETag ``etag``, saved at ``saved``
    (what a model of it shows; S3's Last-Modified is within a second)."""

    key: str
    size: int | None
    etag: str
    saved: datetime


@dataclass(frozen=True)
class Removed:
    """The objects at ``keys`` are gone; so is everything under the prefixes
    ``emptied`` (each ends with ``/``): the keys were all of it, as listed."""

    keys: tuple[str, ...]
    emptied: tuple[str, ...] = ()


Change = Written | Removed
Listener = Callable[[Change], None]


class Changes:
    """The listeners of one store, told of each change in the order it happened."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self._listeners: list[Listener] = []
        self._log = log or logging.getLogger("jupyters3")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Tell ``listener`` of every change from now on; returns what unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def written(self, key: str, size: int | None, etag: str, saved: datetime) -> None:
        """An object was written at ``key``."""
        if self._listeners:
            self._emit(Written(key, size, etag.strip('"'), saved))

    def removed(self, keys: Iterable[str], emptied: Iterable[str] = ()) -> None:
        """The objects at ``keys`` were deleted (and with them everything under
        the prefixes ``emptied``)."""
        gone, empty = tuple(keys), tuple(emptied)
        if (gone or empty) and self._listeners:
            self._emit(Removed(gone, empty))

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                self._log.exception("JupyterS3: a change listener failed; it is dropped")
                if listener in self._listeners:
                    self._listeners.remove(listener)
