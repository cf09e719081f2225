"""Checkpoints stored in S3 under ``<file key>/.checkpoints/<id>``.

Created and restored with server-side CopyObject (the data is never
downloaded); several per file. Ids sort chronologically and match ``[\\w-]+``
as the REST API requires.

Listed **oldest first**, as JupyterLab expects: it shows the last entry as the
notebook's "Last Checkpoint" and preselects it in File > Revert Notebook to
Checkpoint. A checkpoint's model is the same wherever it is returned (create
or list): its ``last_modified`` is the creation time written into its id.

**On a versioned bucket** (``versioned_checkpoints``: ``auto`` asks S3 once,
``on`` requires it, ``off`` never uses it) a checkpoint copies no data: it is a
0-byte pointer whose id names the file's S3 version (``<time>-v<version id in
base32>``); listing reads the file's versions in the same one request (a
pointer whose version has expired is dropped, with a log line), restoring
copies that version back, and deleting removes only the pointer. With
``versioned_checkpoints_history = N`` the list also offers the file's N newest
earlier versions (autosaves included) as read-only checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime, timezone
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError
from traitlets import Instance, Int, TraitError, default

from jupyters3 import errors, keys
from jupyters3.contents_errors import InvalidPath, SourceMissing
from jupyters3.http_errors import api_path, http_errors
from jupyters3.mounts import Stores
from jupyters3.s3.client import ObjectMeta
from jupyters3.s3.xml import ObjectVersion
from jupyters3.store import S3Store

__all__ = ["S3Checkpoints", "checkpoint_model", "version_of", "versioned_id"]

#: Metadata of a versioned checkpoint's pointer: the S3 version it names.
VERSION_META = "jupyters3-version"


def versioned_id(made: datetime, version_id: str) -> str:
    """The id of a checkpoint that is version ``version_id`` of its file."""
    encoded = base64.b32encode(version_id.encode()).decode().rstrip("=").lower()
    return keys.new_checkpoint_id(made, "v" + encoded)


def version_of(checkpoint_id: str) -> str | None:
    """The S3 version id a :func:`versioned_id` names; None for any other id."""
    _, _, rand = checkpoint_id.partition("-")
    if not rand.startswith("v") or keys.checkpoint_time(checkpoint_id) is None:
        return None  # the ids of copied checkpoints end in hex, never "v"
    encoded = rand[1:].upper()
    try:
        return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def checkpoint_model(checkpoint_id: str, stored: datetime | None = None) -> dict[str, Any]:
    """The API model of a checkpoint: its id and the time it was made (the time
    in the id; for an id made by another tool, ``stored``: S3's Last-Modified)."""
    made = keys.checkpoint_time(checkpoint_id) or stored or datetime.now(timezone.utc)
    return {"id": checkpoint_id, "last_modified": made}


class S3Checkpoints(AsyncCheckpoints):
    """Any number of checkpoints per file, in the same bucket (the same mount)
    as the file.

    Uses its parent JupyterS3's ``stores`` and ``max_checkpoints``."""

    stores = Instance(Stores, help="Where the checkpoints are (the parent JupyterS3's stores).")
    max_checkpoints = Int(0, help="Checkpoints kept per file: the newest this many (0: all).")
    history = Int(0, help="The parent's versioned_checkpoints_history.")

    @default("stores")
    def _default_stores(self) -> Stores:
        stores = getattr(self.parent, "stores", None)
        if not isinstance(stores, Stores):
            raise TraitError("S3Checkpoints keeps checkpoints for a JupyterS3 (its parent)")
        return stores

    def _store(self, path: str) -> S3Store:
        """The store of the file at ``path`` (404 where there is none)."""
        store = self.stores.at(path)
        if store is None or store.keymap.is_root(path):
            raise HTTPError(404, f"No such file: {path}")
        return store

    @default("max_checkpoints")
    def _default_max_checkpoints(self) -> int:
        return int(getattr(self.parent, "max_checkpoints", 0))

    @default("history")
    def _default_history(self) -> int:
        return int(getattr(self.parent, "versioned_checkpoints_history", 0))

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        """One CopyObject (plus a LIST and a DeleteObjects when max_checkpoints prunes)."""
        path = api_path(path)
        if not path:
            raise HTTPError(400, "The root directory has no checkpoints")
        store = self._store(path)
        with http_errors(path):
            store.check_writable()
        if await store.versioned():
            with http_errors(path):
                made = await self._point_at_current_version(path)
            if made is not None:
                return made
        return await self.create_checkpoint_from(path, None, path)

    async def _point_at_current_version(self, path: str) -> dict[str, Any] | None:
        """A checkpoint that names the file's current S3 version: one 0-byte PUT
        (and a HEAD first unless this server knows the version). None when the
        version has no id or the pointer's key would be too long (a copy is
        made instead)."""
        store = self._store(path)
        version_id = store.versions.version_id(path)
        if version_id is None:
            meta = await store.head(path)
            if meta is None:
                raise HTTPError(404, f"No such file: {path}")
            version_id = meta.version_id
        if not version_id or version_id == "null":
            return None
        checkpoint_id = versioned_id(datetime.now(timezone.utc), version_id)
        try:
            key = store.keymap.checkpoint_key(path, checkpoint_id)
        except InvalidPath:
            return None
        await store.put_empty(path, key, {VERSION_META: version_id})
        if self.max_checkpoints > 0:
            await self._prune(path, self.max_checkpoints)
        return checkpoint_model(checkpoint_id)

    async def create_checkpoint_from(
        self,
        source: str,
        meta: ObjectMeta | None,
        path: str,
        *,
        origin: S3Store | None = None,
    ) -> dict[str, Any]:
        """A new checkpoint of ``path`` copied from the file at API path
        ``source`` (version ``meta`` when given) of ``origin`` (default: the
        store of ``path``, which must copy from it server-side): the file
        itself, or the file a copy is made from. One CopyObject; a multipart
        copy for objects over ``copy_threshold`` (found by S3's refusal when
        ``meta`` is not given)."""
        store = self._store(path)
        origin = origin or store
        checkpoint_id = keys.new_checkpoint_id(datetime.now(timezone.utc), secrets.token_hex(3))
        with http_errors(path):
            destination = store.keymap.checkpoint_key(path, checkpoint_id)
            source_key = origin.keymap.file_key(source)
            threshold = store.limits.copy_sizes.threshold
            try:
                if meta is None:
                    try:
                        await store.copy(path, source_key, destination, 0, origin=origin)
                    except errors.InvalidRequest:  # larger than one CopyObject takes
                        meta = await origin.head(source)
                        if meta is None or meta.size <= threshold:
                            raise
                if meta is not None:
                    await store.copy(path, source_key, destination, meta, origin=origin)
            except errors.NotFound:
                raise HTTPError(404, f"No such file: {path}") from None
            if self.max_checkpoints > 0:
                await self._prune(path, self.max_checkpoints)
        return checkpoint_model(checkpoint_id)

    async def _prune(self, path: str, keep: int) -> None:
        store = self._store(path)
        listed = await self._list(path, history=0)
        keymap = store.keymap
        doomed = [keymap.checkpoint_key(path, c["id"]) for c in listed[:-keep]]
        if not doomed:
            return
        if await store.versioned():
            await store.delete_keys(doomed)
            await store.purge_deleted_checkpoints(path)
            return
        try:
            await store.delete_keys(doomed)
        except errors.S3Error as exc:
            self.log.warning("Could not prune checkpoints of %s: %s", path, exc)

    async def _list(self, path: str, *, history: int) -> list[dict[str, Any]]:
        store = self._store(path)
        keymap = store.keymap
        if await store.versioned():
            found = await self._list_versioned(store, path, history)
        else:
            found = []
            for obj in await store.checkpoint_objects(path):
                try:
                    checkpoint_id = keymap.checkpoint_id_of(obj.key)
                except InvalidPath:
                    continue  # not one of ours (e.g. written by another tool)
                found.append(checkpoint_model(checkpoint_id, obj.last_modified))
        return sorted(found, key=lambda c: c["last_modified"])  # stable: ties keep their order

    async def _list_versioned(
        self, store: S3Store, path: str, history: int
    ) -> list[dict[str, Any]]:
        """One ListObjectVersions of the file's key: its versions and, after
        them, its checkpoints' pointers (and any copied checkpoints)."""
        keymap = store.keymap
        file_key, holder = keymap.file_key(path), keymap.checkpoint_prefix(path)
        listed = await store.file_versions(path)
        versions = [v for v in listed if v.key == file_key and not v.delete_marker]
        known = {v.version_id for v in versions}
        found, pointed = [], set()
        for entry in listed:
            if not entry.key.startswith(holder) or not entry.is_latest or entry.delete_marker:
                continue
            try:
                checkpoint_id = keymap.checkpoint_id_of(entry.key)
            except InvalidPath:
                continue
            version_id = version_of(checkpoint_id)
            if version_id is not None and version_id not in known:
                self.log.info(
                    "Checkpoint %s of %s is gone: its S3 version has expired", checkpoint_id, path
                )
                continue
            pointed.add(version_id)
            found.append(checkpoint_model(checkpoint_id, entry.last_modified))
        # Oldest first; S3 times have one-second steps, so ties keep this order.
        found.sort(key=lambda c: c["id"])
        found += [_history_model(v) for v in reversed(_earlier(versions, pointed)[:history])]
        return found

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        """One LIST; oldest first (JupyterLab takes the last as the newest)."""
        path = api_path(path)
        with http_errors(path):
            return await self._list(path, history=self.history)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        """One CopyObject back over the file, after one round trip: a HEAD of the
        checkpoint and, when this server knows which version of the file it
        last saw, a HEAD of the file with If-Match. A file that another server
        changed since is kept: 409, as for a stale save."""
        path = api_path(path)
        store = self._store(path)
        with http_errors(path):
            source = store.keymap.checkpoint_key(path, checkpoint_id)
            version_id = version_of(checkpoint_id)
            if version_id is not None:  # copy that version of the file back
                source = store.keymap.file_key(path)
            try:
                await store.restore(path, source, version_id)
            except SourceMissing:
                gone = " (its S3 version has expired)" if version_id else ""
                raise HTTPError(
                    404, f"Checkpoint does not exist: {path}@{checkpoint_id}{gone}"
                ) from None

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        """One HEAD (S3 deletes missing keys silently; the API answers 404) and one DELETE."""
        path = api_path(path)
        store = self._store(path)
        with http_errors(path):
            store.check_writable()
            key = store.keymap.checkpoint_key(path, checkpoint_id)
            meta = await store.head_key(key)
            if meta is None:
                raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}")
            if await store.versioned() and meta.version_id:
                # Our pointer (or copy) goes for good: no delete marker is left.
                await store.delete_version(key, meta.version_id)
            else:
                await store.delete_key(key)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        """Move one checkpoint (JupyterS3's renames move whole key trees instead)."""
        old_path, new_path = api_path(old_path), api_path(new_path)
        origin, store = self._store(old_path), self._store(new_path)
        with http_errors(old_path):
            origin.check_writable()
            source = origin.keymap.checkpoint_key(old_path, checkpoint_id)
            destination = store.keymap.checkpoint_key(new_path, checkpoint_id)
            await store.copy(new_path, source, destination, 0, origin=origin)
            await origin.delete_key(source)


def _earlier(versions: list[ObjectVersion], pointed: set[str | None]) -> list[ObjectVersion]:
    """The file's earlier (noncurrent) versions no checkpoint names, newest first
    (the order S3 lists them in: their times may tie to the second)."""
    return [v for v in versions if not v.is_latest and v.version_id not in pointed]


def _history_model(version: ObjectVersion) -> dict[str, Any]:
    """A read-only checkpoint for an earlier version of the file."""
    return checkpoint_model(versioned_id(version.last_modified, version.version_id))
