"""What one working folder knows, whichever way it syncs: its store, its local
folder, its manifest and limits; names (a key's path in the folder, a path's
API path); what the store announced and is still to apply; what was left out;
the manifest's and the note's writing; and how one S3 call of a pass fails
without stopping it. :class:`~jupyters3.workfolders.folder.WorkingFolder` does
the syncing on top of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from jupyters3 import errors, keys
from jupyters3.changes import Change, Removed, Written
from jupyters3.contents_errors import ContentsError, InvalidPath
from jupyters3.store import S3Store
from jupyters3.workfolders import notes
from jupyters3.workfolders.disk import Changed, LocalFolder
from jupyters3.workfolders.manifest import Manifest
from jupyters3.workfolders.names import NOTE, LeftOut
from jupyters3.workfolders.plan import Limits, Timing
from jupyters3.workfolders.transfer import Run

__all__ = ["DOWNLOADS", "FAILURES", "SAVE_EVERY", "FolderState"]

#: Most transfers of one folder in flight (the store's max_concurrency may be
#: lower): 16 keep a 20 ms store busy without bursts of answers on the event loop.
DOWNLOADS = 16
#: What one S3 call of a pass may fail with: logged, counted, tried again later.
FAILURES = (errors.S3Error, ContentsError, OSError, Changed)
#: Seconds between two writes of the manifest during one long pass.
SAVE_EVERY = 5.0


class FolderState:
    """The state of the working folder of API folder ``root`` in ``store``.

    ``run`` runs the blocking disk calls; ``staging`` is a folder outside the
    working folder for snapshots; ``manifest_path`` where the manifest lives;
    ``owned``: the API paths of the notebooks sessions have open."""

    def __init__(
        self,
        store: S3Store,
        local: LocalFolder,
        manifest: Manifest,
        *,
        manifest_path: str,
        staging: str,
        limits: Limits,
        run: Run,
        log: logging.Logger,
        timing: Timing | None = None,
        owned: Callable[[], set[str]] = set,
        careful: bool = False,
    ) -> None:
        self.store = store
        self.local = local
        self.manifest = manifest
        self.root = manifest.root
        self.manifest_path = manifest_path
        self.staging = staging
        self.limits = limits
        self.run = run
        self.log = log
        self.timing = timing or Timing()
        self._owned = owned
        #: Syncing what a stopped server left: a file the manifest does not know
        #: may have been copied in just before it stopped, so S3 is asked first.
        self.careful = careful
        self.prefix = store.keymap.dir_prefix(self.root)
        self.left_out: list[LeftOut] = []
        self.not_uploaded: dict[str, LeftOut] = {}
        self.checkpoints = 0
        self.failures = 0
        self._remote: dict[str, tuple[str, int | None, datetime] | None] = {}
        self._emptied: set[str] = set()
        self._wake = asyncio.Event()
        self._scan_soon = False
        self._refresh_soon = False
        self._stopping = False
        self._dirty = False
        #: One pass at a time (the worker's, a kernel start's refresh, the last sync).
        self.passes = asyncio.Lock()
        self._saving = asyncio.Lock()
        self._saved_at = time.monotonic()

    # -- names -----------------------------------------------------------------

    def rel_of(self, key: str) -> str | None:
        """The path of ``key`` relative to the folder (None: the folder's own marker)."""
        path = self.store.keymap.path_of(key)
        if path == self.root:
            return None
        head = f"{self.root}/" if self.root else ""
        if not path.startswith(head):
            raise InvalidPath(f"{key!r} is not in {self.root!r}")
        return path[len(head) :]

    def owned(self) -> set[str]:
        """The notebooks of this folder that sessions have (or had) open."""
        return self._owned() | self.manifest.notebooks

    def api(self, rel: str) -> str:
        return keys.join(self.root, rel) if self.root else rel

    @property
    def label(self) -> str:
        return self.root or "the top folder"

    # -- the store's changes -----------------------------------------------------

    def notify(self, change: Change) -> None:
        """A listener of the store's changes: this server wrote or deleted
        objects; those in this folder are applied by the worker."""
        prefix = self.prefix
        if isinstance(change, Written):
            if change.key.startswith(prefix):
                self._remote[change.key] = (change.etag, change.size, change.saved)
                self._wake.set()
        elif isinstance(change, Removed):
            for key in change.keys:
                if key.startswith(prefix):
                    self._remote[key] = None
            for emptied in change.emptied:
                if emptied.startswith(prefix) or prefix.startswith(emptied):
                    self._emptied.add(emptied)
            self._wake.set()

    def scan_soon(self) -> None:
        """A kernel went idle: scan and upload now."""
        self._scan_soon = True
        self._wake.set()

    def refresh_soon(self) -> None:
        """A kernel (re)started: list S3 again now."""
        self._refresh_soon = True
        self._wake.set()

    def _never(self, item: LeftOut) -> None:
        """Something of the folder that is never uploaded: named once in the log."""
        if self.not_uploaded.get(item.name) != item:
            self.not_uploaded[item.name] = item
            self.log.info("JupyterS3: not uploaded from %s: %s", self.local.path, item.line())

    async def _call(self, work: Awaitable[object]) -> bool:
        """Await one S3 call of a pass; whether it succeeded (a failure is
        logged and counted, not raised: a later pass tries again)."""
        try:
            await work
        except FAILURES as error:
            self.failures += 1
            self.log.warning("JupyterS3: working folder of %s: %s", self.label, error)
            return False
        return True

    async def _gather(self, works: Iterable[Awaitable[object]], at_once: int = DOWNLOADS) -> None:
        limit = asyncio.Semaphore(min(at_once, self.store.limits.max_concurrency))

        async def one(work: Awaitable[object]) -> None:
            async with limit:
                await self._call(work)

        await asyncio.gather(*(one(w) for w in works))

    # -- the folder's records ------------------------------------------------------

    def touch(self) -> None:
        """The manifest changed (written at the end of the next pass)."""
        self._dirty = True

    async def save_now(self) -> None:
        """Write the manifest now."""
        self._dirty = True
        await self.save()

    async def save(self) -> None:
        """Write the manifest if it changed (one write at a time)."""
        async with self._saving:
            if self._dirty:
                self._dirty = False
                self._saved_at = time.monotonic()
                await self.run(self.manifest.copy().save, self.manifest_path)

    async def write_note(self) -> None:
        """(Re)write the note the kernel can read in the folder."""
        text = notes.note(
            self.store.url(self.root),
            read_only=self.store.read_only,
            limits=self.limits,
            timing=self.timing,
            left_out=self.left_out,
            not_uploaded=list(self.not_uploaded.values()),
            checkpoints=self.checkpoints,
        )
        with contextlib.suppress(OSError):
            await self.run(self.local.write_text, NOTE, text)
