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
from typing import TYPE_CHECKING, Any, cast

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError

from jupyters3 import errors, keys, tree
from jupyters3.http_errors import http_errors

if TYPE_CHECKING:
    from jupyters3.manager import JupyterS3

__all__ = ["S3Checkpoints", "checkpoint_model"]


def checkpoint_model(checkpoint_id: str, stored: datetime | None = None) -> dict[str, Any]:
    """The API model of a checkpoint: its id and the time it was made (the time
    in the id; for an id made by another tool, ``stored``: S3's Last-Modified)."""
    made = keys.checkpoint_time(checkpoint_id) or stored or datetime.now(timezone.utc)
    return {"id": checkpoint_id, "last_modified": made}


class S3Checkpoints(AsyncCheckpoints):
    """Any number of checkpoints per file, in the same bucket as the file."""

    @property
    def manager(self) -> JupyterS3:
        """The JupyterS3 these checkpoints belong to (their parent)."""
        return cast("JupyterS3", self.parent)

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        """One CopyObject (plus a LIST and a DeleteObjects when max_checkpoints prunes)."""
        path = self.manager._path(path)
        if not path:
            raise HTTPError(400, "The root directory has no checkpoints")
        with http_errors(path):
            source_key = self.manager.keymap.file_key(path)
        return await self.create_checkpoint_from(source_key, None, path)

    async def create_checkpoint_from(
        self, source_key: str, source_etag: str | None, path: str, *, size: int | None = None
    ) -> dict[str, Any]:
        """A new checkpoint of ``path`` copied from ``source_key`` (pinned to
        ``source_etag`` when given): the file itself, or the object a copy is made
        from. One CopyObject; a multipart copy for objects over ``copy_threshold``
        (found by S3's refusal when ``size`` is not known)."""
        manager = self.manager
        checkpoint_id = keys.new_checkpoint_id(datetime.now(timezone.utc), secrets.token_hex(3))
        with http_errors(path):
            destination = manager.keymap.checkpoint_key(path, checkpoint_id)
        sizes = manager._copy_sizes()
        with http_errors(path):
            try:
                if size is None or size <= sizes.threshold:
                    try:
                        await manager.client.copy_object(
                            source_key, destination, source_if_match=source_etag
                        )
                    except errors.InvalidRequest:  # larger than one CopyObject takes
                        meta = await manager.client.head_object(source_key)
                        if meta.size <= sizes.threshold:
                            raise
                        size, source_etag = meta.size, source_etag or meta.etag
                if size is not None and size > sizes.threshold:
                    await tree.copy_object(
                        manager.client,
                        source_key,
                        destination,
                        size,
                        sizes=sizes,
                        source_if_match=source_etag,
                    )
            except errors.NotFound:
                raise HTTPError(404, f"No such file: {path}") from None
            if manager.max_checkpoints > 0:
                await self._prune(path, manager.max_checkpoints)
        return checkpoint_model(checkpoint_id)

    async def _prune(self, path: str, keep: int) -> None:
        listed = await self._list(path)
        doomed = [self.manager.keymap.checkpoint_key(path, c["id"]) for c in listed[:-keep]]
        if doomed:
            result = await self.manager.client.delete_objects(doomed)
            if result.errors:
                self.manager.log.warning("Could not prune checkpoints of %s", path)

    async def _list(self, path: str) -> list[dict[str, Any]]:
        keymap = self.manager.keymap
        objects, _ = await self.manager.client.list_all(keymap.checkpoint_prefix(path))
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
        path = self.manager._path(path)
        with http_errors(path):
            return await self._list(path)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        """One HEAD and one CopyObject back over the file."""
        manager = self.manager
        path = manager._path(path)
        with http_errors(path):
            source = manager.keymap.checkpoint_key(path, checkpoint_id)
            try:
                meta = await manager.client.head_object(source)
            except errors.NotFound:
                raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}") from None
            saved, metadata = manager._now_meta()
            etag = await tree.copy_object(
                manager.client,
                source,
                manager.keymap.file_key(path),
                meta.size,
                sizes=manager._copy_sizes(),
                content_type=meta.content_type or None,
                metadata=metadata,
                source_if_match=meta.etag,
            )
            manager.versions.served(path, etag, saved)  # the client reloads what it restored

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        """One HEAD (S3 deletes missing keys silently; the API answers 404) and one DELETE."""
        manager = self.manager
        path = manager._path(path)
        with http_errors(path):
            key = manager.keymap.checkpoint_key(path, checkpoint_id)
            try:
                await manager.client.head_object(key)
            except errors.NotFound:
                raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}") from None
            await manager.client.delete_object(key)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        """Move one checkpoint (JupyterS3's renames move whole key trees instead)."""
        manager = self.manager
        keymap = manager.keymap
        with http_errors(old_path):
            source = keymap.checkpoint_key(manager._path(old_path), checkpoint_id)
            await manager.client.copy_object(
                source, keymap.checkpoint_key(manager._path(new_path), checkpoint_id)
            )
            await manager.client.delete_object(source)
