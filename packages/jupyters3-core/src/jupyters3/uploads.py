"""JupyterLab's chunked uploads (chunk 1, 2, ... n-1, then -1), spooled to disk.

Chunks of one upload are appended to a temporary file (memory stays flat);
at chunk -1 the file goes to S3 in one PutObject, or as a multipart upload
when it is large. The previous object stays readable and untouched until
then. Spools with no chunk for ``upload_timeout`` seconds are discarded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import mimetypes
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tornado.web import HTTPError

from jupyters3 import models
from jupyters3.http_errors import http_errors
from jupyters3.s3.client import FileBody

if TYPE_CHECKING:
    from jupyters3.manager_ops import S3ContentsOps

__all__ = ["ChunkedUploads"]

#: Defaults of JupyterS3's ``multipart_threshold``, ``multipart_part_size``, ``upload_timeout``.
SINGLE_PUT_LIMIT = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
UPLOAD_TIMEOUT = 3600.0


@dataclass
class _Spool:
    path: str
    file: Any
    next_chunk: int = 2
    size: int = 0
    touched: float = field(default_factory=time.monotonic)


def _decode(model: dict[str, Any]) -> bytes:
    content = model.get("content")
    if not isinstance(content, str):
        raise HTTPError(400, "No file content provided")
    if model.get("format") == "base64":
        try:
            return base64.b64decode(content.encode("ascii"), validate=False)
        except (binascii.Error, UnicodeEncodeError):
            raise HTTPError(400, "The chunk's content is not valid base64") from None
    if model.get("format") == "text":
        return content.encode("utf-8")
    fmt = model.get("format")
    raise HTTPError(400, f"Must specify format of file contents as 'text' or 'base64', not {fmt!r}")


class ChunkedUploads:
    """The chunked uploads in progress on one JupyterS3, keyed by API path."""

    def __init__(self, manager: S3ContentsOps) -> None:
        self.manager = manager
        self._spools: dict[str, _Spool] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for path, spool in list(self._spools.items()):
            if now - spool.touched > self.manager.upload_timeout:
                self.manager.log.warning("Discarding abandoned upload of %s", path)
                self._discard(path)

    def _discard(self, path: str) -> None:
        spool = self._spools.pop(path, None)
        if spool is not None:
            spool.file.close()
            with contextlib.suppress(OSError):
                os.unlink(spool.file.name)

    async def save_chunk(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """Take one chunk; at -1 write the object. Returns a model without content."""
        self._expire()
        chunk = model["chunk"]
        if model.get("type") != "file":
            raise HTTPError(
                400, f'File type "{model.get("type")}" is not supported for large file transfer'
            )
        if not isinstance(chunk, int) or isinstance(chunk, bool) or (chunk < 1 and chunk != -1):
            raise HTTPError(400, f"Invalid chunk number {chunk!r}")
        data = _decode(model)
        if chunk == 1:
            self._discard(path)
            self.manager.run_pre_save_hooks(model=model, path=path)
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives across requests
                prefix="jupyters3-upload-", delete=False
            )
            self._spools[path] = _Spool(path, handle)
        spool = self._spools.get(path)
        if spool is None or (chunk != 1 and chunk != -1 and chunk != spool.next_chunk):
            expected = spool.next_chunk if spool else 1
            raise HTTPError(
                400, f"Unexpected chunk {chunk} for {path}: expected chunk {expected} or -1"
            )
        await asyncio.to_thread(spool.file.write, data)
        spool.size += len(data)
        spool.touched = time.monotonic()
        if chunk != -1:
            spool.next_chunk = chunk + 1
            now = datetime.now(timezone.utc)
            self.manager.emit(data={"action": "save", "path": path})
            return models.file_model(path, last_modified=now, created=now, size=spool.size)
        try:
            saved = await self._finish(spool)
        finally:
            self._discard(path)
        self.manager.run_post_save_hooks(model=saved, os_path=self.manager._s3_url(path))
        self.manager.emit(data={"action": "save", "path": path})
        return saved

    async def _finish(self, spool: _Spool) -> dict[str, Any]:
        manager = self.manager
        client = manager.client
        key = manager.keymap.file_key(spool.path)
        await asyncio.to_thread(spool.file.flush)
        source = spool.file.name
        content_type = mimetypes.guess_type(spool.path)[0] or "application/octet-stream"
        now, metadata = manager._now_meta()

        with http_errors(spool.path):
            if spool.size <= self.manager.multipart_threshold:
                await client.put_object(
                    key,
                    FileBody(source, 0, spool.size),
                    content_type=content_type,
                    metadata=metadata,
                )
            else:
                await self._multipart(key, source, spool.size, content_type, metadata)
        return models.file_model(spool.path, last_modified=now, created=now, size=spool.size)

    async def _multipart(
        self, key: str, source: str, size: int, content_type: str, metadata: dict[str, str]
    ) -> None:
        client = self.manager.client
        upload_id = await client.create_multipart_upload(
            key, content_type=content_type, metadata=metadata
        )
        try:
            part_size = self.manager.multipart_part_size
            ranges = [(n + 1, start) for n, start in enumerate(range(0, size, part_size))]
            limit = asyncio.Semaphore(4)

            async def part(number: int, start: int) -> tuple[int, str]:
                async with limit:
                    length = min(part_size, size - start)
                    etag = await client.upload_part(
                        key, upload_id, number, FileBody(source, start, length)
                    )
                    return number, etag

            parts = await asyncio.gather(*(part(n, s) for n, s in ranges))
            await client.complete_multipart_upload(key, upload_id, list(parts))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(client.abort_multipart_upload(key, upload_id))
            raise
