"""Every kernel working folder of one Jupyter server: when they are made,
shared, synced and let go.

**Where.** In the server's slot (:mod:`jupyters3.workfolders.slots`): the
kernel manager's ``root_dir`` is set to the slot's ``tree``, so its
``cwd_for_path`` maps a session's path (``proj/<uuid>`` or
``proj/analysis.ipynb``) to ``<tree>/proj``, the working folder that
:meth:`WorkingFolders.prepare` (called by ``get_kernel_path``, which
jupyter_server awaits before the kernel starts) has just made; and
``JPY_SESSION_NAME`` names the notebook in it.

**When.** Kernels whose folders nest share one working folder (the outer
one). The server looks at its kernels twice a second
(:meth:`WorkingFolders.tick`): a kernel's current folder (its launch
``cwd``), whether it just went idle (upload now), whether it restarted
(refresh now). A working folder with no kernel left (and no kernel starting
for 5 minutes) is synced a last time and removed. The server's stop and the
next start after a crash: :mod:`jupyters3.workfolders.recovery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jupyters3 import keys
from jupyters3.changes import Change
from jupyters3.mounts import Stores
from jupyters3.store import S3Store
from jupyters3.workfolders.disk import LocalFolder
from jupyters3.workfolders.folder import WorkingFolder
from jupyters3.workfolders.manifest import Manifest, Origin
from jupyters3.workfolders.plan import Limits, Timing
from jupyters3.workfolders.slots import Slot
from jupyters3.workfolders.transfer import Run

__all__ = ["Target", "WorkingFolders"]

#: Seconds between two looks at the kernels.
TICK = 0.5
#: A working folder made for a kernel that has not appeared after this long is let go.
START_GRACE = 300.0


@dataclass(frozen=True)
class Target:
    """A store and its identity (:class:`Origin`); ``skip``: the top-level
    names its root's working folder leaves to others (the mounts)."""

    store: S3Store
    origin: Origin
    skip: frozenset[str] = frozenset()


@dataclass
class _Seen:
    """What the last look saw of one kernel."""

    folder: WorkingFolder | None
    pid: object
    state: object
    activity: object


def _parts(path: str) -> list[str]:
    return path.split("/") if path else []


def _under(inner: str, outer: str) -> bool:
    """Whether API folder ``inner`` is ``outer`` or inside it."""
    return not outer or inner == outer or inner.startswith(outer + "/")


