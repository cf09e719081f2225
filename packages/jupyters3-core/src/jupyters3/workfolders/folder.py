"""One kernel working folder: the local copy of an S3 folder, kept in sync both ways.

:class:`WorkingFolder` mirrors the objects under one API folder (``root``) of
one store into a :class:`~jupyters3.workfolders.disk.LocalFolder`, and then:

* **S3 to the folder.** :meth:`reconcile` lists the folder (one LIST per
  1,000 objects, all depths) and GETs only what is new or whose ETag changed
  (at start, on a kernel's restart, every ``refresh_interval``). Every write
  and delete this server's contents API makes in the folder arrives through
  the store's changes (:meth:`notify`) and is applied at once.
* **The folder to S3.** :meth:`sync_up` scans the folder and uploads what the
  kernel created or changed, and deletes what it deleted, under the store's
  write policy: a new file with ``If-None-Match: *``, a changed file with
  ``If-Match`` on the version the folder holds (the manifest's ETag), a
  delete only while S3 still holds that version.
* **Conflicts.** When S3 changed too, S3's version stays under its name and
  the kernel's goes beside it under :func:`~jupyters3.workfolders.names.conflict_name`,
  in S3 and in the folder, and the log says so. A notebook a session has open
  is the contents API's: a kernel's change to it is kept the same way, never
  written over it.
* **Limits.** What is left out is named in the log and in the folder's note.

All passes of one folder run one at a time (:meth:`run_worker` is its worker); the
manifest on disk is rewritten after each pass that changed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import mimetypes
import os
import secrets
import time
from datetime import datetime, timezone

from jupyters3 import errors
from jupyters3.contents_errors import InvalidPath, WriteConflict
from jupyters3.workfolders import notes
from jupyters3.workfolders.disk import Changed, InTheWay
from jupyters3.workfolders.manifest import Entry, Sig
from jupyters3.workfolders.names import NOTE, LeftOut, conflict_name, matched_pattern, unsafe
from jupyters3.workfolders.plan import Remote, local_changes, select
from jupyters3.workfolders.state import FAILURES, SAVE_EVERY, FolderState
from jupyters3.workfolders.transfer import download, upload_body

__all__ = ["WorkingFolder"]

_UPLOADS = 4


class WorkingFolder(FolderState):
    """The working folder of API folder ``root`` in ``store`` (see the module
    docstring; its state and construction: :class:`~jupyters3.workfolders.state.FolderState`)."""

    # -- the worker --------------------------------------------------------------

    async def run_worker(self) -> None:
        """Apply changes, scan and refresh, until :meth:`stop`."""
        now = time.monotonic()
        next_scan = now + self.timing.upload_interval
        next_refresh = now + self.timing.refresh_interval
        while True:
            timeout = max(0.0, min(next_scan, next_refresh) - time.monotonic())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._stopping:
                break
            try:
                async with self.passes:
                    if self._remote or self._emptied:
                        await self.apply_remote()
                    now = time.monotonic()
                    if self._scan_soon or now >= next_scan:
                        self._scan_soon = False
                        await self.sync_up()
                        next_scan = time.monotonic() + self.timing.upload_interval
                    if self._refresh_soon or now >= next_refresh:
                        self._refresh_soon = False
                        await self.reconcile()
                        next_refresh = time.monotonic() + self.timing.refresh_interval
                    await self.save()
            except asyncio.CancelledError:
                raise
            except FAILURES as error:
                self.log.warning("JupyterS3: the working folder of %s: %s", self.label, error)
            except Exception:
                self.log.exception("JupyterS3: the working folder of %s could not sync", self.label)

    async def refresh_now(self) -> None:
        """Bring the folder up to date with S3 now (a kernel starts in it)."""
        async with self.passes:
            await self.apply_remote()
            await self.reconcile()
            await self.save()

    async def finish(self, attempts: int = 3, pause: float = 2.0) -> bool:
        """The last sync, then the folder and its manifest removed; whether it
        was removed. When S3 keeps failing, the folder and its manifest stay
        (the next start of the server syncs them)."""
        for attempt in range(attempts):
            async with self.passes:
                if self._remote or self._emptied:
                    await self.apply_remote()
                left = await self.sync_up()
                await self.save()
            if not left:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(pause * 2**attempt)
        else:
            self.log.warning(
                "JupyterS3: the working folder of %s could not be synced (%d change(s) left); "
                "it is kept at %s, and the next start of the server uploads what is left",
                self.store.url(self.root),
                left,
                self.local.path,
            )
            return False
        self.manifest.removing = True
        self._dirty = True
        await self.save()
        await self.run(self.local.remove_all)
        with contextlib.suppress(FileNotFoundError):
            await self.run(os.unlink, self.manifest_path)
        self.log.info("JupyterS3: the working folder of %s is synced and removed", self.label)
        return True

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # -- S3 to the folder ------------------------------------------------------

    async def reconcile(self) -> None:
        """List the folder in S3 and bring the working folder up to date:
        a GET for each object new or changed, deleted files removed (unless
        the kernel changed them), the note rewritten."""
        limit = self.limits.max_files * 2 + 1000
        objects, complete = await self.store.walk(self.root, limit=limit)
        skip = frozenset(self.store_skip())
        chosen = await self.run(
            functools.partial(select, complete=complete, skip=skip),
            objects,
            self.rel_of,
            self.limits,
        )
        # What the folder holds already (written here, or by the kernel) is not left out.
        left_out = [item for item in chosen.left_out if item.name not in self.manifest.files]
        known = {item.name for item in self.left_out}
        fresh = [item for item in left_out if item.name not in known]
        self.left_out, self.checkpoints = left_out, chosen.checkpoints
        if fresh:
            self.log.warning(
                "JupyterS3: %d name(s) of %s left out of its kernels' working folder "
                "(all of them are listed in %s):\n%s",
                len(fresh),
                self.store.url(self.root),
                os.path.join(self.local.path, NOTE),
                "\n".join(notes.listed(fresh, 50)),
            )
        wanted = [
            remote
            for rel, remote in chosen.files.items()
            if (entry := self.manifest.files.get(rel)) is None or entry.etag != remote.etag
        ]
        # Missing here although listed and unchanged: deleted by the kernel (uploaded
        # as a delete by sync_up), so nothing to fetch.
        await self._gather(self.fetch(remote) for remote in wanted)
        for rel in chosen.folders:
            if rel not in self.manifest.folders:
                await self.run(self.local.make_folder, rel)
                self.manifest.folders[rel] = chosen.folders[rel]
                self._dirty = True
        if complete:
            listed = {o.key for o in objects}
            gone = [r for r, e in self.manifest.files.items() if e.key not in listed]
            for rel in gone:
                await self.forget_remote(rel)
        await self.write_note()

    def store_skip(self) -> set[str]:
        """Top-level names that are not this folder's (set by the service for
        the main bucket's root: the mounts)."""
        return set(self.local.skip)

    async def fetch(self, remote: Remote) -> bool:
        """Put ``remote`` in the folder; a kernel's change there is kept
        beside it first (a conflict). Whether it is there now."""
        entry = self.manifest.files.get(remote.rel)
        try:
            current = await self.run(self.local.stat, remote.rel)
        except InTheWay:
            self.not_uploaded[remote.rel] = LeftOut(remote.rel, "a link or folder is in the way")
            return False
        expected = entry.sig if entry is not None else None
        if current != expected:
            if entry is not None and entry.etag == remote.etag:
                return True  # the kernel's change or delete: sync_up uploads it
            if current is not None:
                if not await self.keep_kernel_version(remote.rel, current):
                    return False
            elif entry is not None:
                self.log.warning(
                    "JupyterS3: %s was deleted in a kernel's working folder but changed in "
                    "S3 meanwhile: the newer version is kept, and back in the folder",
                    self.api(remote.rel),
                )
            expected = None
        try:
            entry = await download(
                self.store, self.local, self.run, self.api(remote.rel), remote, expected
            )
        except Changed:
            return False  # the kernel wrote it meanwhile: the next scan sees it
        except errors.PreconditionFailed:
            self._refresh_soon = True  # changed again since listed
            return False
        except errors.NotFound:
            return False
        self.manifest.files[remote.rel] = entry
        self._dirty = True
        if time.monotonic() - self._saved_at > SAVE_EVERY:
            await self.save()  # a long copy: a kill midway loses little of the record
        return True

    async def forget_remote(self, rel: str) -> None:
        """The object of ``rel`` is gone from S3: remove the local file unless
        the kernel changed it (then it is uploaded again, as a new file)."""
        entry = self.manifest.files.pop(rel, None)
        if entry is None:
            return
        self._dirty = True
        if self.api(rel) in self.owned():
            return
        with contextlib.suppress(OSError):
            if await self.run(self.local.remove, rel, entry.sig):
                await self.run(self.local.prune, rel.rpartition("/")[0])

    async def apply_remote(self) -> None:
        """Apply what this server wrote and deleted in the folder since last time."""
        batch, self._remote = self._remote, {}
        emptied, self._emptied = self._emptied, set()
        for prefix in emptied:
            for held in list(self.manifest.files.values()):
                if held.key.startswith(prefix) and held.key not in batch:
                    batch[held.key] = None
        fetches = []
        for key, written in batch.items():
            try:
                rel = self.rel_of(key)
            except InvalidPath:
                continue
            if rel is None:
                continue
            if key.endswith("/"):
                await self._apply_marker(rel, written is not None)
                continue
            if written is None:
                await self.forget_remote(rel)
                continue
            etag, size, saved = written
            entry = self.manifest.files.get(rel)
            if entry is not None and entry.etag == etag:
                continue  # this folder's own upload
            reason = self._refused(rel, size)
            if reason is not None:
                if all(item.name != rel for item in self.left_out):
                    self.left_out.append(LeftOut(rel, reason))
                continue
            stamp = int(saved.timestamp() * 1_000_000) * 1000
            fetches.append(Remote(rel, key, size or 0, etag, stamp))
        await self._gather(self.fetch(remote) for remote in fetches)
        for prefix in emptied:
            with contextlib.suppress(InvalidPath):
                rel = self.rel_of(prefix)
                if rel:
                    self.manifest.folders.pop(rel, None)
                    await self.run(self.local.prune, rel)

    def _refused(self, rel: str, size: int | None) -> str | None:
        if rel.split("/", 1)[0] in self.local.skip:
            return "not in this folder"
        problem = unsafe(rel)
        if problem is not None:
            return f"not a safe local name: {problem}"
        pattern = matched_pattern(rel, self.limits.left_out)
        if pattern is not None:
            return f"matches the left-out name {pattern!r}"
        if size is not None and size > self.limits.max_file_bytes:
            return f"{size:,} bytes, over kernel_max_file_bytes"
        return None

    async def _apply_marker(self, rel: str, written: bool) -> None:
        if written:
            if unsafe(rel) is None and matched_pattern(rel, self.limits.left_out) is None:
                with contextlib.suppress(OSError):
                    await self.run(self.local.make_folder, rel)
                self.manifest.folders[rel] = ""
        elif self.manifest.folders.pop(rel, None) is not None:
            await self.run(self.local.prune, rel)
        self._dirty = True

    # -- the folder to S3 ------------------------------------------------------

    async def sync_up(self) -> int:
        """Upload what the kernel created and changed, delete what it deleted;
        the number of changes left for a later pass (S3 failed, the file was
        being written)."""
        self.failures = 0
        if not await self.run(self.local.exists):
            self.log.warning(
                "JupyterS3: the working folder of %s is gone; nothing is deleted in S3 for it",
                self.label,
            )
            return 0
        scan = await self.run(self.local.scan, self.limits.left_out, self.limits.max_files * 2)
        changes = await self.run(
            local_changes,
            scan,
            dict(self.manifest.files),
            dict(self.manifest.folders),
            self.limits,
        )
        for item in changes.never:
            self._never(item)
        if self.store.read_only:
            for rel in changes.created + changes.changed + changes.deleted:
                self._never(LeftOut(rel, "a read-only mount: changes stay local"))
            return 0
        owned = self.owned()
        uploads = [rel for rel in changes.created + changes.changed if self.api(rel) not in owned]
        for rel in changes.changed:
            if self.api(rel) in owned and await self.keep_kernel_version(rel, scan.files[rel]):
                await self.restore(rel)
        await self._gather((self.upload(rel) for rel in uploads), _UPLOADS)
        await self._delete([rel for rel in changes.deleted if self.api(rel) not in owned])
        for rel in changes.deleted:
            if self.api(rel) in owned:  # the contents API's: put it back
                await self.restore(rel)
        for rel in changes.new_folders:
            if await self._call(self.store.mkdir(self.api(rel))):
                self.manifest.folders[rel] = ""
        gone: dict[str, str | None] = {}
        for rel in changes.gone_folders:
            marker = self.store.keymap.dir_marker(self.api(rel))
            if marker:
                gone[marker] = self.manifest.folders.pop(rel) or None
        if gone:
            await self._call(self.store.delete_versions(gone))
        self._dirty = self._dirty or changes.any
        if changes.never:
            await self.write_note()
        return self.failures

    async def restore(self, rel: str) -> None:
        """Put S3's version of ``rel`` (as the manifest knows it) back in the folder."""
        entry = self.manifest.files.pop(rel, None)
        if entry is None:
            return
        self._dirty = True
        remote = Remote(rel, entry.key, entry.sig.size, entry.etag, time.time_ns())
        await self.fetch(remote)

    async def upload(self, rel: str) -> None:
        """Upload the kernel's file ``rel`` (a snapshot of it) under the write policy."""
        entry = self.manifest.files.get(rel)
        staged = os.path.join(self.staging, secrets.token_hex(8))
        try:
            try:
                sig, md5 = await self.run(self.local.snapshot, rel, staged)
            except (Changed, FileNotFoundError):
                self.failures += 1  # being written, or gone: the next pass sees it
                return
            except InTheWay:
                return
            if entry is not None and entry.md5 == md5:
                self.manifest.files[rel] = Entry(entry.key, entry.etag, sig, md5)
                self._dirty = True
                return
            path = self.api(rel)
            content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
            if not self.store.writes.enabled or (self.careful and entry is None):
                # No conditions on this store, or what a stopped server left: look first.
                now = await self.store.head(path)
                there = now.etag.strip('"') if now is not None else None
                if entry is None and there == md5:
                    self.manifest.files[rel] = Entry(
                        self.store.keymap.file_key(path), md5, sig, md5
                    )
                    self._dirty = True
                    return
                if there is not None and there != (entry.etag if entry is not None else None):
                    await self._conflict(rel, sig, md5, staged, content_type)
                    return
            body = await upload_body(staged, sig.size, self.run)
            try:
                written = await self.store.put(
                    path,
                    body,
                    content_type,
                    creating=entry is None,
                    over=entry.etag if entry is not None else None,
                )
            except (WriteConflict, errors.PreconditionFailed):
                await self._conflict(rel, sig, md5, staged, content_type)
                return
            self.manifest.files[rel] = Entry(written.key, written.etag, sig, md5)
            self._dirty = True
            self.log.debug("JupyterS3: uploaded %s from a kernel's working folder", path)
        finally:
            with contextlib.suppress(OSError):
                await self.run(os.unlink, staged)

    async def _conflict(self, rel: str, sig: Sig, md5: str, staged: str, content_type: str) -> None:
        """S3 holds another version of ``rel`` than the one the kernel's is
        based on: the same bytes are simply adopted; else the kernel's goes
        to a conflict copy and S3's comes to ``rel``."""
        path = self.api(rel)
        meta = await self.store.head(path)
        if meta is not None and meta.etag.strip('"') == md5:
            self.manifest.files[rel] = Entry(meta.key, md5, sig, md5)
            self._dirty = True
            return
        taken = set(self.manifest.files)
        for _ in range(3):
            copy = conflict_name(rel, datetime.now(timezone.utc), taken)
            body = await upload_body(staged, sig.size, self.run)
            try:
                written = await self.store.put(self.api(copy), body, content_type, creating=True)
                break
            except WriteConflict:
                taken.add(copy)
        else:
            self.failures += 1
            return
        self._log_conflict(rel, copy)
        if await self.run(self.local.move_aside, rel, copy, sig):
            self.manifest.files[copy] = Entry(written.key, written.etag, sig, md5)
        self.manifest.files.pop(rel, None)
        self._dirty = True
        if meta is not None:
            stamp = int(meta.last_modified.timestamp()) * 1_000_000_000
            await self.fetch(Remote(rel, meta.key, meta.size, meta.etag.strip('"'), stamp))

    async def keep_kernel_version(self, rel: str, sig: Sig) -> bool:
        """The kernel changed ``rel`` but S3's version wins the name: upload
        the kernel's as a conflict copy (not on a read-only mount) and move
        it aside here. Whether ``rel`` is free for S3's version now."""
        staged = os.path.join(self.staging, secrets.token_hex(8))
        try:
            try:
                sig, md5 = await self.run(self.local.snapshot, rel, staged)
            except (Changed, FileNotFoundError, InTheWay):
                return False
            copy = conflict_name(rel, datetime.now(timezone.utc), set(self.manifest.files))
            entry: Entry | None = None
            if not self.store.read_only:
                content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
                body = await upload_body(staged, sig.size, self.run)
                written = await self.store.put(self.api(copy), body, content_type, creating=True)
                entry = Entry(written.key, written.etag, sig, md5)
            if not await self.run(self.local.move_aside, rel, copy, sig):
                return False
            if entry is not None:
                self.manifest.files[copy] = entry
                self._dirty = True
            self._log_conflict(rel, copy)
            return True
        finally:
            with contextlib.suppress(OSError):
                await self.run(os.unlink, staged)

    def _log_conflict(self, rel: str, copy: str) -> None:
        self.log.warning(
            "JupyterS3: %s changed in S3 and in a kernel's working folder: S3's version "
            "stays at %s, the kernel's is kept at %s",
            self.api(rel),
            self.api(rel),
            self.api(copy),
        )

    async def _delete(self, deleted: list[str]) -> None:
        """Delete in S3 what the kernel deleted, each only while it is the
        version the folder held; one that changed comes back here."""
        if not deleted:
            return
        versions: dict[str, str | None] = {}
        for rel in deleted:
            entry = self.manifest.files[rel]
            versions[entry.key] = entry.etag
        try:
            kept = await self.store.delete_versions(versions)
        except FAILURES as error:
            self.failures += 1
            self.log.warning("JupyterS3: working folder of %s: %s", self.label, error)
            return
        for rel in deleted:
            entry = self.manifest.files.pop(rel)
            self._dirty = True
            if entry.key in kept:
                self.log.warning(
                    "JupyterS3: %s was deleted in a kernel's working folder but changed in "
                    "S3 meanwhile: the newer version is kept, and back in the folder",
                    self.api(rel),
                )
                self._refresh_soon = True
