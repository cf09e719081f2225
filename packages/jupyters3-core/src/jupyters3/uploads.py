"""JupyterLab's chunked uploads (chunk 1, 2, ... n-1, then -1), streamed to S3.

Chunks are appended to a temporary file, never held in memory. Up to
``multipart_threshold`` bytes the file goes to S3 in one PutObject at chunk
-1. Past the threshold the upload becomes an S3 multipart upload: the bytes
so far are cut into its first parts, and from then on every
``multipart_part_size`` bytes are sent as a part while later chunks keep
arriving (one part in flight; a chunk waits only if the previous part has not
finished). Every part but the last is exactly ``multipart_part_size`` bytes
(Cloudflare R2 requires it). Chunk -1 sends the rest and completes the
upload. Disk use stays under about two parts past the threshold; the
previous object stays readable and untouched until completion.

An upload with no chunk for ``upload_timeout`` seconds is aborted and its
temporary files removed (checked on every chunk and by a timer), and so is
every upload in progress when the server stops. A second upload of a path
already being uploaded is refused with 409 rather than interleaved.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

from tornado.web import HTTPError

from jupyters3 import models
from jupyters3.http_errors import http_errors
from jupyters3.s3.client import FileBody, PutResult
from jupyters3.versions import Conditions

if TYPE_CHECKING:
    from jupyters3.manager_ops import S3ContentsOps

__all__ = ["ChunkedUploads"]

#: Defaults of JupyterS3's ``multipart_threshold``, ``multipart_part_size``, ``upload_timeout``.
SINGLE_PUT_LIMIT = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
UPLOAD_TIMEOUT = 3600.0
#: S3's most parts per multipart upload.
MAX_PARTS = 10_000
#: A new upload (chunk 1) of a path whose upload had a chunk this recently is refused.
BUSY_SECONDS = 60.0


def _spool() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="jupyters3-upload-", delete=False)


def _copy_tail(source: str, start: int, target: IO[bytes]) -> None:
    """Append the bytes of file ``source`` from ``start`` on to ``target``."""
    with open(source, "rb") as fh:
        fh.seek(start)
        while block := fh.read(1024 * 1024):
            target.write(block)


def _remove(handle: IO[bytes]) -> None:
    handle.close()
    with contextlib.suppress(OSError):
        os.unlink(handle.name)


@dataclass
class _Upload:
    path: str
    key: str
    content_type: str
    spool: IO[bytes] = field(default_factory=_spool)
    spooled: int = 0  # bytes in ``spool`` not yet sent as a part
    size: int = 0  # bytes received in all
    next_chunk: int = 2
    touched: float = field(default_factory=time.monotonic)
    upload_id: str | None = None
    saved_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    parts: list[tuple[int, str]] = field(default_factory=list)
    pending: asyncio.Task[None] | None = None
    sending: IO[bytes] | None = None  # the spool of the part in flight
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _decode(model: dict[str, Any]) -> bytes:
    content = model.get("content")
    if not isinstance(content, str):
        raise HTTPError(400, "No file content provided")
    if model.get("format") == "base64":
        try:
            compact = content.translate(models.LINE_BREAKS)  # as a plain save: only \n, \r
            return base64.b64decode(compact.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise HTTPError(400, "The chunk's content is not valid base64") from None
    if model.get("format") == "text":
        return content.encode("utf-8")
    fmt = model.get("format")
    raise HTTPError(400, f"Must specify format of file contents as 'text' or 'base64', not {fmt!r}")


def _check_chunk(model: dict[str, Any]) -> int:
    chunk = model["chunk"]
    if model.get("type") != "file":
        raise HTTPError(
            400, f'File type "{model.get("type")}" is not supported for large file transfer'
        )
    if not isinstance(chunk, int) or isinstance(chunk, bool) or (chunk < 1 and chunk != -1):
        raise HTTPError(400, f"Invalid chunk number {chunk!r}")
    return chunk


class ChunkedUploads:
    """The chunked uploads in progress on one JupyterS3, keyed by API path."""

    def __init__(self, manager: S3ContentsOps) -> None:
        self.manager = manager
        self._uploads: dict[str, _Upload] = {}
        self._reaper: asyncio.Task[None] | None = None

    # -- the REST entry point ----------------------------------------------------

    async def save_chunk(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """Take one chunk; at -1 complete the object. Returns a model without content."""
        chunk = _check_chunk(model)
        data = await asyncio.to_thread(_decode, model)  # 1 MiB of base64: off the loop
        await self._expire()
        if chunk == 1:
            upload = await self._begin(model, path)
        else:
            found = self._uploads.get(path)
            if found is None or (chunk != -1 and chunk != found.next_chunk):
                expected = found.next_chunk if found else 1
                raise HTTPError(
                    400, f"Unexpected chunk {chunk} for {path}: expected chunk {expected} or -1"
                )
            upload = found
        try:
            async with upload.lock:
                await self._take(upload, data)
                if chunk != -1:
                    upload.next_chunk = chunk + 1
                    now = datetime.now(timezone.utc)
                    self.manager.emit(data={"action": "save", "path": path})
                    return models.file_model(path, last_modified=now, created=now, size=upload.size)
                saved = await self._finish(upload)
        except BaseException:
            await self._discard(upload, reason="a chunk failed")
            raise
        self._uploads.pop(path, None)
        _remove(upload.spool)
        self.manager.run_post_save_hooks(model=saved, os_path=self.manager._s3_url(path))
        self.manager.emit(data={"action": "save", "path": path})
        return saved

    async def _begin(self, model: dict[str, Any], path: str) -> _Upload:
        current = self._uploads.get(path)
        if current is not None:
            idle = time.monotonic() - current.touched
            if idle < BUSY_SECONDS:
                raise HTTPError(
                    409,
                    f"{path} is being uploaded already (last chunk {idle:.0f} s ago): "
                    "wait for that upload to finish, or try again in a minute",
                )
            await self._discard(current, reason="replaced by a new upload")
        self.manager.run_pre_save_hooks(model=model, path=path)
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        upload = _Upload(path, self.manager.keymap.file_key(path), content_type)
        self._uploads[path] = upload
        self._start_reaper()
        return upload

    # -- spooling and parts ------------------------------------------------------

    async def _take(self, upload: _Upload, data: bytes) -> None:
        await asyncio.to_thread(upload.spool.write, data)
        upload.spooled += len(data)
        upload.size += len(data)
        upload.touched = time.monotonic()
        manager = self.manager
        big = upload.size > manager.multipart_threshold
        if big and upload.spooled >= manager.multipart_part_size:
            await self._send_parts(upload)

    async def _send_parts(self, upload: _Upload, *, last: bool = False) -> None:
        """Hand the spool to part uploads (after the previous ones are done).

        Every part but the last is exactly ``multipart_part_size`` bytes,
        whatever the chunk sizes, as some stores (Cloudflare R2) require: the
        spool's whole parts are sent from the spool file itself, one after the
        other, and what is left over (less than a part) starts the next spool.
        With ``last`` the rest is sent too, as the final part.
        """
        part_size = self.manager.multipart_part_size
        whole = upload.spooled if last else upload.spooled - upload.spooled % part_size
        if len(upload.parts) + -(-whole // part_size) > MAX_PARTS:
            limit = MAX_PARTS * part_size / 2**30
            raise HTTPError(
                413,
                f"{upload.path} is too large: S3 takes at most {MAX_PARTS:,} parts, "
                f"{limit:,.0f} GiB with c.JupyterS3.multipart_part_size = {part_size:,} bytes; "
                "raise multipart_part_size to upload it",
            )
        if upload.pending is not None:
            await upload.pending  # backpressure: one part in flight; raises its error
            upload.pending = None
        if upload.upload_id is None:
            upload.saved_at, upload.metadata = self.manager._now_meta()
            with http_errors(upload.path):
                upload.upload_id = await self.manager.client.create_multipart_upload(
                    upload.key, content_type=upload.content_type, metadata=upload.metadata
                )
        spool, length = upload.spool, upload.spooled
        await asyncio.to_thread(spool.flush)
        ranges = [(offset, min(part_size, whole - offset)) for offset in range(0, whole, part_size)]
        if last and not ranges:
            ranges = [(0, 0)]  # defensive: a multipart upload needs at least one part
        upload.spool, upload.spooled = _spool(), 0
        if whole < length:
            await asyncio.to_thread(_copy_tail, spool.name, whole, upload.spool)
            upload.spooled = length - whole
        numbered = []
        for offset, size in ranges:
            number = len(upload.parts) + 1
            upload.parts.append((number, ""))
            numbered.append((number, offset, size))
        upload.sending = spool
        upload.pending = asyncio.ensure_future(self._upload_parts(upload, spool, numbered))

    async def _upload_parts(
        self, upload: _Upload, spool: IO[bytes], parts: list[tuple[int, int, int]]
    ) -> None:
        """Upload ``parts`` (number, offset, length) of ``spool`` in turn, then remove it."""
        try:
            assert upload.upload_id is not None
            for number, offset, length in parts:
                with http_errors(upload.path):
                    etag = await self.manager.client.upload_part(
                        upload.key, upload.upload_id, number, FileBody(spool.name, offset, length)
                    )
                upload.parts[number - 1] = (number, etag)
        finally:
            _remove(spool)

    async def _finish(self, upload: _Upload) -> dict[str, Any]:
        client = self.manager.client
        await asyncio.to_thread(upload.spool.flush)
        manager = self.manager
        with http_errors(upload.path):
            # The upload replaces the version this server last saw of the path
            # (or creates it), never one it did not see: see jupyters3.writes.
            if upload.upload_id is None:
                now, metadata = manager._now_meta()

                async def write(c: Conditions) -> PutResult:
                    return await client.put_object(
                        upload.key,
                        FileBody(upload.spool.name, 0, upload.size),
                        content_type=upload.content_type,
                        metadata=metadata,
                        if_match=c.if_match,
                        if_none_match=c.if_none_match,
                    )

            else:
                if upload.spooled or not upload.parts:
                    await self._send_parts(upload, last=True)
                if upload.pending is not None:
                    await upload.pending
                    upload.pending = None
                assert upload.saved_at is not None
                now = upload.saved_at
                upload_id = upload.upload_id

                async def write(c: Conditions) -> PutResult:
                    return await client.complete_multipart_upload(
                        upload.key,
                        upload_id,
                        upload.parts,
                        if_match=c.if_match,
                        if_none_match=c.if_none_match,
                    )

            result = await manager.writes.run(upload.path, write)
            manager.versions.served(upload.path, result.etag)
        return models.file_model(upload.path, last_modified=now, created=now, size=upload.size)

    # -- abandoned uploads -------------------------------------------------------

    async def _discard(self, upload: _Upload, *, reason: str) -> None:
        """Forget ``upload``: stop its part, abort its multipart upload, remove its files."""
        if self._uploads.get(upload.path) is upload:
            del self._uploads[upload.path]
        if upload.pending is not None:
            upload.pending.cancel()
            with contextlib.suppress(BaseException):
                await upload.pending
        _remove(upload.spool)
        if upload.upload_id is not None:
            self.manager.log.info("Aborting the upload of %s: %s", upload.path, reason)
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.manager.client.abort_multipart_upload(upload.key, upload.upload_id)
                )

    async def _expire(self) -> None:
        now = time.monotonic()
        for upload in list(self._uploads.values()):
            if now - upload.touched > self.manager.upload_timeout and not upload.lock.locked():
                self.manager.log.warning(
                    "Abandoned upload of %s (no chunk for %.0f s): aborted",
                    upload.path,
                    now - upload.touched,
                )
                await self._discard(upload, reason="abandoned")

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())

    async def _reap(self) -> None:
        """Expire abandoned uploads even when no chunk comes; stops when none is left."""
        interval = max(0.5, min(60.0, self.manager.upload_timeout / 4))
        while self._uploads:
            await asyncio.sleep(interval)
            await self._expire()

    def in_progress(self) -> list[str]:
        """API paths with an upload in progress."""
        return list(self._uploads)

    def busy(self, path: str) -> bool:
        """Whether ``path`` has an upload in progress."""
        return path in self._uploads

    def close_at_exit(self, abort: Callable[[list[tuple[str, str]]], None]) -> None:
        """The process is exiting (the event loop has stopped): remove every
        temporary file now, and pass ``(key, upload_id)`` of every multipart
        upload in progress to ``abort``."""
        doomed = []
        for upload in list(self._uploads.values()):
            _remove(upload.spool)
            if upload.sending is not None:
                _remove(upload.sending)
            if upload.upload_id is not None:
                doomed.append((upload.key, upload.upload_id))
        self._uploads.clear()
        if doomed:
            abort(doomed)
