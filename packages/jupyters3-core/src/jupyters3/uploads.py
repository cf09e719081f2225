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

Chunk numbers follow jupyter_server's ``LargeFileManager``: chunk 1 starts
the upload (over, when one is in progress), any other chunk appends, with
one exception: a chunk whose number skips one (chunk 3 right after chunk 1)
is refused with 409 (:class:`~jupyters3.contents_errors.ChunkOutOfOrder`),
appending nothing, and the upload in progress stays as it was. The reference
would append it and leave the file without the lost chunk; no client skips
a number (JupyterLab sends 1, 2, ..., -1), so a gap is a lost request. A
repeated number, and a chunk after -1, append as the reference does. A chunk
1 for a path whose upload is in progress starts a new upload that supersedes
the older one: the older one's multipart upload is aborted, and its next
chunk (recognised by its number, the one it would have sent next) answers
409 saying so. The API carries no upload id: when the older upload's next
chunk has the very number the newer one expects next, the two cannot be
told apart and the chunk goes to the newer upload (the older one is taken
for dead). The bucket keeps the previous version until the newer upload's
chunk -1.

A chunk other than 1 with no upload in progress is refused (400): its upload
was abandoned, aborted or lost with a restart, and appending it to the
object in the bucket would corrupt it. The one exception is the reference's
"append after the last chunk": within ``BUSY_SECONDS`` of an upload's chunk
-1 on this server, further chunks append to the object it wrote (read back
once, at most ``multipart_threshold`` bytes, and written only over that
version).

An upload with no chunk for ``upload_timeout`` seconds is aborted and its
temporary files removed (checked on every chunk and by a timer), and so is
every upload in progress when the server stops.
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
from typing import IO, Any, Protocol

from tornado.web import HTTPError

from jupyters3 import models
from jupyters3.contents_errors import ChunkOutOfOrder
from jupyters3.http_errors import http_errors
from jupyters3.s3.client import FileBody
from jupyters3.store import S3Store

__all__ = ["ChunkedUploads", "SaveEvents", "UploadLimits"]

#: S3's most parts per multipart upload.
MAX_PARTS = 10_000
#: How long a finished upload can be appended to, and a superseded one is remembered.
BUSY_SECONDS = 60.0


def _spool() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="jupyters3-upload-", delete=False)


def _copy_tail(source: str, start: int, target: IO[bytes]) -> None:
    """Append the bytes of file ``source`` from ``start`` on to ``target``."""
    with open(source, "rb") as fh:
        fh.seek(start)
        while block := fh.read(1024 * 1024):
            target.write(block)


def _current() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (the process is exiting)
        return None


def _remove(handle: IO[bytes]) -> None:
    handle.close()
    with contextlib.suppress(OSError):
        os.unlink(handle.name)


@dataclass
class _Upload:
    path: str
    store: S3Store
    key: str
    content_type: str
    spool: IO[bytes] = field(default_factory=_spool)
    spooled: int = 0  # bytes in ``spool`` not yet sent as a part
    size: int = 0  # bytes received in all
    next_chunk: int = 2
    touched: float = field(default_factory=time.monotonic)
    upload_id: str | None = None
    saved_at: datetime | None = None
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
    return content.encode("utf-8")


def _check_chunk(model: dict[str, Any]) -> int:
    """The chunk number; 400 with the reference's messages for a bad model."""
    chunk = model["chunk"]
    if not isinstance(chunk, int) or isinstance(chunk, bool) or (chunk < 1 and chunk != -1):
        raise HTTPError(400, f"Invalid chunk number {chunk!r}")
    if "type" not in model:
        raise HTTPError(400, "No file type provided")
    if model["type"] != "file":
        raise HTTPError(
            400, f'File type "{model["type"]}" is not supported for large file transfer'
        )
    if "content" not in model:
        raise HTTPError(400, "No file content provided")
    if model.get("format") not in ("text", "base64"):
        raise HTTPError(400, "Must specify format of file contents as 'text' or 'base64'")
    return chunk


@dataclass(frozen=True)
class UploadLimits:
    """JupyterS3's ``multipart_threshold``, ``multipart_part_size`` and ``upload_timeout``."""

    multipart_threshold: int = 64 * 1024 * 1024
    multipart_part_size: int = 16 * 1024 * 1024
    upload_timeout: float = 3600.0


class SaveEvents(Protocol):
    """What an upload tells the contents manager (jupyter_server's public API)."""

    log: Any

    def run_pre_save_hooks(self, model: dict[str, Any], path: str, **kwargs: Any) -> None: ...

    def run_post_save_hooks(self, model: dict[str, Any], os_path: str) -> None: ...

    def emit(self, data: dict[str, Any]) -> None: ...


