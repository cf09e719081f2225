"""Request bodies streamed from somewhere else than memory.

A :class:`Body` has an exact ``length`` (S3 needs a Content-Length) and says
whether it may be sent again whole on a retry (``replayable``): a
:class:`FileBody` can, an :class:`IterBody` (one-shot) cannot and is never
retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Body", "FileBody", "IterBody"]


class Body(Protocol):
    """A request body streamed from somewhere else than memory.

    ``length`` must be exact (S3 needs a Content-Length). ``replayable`` says
    whether :meth:`chunks` may be called again to re-send the body whole on a
    retry; a one-shot body is never retried.
    """

    length: int
    replayable: bool

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes, in order."""
        ...


@dataclass
class FileBody:
    """``length`` bytes of a local file from ``offset``, read in a worker thread."""

    path: str
    offset: int = 0
    length: int = 0
    block_size: int = 1024 * 1024
    replayable: bool = field(default=True, init=False)

    def read_all(self) -> bytes:
        """The whole range at once (blocking: call it in a worker thread)."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.length)
        if len(data) != self.length:
            raise OSError(f"{self.path} ended {self.length - len(data)} bytes early")
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """Read the range block by block without blocking the event loop."""
        with open(self.path, "rb") as fh:  # noqa: ASYNC230 - reads below run in a thread
            await asyncio.to_thread(fh.seek, self.offset)
            remaining = self.length
            while remaining > 0:
                block = await asyncio.to_thread(fh.read, min(self.block_size, remaining))
                if not block:
                    raise OSError(f"{self.path} ended {remaining} bytes early")
                remaining -= len(block)
                yield block


@dataclass
class IterBody:
    """A one-shot body from an async iterator (never retried)."""

    source: AsyncIterator[bytes]
    length: int
    replayable: bool = field(default=False, init=False)

    def chunks(self) -> AsyncIterator[bytes]:
        """The iterator itself: it can be consumed once."""
        return self.source
