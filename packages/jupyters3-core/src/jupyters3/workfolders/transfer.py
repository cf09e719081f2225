"""Moving one file between S3 and a working folder, streamed both ways.

* :func:`download`: a GET streamed into a temporary file beside the target
  (at most :data:`BUFFER` bytes held at once, written by the disk runner),
  then put under its name only if the kernel did not change that name meanwhile.
* :class:`StagedBody`: a snapshot of a kernel's file, sent to S3 block by block
  through the disk runner (which is a worker thread while the server runs, and
  the calling thread while the interpreter exits, when no new thread may start).

A :data:`Run` runs one blocking call of :class:`~jupyters3.workfolders.disk.LocalFolder`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jupyters3 import errors
from jupyters3.s3.bodies import Body
from jupyters3.store import S3Store
from jupyters3.workfolders.disk import LocalFolder
from jupyters3.workfolders.manifest import Entry, Sig
from jupyters3.workfolders.plan import Remote

__all__ = [
    "BUFFER",
    "INLINE",
    "INLINE_AT_EXIT",
    "Run",
    "StagedBody",
    "direct",
    "download",
    "upload_body",
]

T = TypeVar("T")

#: Bytes of a download held before they are written out.
BUFFER = 1024 * 1024
#: Snapshots up to this size are sent as bytes (kept-alive connection, Content-MD5);
#: larger ones stream. While the interpreter exits no thread may start, and S3
#: requests hash in-memory bodies over 256 KiB in one: then this is the limit.
INLINE = 1024 * 1024
INLINE_AT_EXIT = 256 * 1024

#: Runs a blocking call off the event loop: ``await run(fn, *args)``.
Run = Callable[..., Awaitable[Any]]


async def direct(fn: Callable[..., T], *args: Any) -> T:
    """A :data:`Run` that calls ``fn`` in the calling thread (while exiting)."""
    return fn(*args)


async def download(
    store: S3Store,
    local: LocalFolder,
    run: Run,
    path: str,
    remote: Remote,
    expected: Sig | None,
) -> Entry:
    """GET version ``remote.etag`` of the object at API path ``path`` into
    ``remote.rel``, replacing what is there only if it is still ``expected``
    (None: nothing). :class:`~jupyters3.workfolders.disk.Changed` if it is
    not; S3 errors as they come (the object changed: PreconditionFailed).
    A small file is one buffered GET and one call of ``run``; a larger one
    streams through a buffer of :data:`BUFFER` bytes."""
    if 0 <= remote.size <= BUFFER:
        got: list[bytes] = []

        async def keep(data: bytes) -> None:
            got.append(data)

        try:
            meta = await store.fetch(path, keep, etag=remote.etag, whole=BUFFER)
        except errors.BodyTooLarge:
            pass  # larger than it was listed: streamed below
        else:
            sig, md5 = await run(local.put, remote.rel, b"".join(got), expected, remote.mtime_ns)
            return Entry(meta.key, meta.etag.strip('"') or remote.etag, sig, md5)
    pending = await run(local.begin, remote.rel)
    buffered = bytearray()

    async def sink(chunk: bytes) -> None:
        nonlocal buffered
        buffered += chunk
        if len(buffered) >= BUFFER:
            full, buffered = buffered, bytearray()
            await run(local.write, pending, full)

    try:
        meta = await store.fetch(path, sink, etag=remote.etag)
        if buffered:
            await run(local.write, pending, buffered)
    except BaseException:
        await run(local.abort, pending)
        raise
    md5 = pending.md5.hexdigest()
    sig = await run(local.commit, pending, expected, remote.mtime_ns)
    return Entry(meta.key, meta.etag.strip('"') or remote.etag, sig, md5)


@dataclass
class StagedBody:
    """A request body read from the snapshot file ``path`` in 1 MiB blocks
    through ``run``; it can be sent again whole on a retry."""

    path: str
    length: int
    run: Run
    replayable: bool = field(default=True, init=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        fd = await self.run(os.open, self.path, os.O_RDONLY)
        try:
            remaining = self.length
            while remaining > 0:
                block: bytes = await self.run(os.read, fd, min(BUFFER, remaining))
                if not block:
                    raise OSError(f"{self.path} ended {remaining} bytes early")
                remaining -= len(block)
                yield block
        finally:
            await self.run(os.close, fd)


async def upload_body(path: str, size: int, run: Run) -> bytes | Body:
    """The body of a snapshot: its bytes when small, else a :class:`StagedBody`."""
    if size <= (INLINE_AT_EXIT if run is direct else INLINE):

        def read() -> bytes:
            with open(path, "rb") as handle:
                return handle.read()

        data: bytes = await run(read)
        return data
    return StagedBody(path, size, run)
