"""Every kernel working folder of one Jupyter server: where they live, when they
are made, synced and removed, and what a crashed server left.

**Where.** Under ``kernel_working_root`` each server claims a folder of its
own, ``server-<random>`` (a *slot*), locked with ``flock`` while it runs:

    <slot>/lock            held by the live server
    <slot>/tree/           the kernel manager's root_dir: working folders at their API paths
    <slot>/state/*.json    one manifest per working folder
    <slot>/staging/        snapshots of files being uploaded

The kernel manager's ``root_dir`` is set to ``<slot>/tree``, so its
``cwd_for_path`` maps a session's path (``proj/<uuid>`` or
``proj/analysis.ipynb``) to ``<slot>/tree/proj``, the working folder that
:meth:`WorkingFolders.prepare` (called by ``get_kernel_path``, which
jupyter_server awaits before the kernel starts) has just made; and
``JPY_SESSION_NAME`` names the notebook in it.

**When.** Kernels whose folders nest share one working folder (the outer
one). The server looks at its kernels twice a second
(:meth:`WorkingFolders.tick`): a kernel's current folder (its launch ``cwd``), whether it just
went idle (upload now), whether it restarted (refresh now). A working folder
with no kernel left (and no kernel starting for 5 minutes) is synced a last
time and removed; so is each at the server's stop (:meth:`close_at_exit`).

**After a crash.** At start (:meth:`recover`), each slot whose lock is free
belongs to a dead server: its working folders are synced from their
manifests (into the same bucket view only) and removed.
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
from dataclasses import dataclass, field
from typing import Any

from jupyters3 import keys
from jupyters3.changes import Change
from jupyters3.mounts import Stores
from jupyters3.store import S3Store
from jupyters3.workfolders.disk import LocalFolder
from jupyters3.workfolders.folder import WorkingFolder
from jupyters3.workfolders.manifest import Manifest, Origin
from jupyters3.workfolders.plan import Limits, Timing
from jupyters3.workfolders.transfer import Run, direct

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: working folders are off
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCKING", "Target", "WorkingFolders", "claim_slot"]

#: Slots are locked with flock (POSIX); without it working folders are off.
LOCKING = fcntl is not None

#: Seconds between two looks at the kernels.
TICK = 0.5
#: A working folder made for a kernel that has not appeared after this long is let go.
START_GRACE = 300.0
#: Seconds the server's stop waits for the last sync of every working folder.
EXIT_TIMEOUT = 20.0
_SLOT = "server-"


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


@dataclass
class _Slot:
    path: str
    lock: int
    tree: str = field(init=False)
    state: str = field(init=False)
    staging: str = field(init=False)

    def __post_init__(self) -> None:
        self.tree = os.path.join(self.path, "tree")
        self.state = os.path.join(self.path, "state")
        self.staging = os.path.join(self.path, "staging")


def _lock(path: str) -> int | None:
    """An exclusive lock on the file ``path`` (made if missing); None if
    another process holds it."""
    assert fcntl is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim_slot(root: str) -> _Slot:
    """Make and lock a new slot under ``root`` (blocking; OSError if ``root``
    cannot be written)."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    path = os.path.join(root, _SLOT + secrets.token_hex(4))
    os.mkdir(path, 0o700)
    lock = _lock(os.path.join(path, "lock"))
    assert lock is not None
    slot = _Slot(path, lock)
    for sub in (slot.tree, slot.state, slot.staging):
        os.mkdir(sub, 0o700)
    return slot


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
        slot: _Slot,
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

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _listener(self, store: S3Store) -> Callable[[Change], None]:
        def listen(change: Change) -> None:
            for folder in self.folders:
                if folder.store is store:
                    folder.notify(change)

        return listen

    # -- making one ----------------------------------------------------------------

    def _folder(
        self, target: Target, manifest: Manifest, *, base: str, run: Run, state: str, staging: str
    ) -> WorkingFolder:
        skip = target.skip if not manifest.root else frozenset()
        local = LocalFolder(
            base, _parts(manifest.root), read_only=target.store.read_only, skip=skip
        )
        name = f"{secrets.token_hex(8)}.json"
        return WorkingFolder(
            target.store,
            local,
            manifest,
            manifest_path=os.path.join(state, name),
            staging=staging,
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
        made = self._folder(
            target,
            manifest,
            base=self.slot.tree,
            run=self._run,
            state=self.slot.state,
            staging=self.slot.staging,
        )
        self._starts[id(made)] = starts
        self.folders.append(made)
        began = time.monotonic()
        await self._run(made.local.ensure)
        await made.save_now()
        for old in inner:  # after the new manifest: a kill between loses nothing
            with contextlib.suppress(FileNotFoundError):
                await self._run(os.unlink, old.manifest_path)
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

    # -- after a crash ----------------------------------------------------------------

    def _target_of(self, origin: Origin) -> Target | None:
        for target in self.targets.values():
            if target.origin == origin:
                return target
        return None

    async def recover(self) -> None:
        """Sync and remove what dead servers left under the root (their slots' locks are free)."""
        try:
            names = await self._run(os.listdir, self.root)
        except OSError:
            return
        for name in sorted(names):
            path = os.path.join(self.root, name)
            if not name.startswith(_SLOT) or path == self.slot.path:
                continue
            lock = await self._run(_lock, os.path.join(path, "lock"))
            if lock is None:
                continue  # a live server's
            try:
                await self._recover_slot(_Slot(path, lock))
            except Exception:
                self.log.exception("JupyterS3: could not recover the working folders in %s", path)
            finally:
                os.close(lock)

    async def _recover_slot(self, slot: _Slot) -> None:
        kept = 0
        try:
            manifests = sorted(await self._run(os.listdir, slot.state))
        except FileNotFoundError:
            manifests = []
        await self._run(_makedirs, slot.staging)
        for name in manifests:
            file = os.path.join(slot.state, name)
            if not name.endswith(".json"):
                continue
            try:
                manifest = await self._run(Manifest.load, file)
            except (OSError, ValueError) as error:
                self.log.warning("JupyterS3: left alone: %s (%s)", file, error)
                kept += 1
                continue
            target = self._target_of(manifest.origin)
            if target is None:
                self.log.warning(
                    "JupyterS3: a working folder of s3://%s/%s%s left by a stopped server "
                    "is kept at %s: this server does not serve that bucket view",
                    manifest.origin.bucket,
                    manifest.origin.prefix,
                    manifest.root,
                    os.path.join(slot.tree, *_parts(manifest.root)),
                )
                kept += 1
                continue
            folder = self._folder(
                target,
                manifest,
                base=slot.tree,
                run=self._run,
                state=slot.state,
                staging=slot.staging,
            )
            folder.manifest_path = file
            folder.careful = True
            if manifest.removing:
                await self._run(folder.local.remove_all)
                await self._run(os.unlink, file)
                continue
            self.log.info(
                "JupyterS3: syncing the working folder of %s that a stopped server left",
                folder.label,
            )
            if not await folder.finish():
                kept += 1
        if not kept:
            await self._run(_remove_slot, slot)

    # -- the server's stop ----------------------------------------------------------------

    def close_at_exit(self) -> None:
        """The server stops (its event loop has stopped, its kernels are shut
        down): the last sync of every working folder, on a loop of its own in
        this thread, then the slot is removed. Whatever does not finish within
        :data:`EXIT_TIMEOUT` is left for the next start."""
        folders = self.folders + [folder for folder, _ in self._closing.values()]
        self.folders = []
        self._pool.shutdown(wait=False, cancel_futures=True)

        async def main() -> int:
            kept = 0
            for folder in folders:
                aside = folder.store.detached()
                last = WorkingFolder(
                    aside,
                    folder.local,
                    folder.manifest,
                    manifest_path=folder.manifest_path,
                    staging=self.slot.staging,
                    limits=self.limits,
                    run=direct,
                    log=self.log,
                    timing=self.timing,
                    careful=True,
                )
                try:
                    if not await last.finish(attempts=2, pause=0.5):
                        kept += 1
                finally:
                    aside.close()
            return kept

        kept = 1
        if folders:
            self.log.info(
                "JupyterS3: the server stops: the last sync of %d working folder(s)", len(folders)
            )
            try:
                kept = asyncio.run(asyncio.wait_for(main(), EXIT_TIMEOUT))
            except BaseException as error:  # never stop the interpreter's exit
                self.log.warning(
                    "JupyterS3: the last sync of the kernels' working folders did not "
                    "finish (%s); the next start uploads what is left",
                    error or type(error).__name__,
                )
        else:
            kept = 0
        if not kept:
            with contextlib.suppress(OSError):
                _remove_slot(self.slot)
        with contextlib.suppress(OSError):
            os.close(self.slot.lock)


def _makedirs(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)


def _remove_slot(slot: _Slot) -> None:
    """Remove a slot whose working folders are all synced (blocking)."""
    LocalFolder(slot.path, ["tree"]).remove_all()
    for sub in (slot.staging, slot.state):
        if os.path.isdir(sub):
            for name in os.listdir(sub):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(sub, name))
            with contextlib.suppress(OSError):
                os.rmdir(sub)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(slot.path, "lock"))
    with contextlib.suppress(OSError):
        os.rmdir(slot.path)