@dataclass
class _Ended:
    """What is remembered of an upload that ended: ``next_chunk`` is the chunk
    number it would have sent next (superseded), or None (it finished)."""

    next_chunk: int | None
    ended: float = field(default_factory=time.monotonic)


class ChunkedUploads:
    """The chunked uploads in progress on one JupyterS3, keyed by API path."""

    def __init__(
        self, store_for: Callable[[str], S3Store], limits: UploadLimits, events: SaveEvents
    ) -> None:
        self.store_for = store_for  # the store that holds an API path
        self.limits = limits
        self.events = events
        self._uploads: dict[str, _Upload] = {}
        self._ended: dict[str, _Ended] = {}
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
            upload = await self._continue(path, chunk)
        try:
            async with upload.lock:
                if self._uploads.get(path) is not upload:  # superseded meanwhile
                    raise HTTPError(
                        409,
                        f"This upload of {path} was superseded by a newer upload of the same "
                        "path while this chunk waited; it was not written.",
                        reason="Conflict",
                    )
                await self._take(upload, data)
                if chunk != -1:
                    upload.next_chunk = max(upload.next_chunk, chunk + 1)
                    now = datetime.now(timezone.utc)
                    self.events.emit(data={"action": "save", "path": path})
                    return models.file_model(path, last_modified=now, created=now, size=upload.size)
                saved = await self._finish(upload)
        except BaseException:
            await self._discard(upload, reason="a chunk failed")
            raise
        if self._uploads.get(path) is upload:
            del self._uploads[path]
        self._ended[path] = _Ended(None)
        _remove(upload.spool)
        self._stop_reaper_when_idle()
        self.events.run_post_save_hooks(model=saved, os_path=upload.store.url(path))
        self.events.emit(data={"action": "save", "path": path})
        return saved

    async def _begin(self, model: dict[str, Any], path: str) -> _Upload:
        """Chunk 1: a new upload of ``path``, superseding one in progress."""
        store = self.store_for(path)
        with http_errors(path):
            store.check_writable()
            await store.check_not_a_folder(path)  # nothing is sent before chunk -1
        current = self._uploads.get(path)
        if current is not None:
            async with current.lock:  # a chunk of it in flight finishes first
                self._ended[path] = _Ended(current.next_chunk)
                await self._discard(current, reason="superseded by a new upload of the same path")
        self.events.run_pre_save_hooks(model=model, path=path)
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        upload = _Upload(path, store, store.keymap.file_key(path), content_type)
        self._uploads[path] = upload
        self._start_reaper()
        return upload

    async def _continue(self, path: str, chunk: int) -> _Upload:
        """The upload a chunk other than 1 belongs to (see the module docstring)."""
        now = time.monotonic()
        self._ended = {p: e for p, e in self._ended.items() if now - e.ended < BUSY_SECONDS}
        upload, ended = self._uploads.get(path), self._ended.get(path)
        superseded = ended is not None and ended.next_chunk == chunk
        if superseded and (upload is None or chunk != upload.next_chunk):
            assert ended is not None and ended.next_chunk is not None
            ended.next_chunk += 1
            raise HTTPError(
                409,
                f"This upload of {path} was superseded by a newer upload of the same "
                f"path, which started again from its first chunk; chunk {chunk} of this "
                "one was not written. The newer upload continues.",
                reason="Conflict",
            )
        if superseded:  # the newer upload's own next chunk: no telling them apart
            del self._ended[path]
        if upload is not None:
            if chunk != -1 and chunk > upload.next_chunk:
                with http_errors(path):
                    raise ChunkOutOfOrder(path, chunk, upload.next_chunk)
            return upload
        if ended is not None and ended.next_chunk is None:
            return await self._reopen(path)
        raise HTTPError(
            400,
            f"Unexpected chunk {chunk} for {path}: no upload of it is in progress here (it "
            "was finished, abandoned or interrupted); upload the file again from chunk 1",
        )

    async def _reopen(self, path: str) -> _Upload:
        """An upload that appends to the object this server's last upload of
        ``path`` wrote moments ago, as the reference appends after chunk -1."""
        store = self.store_for(path)
        with http_errors(path):
            meta = await store.head(path)
            if meta is None:
                raise HTTPError(404, f"No such file: {path}")
            if meta.size > self.limits.multipart_threshold:
                raise HTTPError(
                    400,
                    f"Cannot append to {path} after its last chunk: it is larger than "
                    "c.JupyterS3.multipart_threshold; upload the whole file again from chunk 1",
                )
            meta, data = await store.read(path)  # then written only over what was read
        key = store.keymap.file_key(path)
        upload = _Upload(path, store, key, meta.content_type or "application/octet-stream")
        await asyncio.to_thread(upload.spool.write, data)
        upload.spooled = upload.size = len(data)
        self._uploads[path] = upload
        self._start_reaper()
        return upload

    # -- spooling and parts ------------------------------------------------------

    async def _take(self, upload: _Upload, data: bytes) -> None:
        await asyncio.to_thread(upload.spool.write, data)
        upload.spooled += len(data)
        upload.size += len(data)
        upload.touched = time.monotonic()
        big = upload.size > self.limits.multipart_threshold
        if big and upload.spooled >= self.limits.multipart_part_size:
            await self._send_parts(upload)

    async def _send_parts(self, upload: _Upload, *, last: bool = False) -> None:
        """Hand the spool to part uploads (after the previous ones are done).

        Every part but the last is exactly ``multipart_part_size`` bytes,
        whatever the chunk sizes, as some stores (Cloudflare R2) require: the
        spool's whole parts are sent from the spool file itself, one after the
        other, and what is left over (less than a part) starts the next spool.
        With ``last`` the rest is sent too, as the final part.
        """
        part_size = self.limits.multipart_part_size
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
            with http_errors(upload.path):
                upload.upload_id, upload.saved_at = await upload.store.begin_upload(
                    upload.path, upload.content_type
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
                    etag = await upload.store.upload_part(
                        upload.path, upload.upload_id, number, FileBody(spool.name, offset, length)
                    )
                upload.parts[number - 1] = (number, etag)
        finally:
            _remove(spool)

    async def _finish(self, upload: _Upload) -> dict[str, Any]:
        """Write the object: one PUT, or the multipart upload's last part and
        its completion; over the version this server last saw of the path (or
        as a creation), never one it did not see (see :mod:`jupyters3.writes`)."""
        await asyncio.to_thread(upload.spool.flush)
        with http_errors(upload.path):
            if upload.upload_id is None:
                body = FileBody(upload.spool.name, 0, upload.size)
                now = await upload.store.write(upload.path, body, upload.content_type)
            else:
                if upload.spooled or not upload.parts:
                    await self._send_parts(upload, last=True)
                if upload.pending is not None:
                    await upload.pending
                    upload.pending = None
                assert upload.saved_at is not None
                now = upload.saved_at
                await upload.store.complete_upload(
                    upload.path, upload.upload_id, upload.parts, now, upload.size
                )
        return models.file_model(upload.path, last_modified=now, created=now, size=upload.size)

    # -- abandoned uploads -------------------------------------------------------

    async def _discard(self, upload: _Upload, *, reason: str) -> None:
        """Forget ``upload``: stop its part, abort its multipart upload, remove its files."""
        if self._uploads.get(upload.path) is upload:
            del self._uploads[upload.path]
        self._stop_reaper_when_idle()
        if upload.pending is not None:
            upload.pending.cancel()
            with contextlib.suppress(BaseException):
                await upload.pending
        _remove(upload.spool)
        upload_id, upload.upload_id = upload.upload_id, None
        if upload_id is not None:
            self.events.log.info("Aborting the upload of %s: %s", upload.path, reason)
            with contextlib.suppress(Exception):
                await asyncio.shield(upload.store.abort_upload(upload.key, upload_id))

    async def _expire(self) -> None:
        now = time.monotonic()
        for upload in list(self._uploads.values()):
            if now - upload.touched > self.limits.upload_timeout and not upload.lock.locked():
                self.events.log.warning(
                    "Abandoned upload of %s (no chunk for %.0f s): aborted",
                    upload.path,
                    now - upload.touched,
                )
                await self._discard(upload, reason="abandoned")

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())

    def _stop_reaper_when_idle(self) -> None:
        """No upload left: the timer has nothing to watch (and must not outlive
        the event loop it runs on)."""
        if not self._uploads and self._reaper is not None and self._reaper is not _current():
            self._reaper.cancel()
            self._reaper = None

    async def _reap(self) -> None:
        """Expire abandoned uploads even when no chunk comes; stops when none is left."""
        interval = max(0.5, min(60.0, self.limits.upload_timeout / 4))
        while self._uploads:
            await asyncio.sleep(interval)
            await self._expire()

    def in_progress(self) -> list[str]:
        """API paths with an upload in progress."""
        return list(self._uploads)

    def busy(self, path: str) -> bool:
        """Whether ``path`` has an upload in progress."""
        return path in self._uploads

    def close_at_exit(self, abort: Callable[[list[tuple[S3Store, str, str]]], None]) -> None:
        """The process is exiting (the event loop has stopped): remove every
        temporary file now, and pass ``(store, key, upload_id)`` of every
        multipart upload in progress to ``abort``."""
        doomed = []
        for upload in list(self._uploads.values()):
            _remove(upload.spool)
            if upload.sending is not None:
                _remove(upload.sending)
            if upload.upload_id is not None:
                doomed.append((upload.store, upload.key, upload.upload_id))
        self._uploads.clear()
        if doomed:
            abort(doomed)
