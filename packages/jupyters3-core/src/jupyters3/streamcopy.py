"""Copies between two S3 services (other endpoints or other credentials),
through this server with bounded memory.

One S3 service cannot copy server-side from a bucket another endpoint holds,
or that its credentials cannot read. :func:`copy_object` then reads the
source in ranges (each GET pinned to the source's ETag, so every byte comes
from one version, and checked to be exactly the range asked for; an object of
one part is one GET, refused unread if it is larger than a part) and writes
them to the target: one PutObject for an object of one part, else a
multipart upload with ``parallel`` parts in flight.

**Memory is bounded whatever the object's size.** Parts are ``part_size``
bytes (8 MiB) while that keeps them within S3's 10,000 parts, objects up to
80 GB: such a part is read into memory, so a copy holds at most ``parallel``
x 8 MiB (16 MiB by default). A larger object needs larger parts (up to 550 MB
for S3's largest, 5 TiB): each of those is streamed to a temporary file, then
uploaded from it (a chunk at a time in memory), so memory stays at a few
chunks per part and the disk holds at most ``parallel`` parts per copy.

The target write takes the same conditions as a server-side copy
(``if_match``, ``if_none_match``), so the write policy of the target store
holds for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from jupyters3.errors import BodyTooLarge
from jupyters3.s3.client import CopySource, FileBody, S3Client

__all__ = ["STREAM_PARALLEL", "STREAM_PART_SIZE", "copy_object"]

#: Bytes per part of a streamed copy (S3's minimum part size is 5 MiB).
STREAM_PART_SIZE = 8 * 1024**2
_MAX_PARTS = 10_000
#: Parts of one streamed copy in flight at once (in memory, or, for objects
#: over 10,000 x STREAM_PART_SIZE, in temporary files).
STREAM_PARALLEL = 2


async def _spool(source: S3Client, copied: CopySource, first: int, last: int) -> FileBody:
    """Bytes ``first..last`` of ``copied`` streamed to a temporary file (the
    transport resumes a GET that breaks off), as a replayable body; the
    caller removes the file."""
    handle = tempfile.NamedTemporaryFile(prefix="jupyters3-copy-", delete=False)  # noqa: SIM115

    async def write(chunk: bytes) -> None:
        await asyncio.to_thread(handle.write, chunk)

    try:
        await source.get_object_stream(
            copied.key,
            write,
            byte_range=(first, last),
            if_match=copied.etag,
            version_id=copied.version_id,
        )
        await asyncio.to_thread(handle.flush)
    except BaseException:
        _remove(handle.name)
        raise
    finally:
        handle.close()
    return FileBody(handle.name, 0, last - first + 1)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


async def _read(source: S3Client, copied: CopySource, first: int, last: int) -> bytes:
    """Bytes ``first..last`` of the version of ``copied`` its ETag names: one
    ranged GET, on a kept-alive connection when the client has them."""
    _, data = await source.get_object(
        copied.key, byte_range=(first, last), if_match=copied.etag, version_id=copied.version_id
    )
    return data


async def copy_object(
    source: S3Client,
    target: S3Client,
    copied: CopySource,
    destination: str,
    *,
    part_size: int = STREAM_PART_SIZE,
    parallel: int = STREAM_PARALLEL,
    max_parts: int = _MAX_PARTS,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    if_match: str | None = None,
    if_none_match: bool = False,
) -> str:
    """Copy ``copied`` (a key of ``source``'s bucket) to ``destination`` of
    ``target``; returns the copy's ETag. Parts are ``part_size`` bytes, in
    memory, unless the object needs more than ``max_parts`` of them: then
    larger parts go through temporary files (see the module docstring).
    ``metadata`` (with ``content_type``) replaces the source's; without it,
    the source's are kept. ``if_match`` / ``if_none_match`` condition the write."""
    if copied.size <= part_size:
        try:
            meta, data = await source.get_object(
                copied.key,
                max_size=part_size,
                if_match=copied.etag,
                version_id=copied.version_id,
            )
        except BodyTooLarge:  # larger than it was listed: part by part, below
            pass
        else:
            result = await target.put_object(
                destination,
                data,
                content_type=content_type if metadata is not None else meta.content_type or None,
                metadata=metadata if metadata is not None else meta.metadata,
                if_match=if_match,
                if_none_match=if_none_match,
            )
            return result.etag
    if metadata is None or copied.etag is None:
        meta = await source.head_object(
            copied.key, if_match=copied.etag, version_id=copied.version_id
        )
        copied = replace(copied, size=meta.size, etag=meta.etag)
        if metadata is None:
            metadata, content_type = meta.metadata, meta.content_type or None
    return await _multipart(
        source,
        target,
        copied,
        destination,
        part_size=part_size,
        max_parts=max_parts,
        parallel=parallel,
        content_type=content_type,
        metadata=metadata,
        if_match=if_match,
        if_none_match=if_none_match,
    )


async def _multipart(
    source: S3Client,
    target: S3Client,
    copied: CopySource,
    destination: str,
    *,
    part_size: int,
    max_parts: int,
    parallel: int,
    content_type: str | None,
    metadata: Mapping[str, str],
    if_match: str | None,
    if_none_match: bool,
) -> str:
    size = copied.size
    in_memory = part_size
    part_size = max(part_size, -(-size // max_parts))
    upload_id = await target.create_multipart_upload(
        destination, content_type=content_type, metadata=metadata
    )
    slots = asyncio.Semaphore(max(1, parallel))

    def part(number: int, first: int) -> Callable[[], Awaitable[str]]:
        async def copy() -> str:
            async with slots:  # the read and the write of a part hold one slot
                last = min(first + part_size, size) - 1
                if part_size <= in_memory:
                    data = await _read(source, copied, first, last)
                    return await target.upload_part(destination, upload_id, number, data)
                spooled = await _spool(source, copied, first, last)
                try:
                    return await target.upload_part(destination, upload_id, number, spooled)
                finally:
                    _remove(spooled.path)

        return copy

    starts = list(range(0, size, part_size)) or [0]
    tasks = [
        asyncio.ensure_future(part(number, first)()) for number, first in enumerate(starts, start=1)
    ]
    try:
        etags = await asyncio.gather(*tasks)
        done = await target.complete_multipart_upload(
            destination,
            upload_id,
            list(enumerate(etags, start=1)),
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return done.etag
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.shield(target.abort_multipart_upload(destination, upload_id))
        raise
