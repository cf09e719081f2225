"""A per-folder listing cache, shared by every tab and user of one store.

JupyterLab's file browser lists its folder every 10 s while the page is
visible, after every save in it, and once per tab, dialog and user. For a
folder of thousands of entries each listing is many LIST pages. The cache
keeps the walk of such a folder for a while and keeps it exact for this
server's own writes:

* **Single flight.** Concurrent listings of one folder share one walk.
* **Write-through.** The store announces each write and delete it made
  (:mod:`jupyters3.changes`); the cached listings of the folders concerned are
  updated in place, with no LIST. A listing right after a save, an upload, a
  new file, a copy, a rename or a delete made here is exact, and free.
* **Freshness for other writers** (another server, a pipeline, a kernel's own
  boto3): a folder that fits in one LIST page is never kept (it is listed
  afresh every time, as before). A folder of several pages is walked again
  once its walk is older than its bound: ``AGE_PER_WALK_SECOND`` times what
  the walk took, at least ``MIN_AGE`` seconds, at most ``max_age``
  (``c.JupyterS3.listing_max_age``). Another writer's change is therefore
  seen within ``max_age`` plus one poll.
* **Bounded memory.** At most ``max_entries`` entries in all; the folders
  used least recently are dropped first.

Pure state and a clock: the walk itself is the store's (a coroutine it
passes in).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from jupyters3.changes import Change, Removed, Written
from jupyters3.s3.xml import ListedObject

__all__ = ["AGE_PER_WALK_SECOND", "MIN_AGE", "ListingCache", "Walk"]

#: A kept walk lives this many times as long as it took...
AGE_PER_WALK_SECOND = 10.0
#: ...and at least this many seconds.
MIN_AGE = 2.0

#: A walk of one folder: its objects and sub-folder prefixes, and the pages it took.
Walk = tuple[list[ListedObject], list[str], int]


@dataclass
class _Entry:
    """One folder's kept listing."""

    objects: dict[str, ListedObject]
    prefixes: set[str]
    walked: float  # when the walk started (monotonic)
    cost: float  # seconds the walk took

    @property
    def size(self) -> int:
        return len(self.objects) + len(self.prefixes)


@dataclass
class _Flight:
    """A walk in progress, and the changes made while it ran."""

    task: asyncio.Future[Walk]
    pending: list[Change] = field(default_factory=list)


class ListingCache:
    """The kept listings of one store's folders, by folder prefix (see the module docstring)."""

    def __init__(
        self,
        *,
        max_age: float = 30.0,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._log = log or logging.getLogger("jupyters3")
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self.entries = 0  # in all kept listings
        self.walks = 0  # since start: walks made (for tests and the log)

    def bound(self, entry: _Entry) -> float:
        """How long ``entry`` is kept, from the start of its walk."""
        return min(self.max_age, max(MIN_AGE, AGE_PER_WALK_SECOND * entry.cost))

    async def listing(
        self, prefix: str, walk: Callable[[], Awaitable[Walk]]
    ) -> tuple[list[ListedObject], list[str]]:
        """The objects and sub-folder prefixes directly under ``prefix``: kept,
        if fresh; else from ``walk`` (shared by every caller meanwhile)."""
        entry = self._entries.get(prefix)
        if entry is not None and self._clock() - entry.walked < self.bound(entry):
            self._entries.move_to_end(prefix)
            return list(entry.objects.values()), sorted(entry.prefixes)
        flight = self._flights.get(prefix)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(self._walk(prefix, walk)))
            self._flights[prefix] = flight
        objects, prefixes, _ = await asyncio.shield(flight.task)
        return list(objects), list(prefixes)

    async def _walk(self, prefix: str, walk: Callable[[], Awaitable[Walk]]) -> Walk:
        started = self._clock()
        try:
            objects, prefixes, pages = await walk()
        finally:
            flight = self._flights.pop(prefix, None)
        self.walks += 1
        self._drop(prefix)
        if self.max_age > 0 and pages > 1:  # a folder of one page is always listed afresh
            entry = _Entry(
                {o.key: o for o in objects}, set(prefixes), started, self._clock() - started
            )
            self._entries[prefix] = entry
            self.entries += entry.size
            for change in flight.pending if flight is not None else ():
                self._apply_to(prefix, entry, change)  # written while the pages were read
            self._evict()
            self._log.debug(
                "JupyterS3: listing of %r kept (%d entries, %.1f s); %d folders, %d entries kept",
                prefix,
                entry.size,
                self.bound(entry),
                len(self._entries),
                self.entries,
            )
        return objects, prefixes, pages

    def apply(self, change: Change) -> None:
        """A write or delete of this server's: update every kept listing it
        concerns (and those being walked, once their walk ends)."""
        for prefix, flight in self._flights.items():
            if _concerns(prefix, change):
                flight.pending.append(change)
        if isinstance(change, Removed):
            for prefix in [p for p in self._entries if p.startswith(change.emptied)]:
                self._drop(prefix)  # the folder itself is gone
        for prefix in [p for p in self._entries if _concerns(p, change)]:
            self._apply_to(prefix, self._entries[prefix], change)

    def _apply_to(self, prefix: str, entry: _Entry, change: Change) -> None:
        """Update ``entry``, the listing of folder ``prefix``, for ``change``:
        a file in it, a sub-folder's content (its prefix), or, where this
        server cannot know what else a sub-folder holds, a walk next time."""
        before = entry.size
        if isinstance(change, Written):
            rest = change.key[len(prefix) :]
            if "/" in rest:
                entry.prefixes.add(prefix + rest.split("/", 1)[0] + "/")
            elif change.size is None:
                self._drop(prefix)  # a copy of unknown size: walk again next time
                return
            else:
                entry.objects[change.key] = ListedObject(
                    change.key, change.size, change.etag, change.saved
                )
        else:
            for key in change.keys:
                rest = key[len(prefix) :]
                name, slash, below = rest.partition("/")
                if not slash:
                    entry.objects.pop(key, None)
                    continue
                child = prefix + name + "/"
                if child.startswith(change.emptied):
                    entry.prefixes.discard(child)  # everything under it went
                elif prefix + name in entry.objects and below.startswith(".checkpoints/"):
                    pass  # a checkpoint of a file still here: the listing shows the file
                elif child in entry.prefixes:
                    self._drop(prefix)  # what else it holds is not known here
                    return
        self.entries += entry.size - before

    def _drop(self, prefix: str) -> None:
        entry = self._entries.pop(prefix, None)
        if entry is not None:
            self.entries -= entry.size

    def _evict(self) -> None:
        while self.entries > self.max_entries and self._entries:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        """Forget every kept listing."""
        self._entries.clear()
        self.entries = 0


def _concerns(prefix: str, change: Change) -> bool:
    """Whether ``change`` touches the listing of folder ``prefix`` (a key under it)."""
    if isinstance(change, Written):
        return change.key.startswith(prefix) and change.key != prefix
    return any(key.startswith(prefix) and key != prefix for key in change.keys)