class WorkingFolders:
    """The working folders of one server (see the module docstring).

    ``targets``: one per store; ``kernel_manager``: jupyter_server's (its
    kernels are looked at, never changed); ``sessions``: the session
    manager, or a callable returning it (for the notebooks sessions have open)."""

    def __init__(
        self,
        slot: Slot,
        root: str,
        stores: Stores,
        targets: Sequence[Target],
        *,
        limits: Limits,
        timing: Timing,
        log: logging.Logger,
        kernel_manager: Any,
        sessions: Callable[[], Any],
    ) -> None:
        self.slot = slot
        self.root = root
        self.stores = stores
        self.targets = {id(t.store): t for t in targets}
        self.limits = limits
        self.timing = timing
        self.log = log
        self.kernel_manager = kernel_manager
        self.sessions = sessions
        self.folders: list[WorkingFolder] = []
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._closing: dict[int, tuple[WorkingFolder, asyncio.Task[bool]]] = {}
        self._starts: dict[int, list[float]] = {}
        self._kernels: dict[str, _Seen] = {}
        self._owned: set[str] = set()
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._ticks = 0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jupyters3-disk")
        for target in targets:
            target.store.changes.subscribe(self._listener(target.store))

    @property
    def tree(self) -> str:
        """The kernel manager's root_dir: every working folder is under it."""
        return self.slot.tree

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking disk call in the working folders' own threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _listener(self, store: S3Store) -> Callable[[Change], None]:
        def listen(change: Change) -> None:
            for folder in self.folders:
                if folder.store is store:
                    folder.notify(change)

        return listen

    # -- making one ----------------------------------------------------------------

    def folder_for(
        self, target: Target, manifest: Manifest, *, base: str, run: Run, slot: Slot
    ) -> WorkingFolder:
        """A working folder object for ``manifest`` under ``base``, its manifest
        and snapshots in ``slot``."""
        skip = target.skip if not manifest.root else frozenset()
        local = LocalFolder(
            base, _parts(manifest.root), read_only=target.store.read_only, skip=skip
        )
        return WorkingFolder(
            target.store,
            local,
            manifest,
            manifest_path=os.path.join(slot.state, f"{secrets.token_hex(8)}.json"),
            staging=slot.staging,
            limits=self.limits,
            run=run,
            log=self.log,
            timing=self.timing,
            owned=lambda: self._owned,
        )

    async def prepare(self, folder: str) -> None:
        """Make sure the working folder of API folder ``folder`` holds its S3
        folder before a kernel starts there (a kernel start in a folder that
        one covers already refreshes it). Never raises: a kernel starts with
        what could be put there (the log says what went wrong)."""
        store = self.stores.at(folder)
        target = self.targets.get(id(store)) if store is not None else None
        if target is None:
            return
        async with self._lock:
            await self._closed(target.store, folder)
            covering = self._covering(target.store, folder)
            try:
                if covering is None:
                    await self._make(target, folder)
                else:
                    # Counted before any wait, so that no look at the kernels lets it go.
                    self._starts.setdefault(id(covering), []).append(time.monotonic())
                    await covering.refresh_now()
            except Exception as error:  # the kernel starts anyway, with what is there
                self.log.warning(
                    "JupyterS3: the working folder of %s could not be brought up to date: %s",
                    folder or "the top folder",
                    error,
                )
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick_loop())

    async def _closed(self, store: S3Store, folder: str) -> None:
        """Wait for the last sync of every working folder that overlaps
        ``folder`` (a new one must not be made while an old one is removed)."""
        for _ in range(100):
            overlapping = [
                task
                for closing, task in self._closing.values()
                if closing.store is store
                and (_under(folder, closing.root) or _under(closing.root, folder))
            ]
            if not overlapping:
                return
            await asyncio.gather(*(asyncio.shield(t) for t in overlapping), return_exceptions=True)

    def _covering(self, store: S3Store, folder: str) -> WorkingFolder | None:
        for candidate in self.folders:
            if candidate.store is store and _under(folder, candidate.root):
                return candidate
        return None

    async def _make(self, target: Target, folder: str) -> WorkingFolder:
        """A new working folder for ``folder``, taking over the ones inside it
        (their files and kernels). The kernel start is counted before the
        folder is shown to the looks at the kernels, so it is not let go."""
        inner = [f for f in self.folders if f.store is target.store and _under(f.root, folder)]
        starts = [time.monotonic()]
        for old in inner:
            self.folders.remove(old)
            starts += self._starts.pop(id(old), [])
        manifest = Manifest(root=folder, origin=target.origin)
        for old in inner:
            await self._stop_worker(old)
            head = old.root[len(folder) :].lstrip("/")
            for rel, entry in old.manifest.files.items():
                manifest.files[f"{head}/{rel}" if head else rel] = entry
            for rel, etag in old.manifest.folders.items():
                manifest.folders[f"{head}/{rel}" if head else rel] = etag
            manifest.notebooks |= old.manifest.notebooks
        made = self.folder_for(
            target, manifest, base=self.slot.tree, run=self.run_blocking, slot=self.slot
        )
        self._starts[id(made)] = starts
        self.folders.append(made)
        began = time.monotonic()
        await self.run_blocking(made.local.ensure)
        await made.save_now()
        for old in inner:  # after the new manifest: a kill between loses nothing
            with contextlib.suppress(FileNotFoundError):
                await self.run_blocking(os.unlink, old.manifest_path)
        try:
            await made.refresh_now()
        except Exception as error:  # S3 down: the kernel still starts, with what is there
            self.log.warning(
                "JupyterS3: the working folder of %s could not be filled: %s",
                made.label,
                error,
            )
            with contextlib.suppress(OSError):
                await made.write_note()
        self._workers[id(made)] = asyncio.ensure_future(made.run_worker())
        files = len(made.manifest.files)
        size = sum(e.sig.size for e in made.manifest.files.values())
        self.log.info(
            "JupyterS3: working folder of %s at %s: %d file(s), %.1f MB, in %.2f s",
            made.label,
            made.local.path,
            files,
            size / 1e6,
            time.monotonic() - began,
        )
        return made

    async def _stop_worker(self, folder: WorkingFolder) -> None:
        folder.stop()
        task = self._workers.pop(id(folder), None)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the kernels ----------------------------------------------------------------

    async def _tick_loop(self) -> None:
        try:
            while self.folders or self._closing:
                await asyncio.sleep(TICK)
                try:
                    await self.tick()
                except Exception:
                    self.log.exception("JupyterS3: looking at the kernels failed")
        finally:
            self._ticker = None

    def _folder_at(self, cwd: object) -> WorkingFolder | None:
        """The working folder a kernel started in ``cwd`` is in."""
        if not isinstance(cwd, (str, os.PathLike)):
            return None
        path = os.path.normpath(os.fspath(cwd))
        best: WorkingFolder | None = None
        for folder in self.folders:
            top = os.path.normpath(folder.local.path)
            if path != top and not path.startswith(top.rstrip(os.sep) + os.sep):
                continue
            first = os.path.relpath(path, top).split(os.sep)[0]
            if first in folder.local.skip:
                continue
            if best is None or len(top) > len(best.local.path):
                best = folder
        return best

    async def tick(self) -> None:
        """One look at the kernels: which folder each is in, which went idle or
        restarted; then the folders no kernel uses are let go."""
        self._ticks += 1
        manager = self.kernel_manager
        ids = set(manager.list_kernel_ids())
        for kernel_id in ids:
            try:
                kernel = manager.get_kernel(kernel_id)
            except KeyError:
                continue
            provisioner = getattr(kernel, "provisioner", None)
            cwd = getattr(provisioner, "cwd", None)
            if cwd is None:
                cwd = (getattr(kernel, "_launch_args", None) or {}).get("cwd")
            pid = getattr(provisioner, "pid", None)
            state = getattr(kernel, "execution_state", None)
            activity = getattr(kernel, "last_activity", None)
            seen = self._kernels.get(kernel_id)
            folder = self._folder_at(cwd)
            if seen is None:
                if folder is not None and self._starts.get(id(folder)):
                    self._starts[id(folder)].pop(0)
            elif folder is not None:
                if pid is not None and seen.pid is not None and pid != seen.pid:
                    self.log.debug(
                        "JupyterS3: kernel %s restarted: refreshing the working folder of %s",
                        kernel_id,
                        folder.label,
                    )
                    folder.refresh_soon()  # restarted: outside changes come in
                if state == "idle" and (seen.state != "idle" or seen.activity != activity):
                    folder.scan_soon()  # a cell ended: its writes go up now
            self._kernels[kernel_id] = _Seen(folder, pid, state, activity)
        for kernel_id in set(self._kernels) - ids:
            del self._kernels[kernel_id]
        if self._ticks % 4 == 1:
            await self._note_open_notebooks()
        now = time.monotonic()
        for folder in list(self.folders):
            starts = [t for t in self._starts.get(id(folder), []) if now - t < START_GRACE]
            self._starts[id(folder)] = starts
            used = any(seen.folder is folder for seen in self._kernels.values())
            if not used and not starts:
                self._let_go(folder)

    async def _note_open_notebooks(self) -> None:
        """The notebooks sessions have open are the contents API's: remembered
        per folder (in its manifest too), never uploaded from it."""
        manager = self.sessions()
        if manager is None:
            return
        try:
            sessions = await manager.list_sessions()
        except Exception as error:  # the server stops: its sessions' database is closed
            self.log.debug("JupyterS3: could not list the sessions: %s", error)
            return
        self._owned = {s["path"] for s in sessions if s.get("type") == "notebook" and s.get("path")}
        for folder in self.folders:
            mine = {p for p in self._owned if _under(keys.split(p)[0], folder.root)}
            if not mine <= folder.manifest.notebooks:
                folder.manifest.notebooks |= mine
                folder.touch()

    def _let_go(self, folder: WorkingFolder) -> None:
        """No kernel uses ``folder`` any more: its last sync, then it goes."""
        self.folders.remove(folder)
        self._starts.pop(id(folder), None)

        async def finish() -> bool:
            try:
                await self._stop_worker(folder)
                return await folder.finish()
            finally:
                self._closing.pop(id(folder), None)

        self._closing[id(folder)] = (folder, asyncio.ensure_future(finish()))

    def let_go_all(self) -> list[WorkingFolder]:
        """The server stops: every working folder (those in their last sync
        too), handed over for :func:`~jupyters3.workfolders.recovery.close_at_exit`."""
        folders = self.folders + [folder for folder, _ in self._closing.values()]
        self.folders = []
        self._pool.shutdown(wait=False, cancel_futures=True)
        return folders
