"""Checkpoints stored in S3 under ``<file key>/.checkpoints/<id>``.

Created and restored with server-side CopyObject (the data is never
downloaded); several per file. Ids sort chronologically and match ``[\\w-]+``
as the REST API requires.

Listed **oldest first**, as JupyterLab expects: it shows the last entry as the
notebook's "Last Checkpoint" and preselects it in File > Revert Notebook to
Checkpoint. A checkpoint's model is the same wherever it is returned (create
or list): its ``last_modified`` is the creation time written into its id.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError
from traitlets import Instance, Int, TraitError, default

from jupyters3 import errors, keys
from jupyters3.http_errors import api_path, http_errors
from jupyters3.s3.client import ObjectMeta
from jupyters3.store import S3Store, SourceMissing

__all__ = ["S3Checkpoints", "checkpoint_model"]


def checkpoint_model(checkpoint_id: str, stored: datetime | None = None) -> dict[str, Any]:
    """The API model of a checkpoint: its id and the time it was made (the time
    in the id; for an id made by another tool, ``stored``: S3's Last-Modified)."""
    made = keys.checkpoint_time(checkpoint_id) or stored or datetime.now(timezone.utc)
    return {"id": checkpoint_id, "last_modified": made}


class S3Checkpoints(AsyncCheckpoints):
    """Any number of checkpoints per file, in the same bucket as the file.

    Uses its parent JupyterS3's ``store`` and ``max_checkpoints``."""

    store = Instance(S3Store, help="Where the checkpoints are (the parent JupyterS3's store).")
    max_checkpoints = Int(0, help="Checkpoints kept per file: the newest this many (0: all).")

    @default("store")
    def _default_store(self) -> S3Store:
        store = getattr(self.parent, "store", None)
        if not isinstance(store, S3Store):
            raise TraitError("S3Checkpoints keeps checkpoints for a JupyterS3 (its parent)")
        return store

    @default("max_checkpoints")
    def _default_max_checkpoints(self) -> int:
        return int(getattr(self.parent, "max_checkpoints", 0))

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        """One CopyObject (plus a LIST and a DeleteObjects when max_checkpoints prunes)."""
        path = api_path(path)
        if not path:
            raise HTTPError(400, "The root directory has no checkpoints")
        return await self.create_checkpoint_from(path, None, path)

    async def create_checkpoint_from(
        self, source: str, meta: ObjectMeta | None, path: str
    ) -> dict[str, Any]:
        """A new checkpoint of ``path`` copied from the file at API path
        ``source`` (version ``meta`` when given): the file itself, or the file a
        copy is made from. One CopyObject; a multipart copy for objects over
        ``copy_threshold`` (found by S3's refusal when ``meta`` is not given)."""
        store = self.store
        checkpoint_id = keys.new_checkpoint_id(datetime.now(timezone.utc), secrets.token_hex(3))
        with http_errors(path):
            destination = store.keymap.checkpoint_key(path, checkpoint_id)
            source_key = store.keymap.file_key(source)
            threshold = store.limits.copy_sizes.threshold
            try:
                if meta is None:
                    try:
                        await store.copy(path, source_key, destination, 0)
                    except errors.InvalidRequest:  # larger than one CopyObject takes
                        meta = await store.head(source)
                        if meta is None or meta.size <= threshold:
                            raise
                if meta is not None:
                    await store.copy(path, source_key, destination, meta)
            except errors.NotFound:
                raise HTTPError(404, f"No such file: {path}") from None
            if self.max_checkpoints > 0:
                await self._prune(path, self.max_checkpoints)
        return checkpoint_model(checkpoint_id)

    async def _prune(self, path: str, keep: int) -> None:
        listed = await self._list(path)
        keymap = self.store.keymap
        doomed = [keymap.checkpoint_key(path, c["id"]) for c in listed[:-keep]]
        if doomed:
            result = await self.store.client.delete_objects(doomed)
            if result.errors:
                self.log.warning("Could not prune checkpoints of %s", path)

    async def _list(self, path: str) -> list[dict[str, Any]]:
        keymap = self.store.keymap
        objects, _ = await self.store.client.list_all(keymap.checkpoint_prefix(path))
        found = []
        for obj in objects:
            try:
                checkpoint_id = keymap.checkpoint_id_of(obj.key)
            except keys.InvalidPath:
                continue  # not one of ours (e.g. written by another tool)
            found.append(checkpoint_model(checkpoint_id, obj.last_modified))
        return sorted(found, key=lambda c: (c["last_modified"], c["id"]))

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        """One LIST; oldest first (JupyterLab takes the last as the newest)."""
        path = api_path(path)
        with http_errors(path):
            return await self._list(path)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        """One CopyObject back over the file, after one round trip: a HEAD of the
        checkpoint and, when this server knows which version of the file it
        last saw, a HEAD of the file with If-Match. A file that another server
        changed since is kept: 409, as for a stale save."""
        path = api_path(path)
        with http_errors(path):
            source = self.store.keymap.checkpoint_key(path, checkpoint_id)
            try:
                await self.store.restore(path, source)
            except SourceMissing:
                raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}") from None

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        """One HEAD (S3 deletes missing keys silently; the API answers 404) and one DELETE."""
        path = api_path(path)
        with http_errors(path):
            key = self.store.keymap.checkpoint_key(path, checkpoint_id)
            if await self.store.head_key(key) is None:
                raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}")
            await self.store.client.delete_object(key)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        """Move one checkpoint (JupyterS3's renames move whole key trees instead)."""
        old_path, new_path = api_path(old_path), api_path(new_path)
        keymap = self.store.keymap
        with http_errors(old_path):
            source = keymap.checkpoint_key(old_path, checkpoint_id)
            await self.store.copy(
                new_path, source, keymap.checkpoint_key(new_path, checkpoint_id), 0
            )
            await self.store.client.delete_object(source)
