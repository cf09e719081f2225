"""Benchmark data that never sits in memory whole: generated uploads, streamed downloads.

:class:`Payload` describes ``size`` deterministic bytes, produced block by
block on demand. :class:`SequentialView` hands them to
``ContentsClient.upload_chunked`` (which only needs ``len()`` and slices) and
hashes what was sent. :func:`download` streams ``GET /files/<path>`` in chunks
and hashes it, so a 1 GB round trip is checked byte for byte with flat memory.
"""

from __future__ import annotations

import hashlib
import http.client
import time
from dataclasses import dataclass

from jupyters3_testing.rest import api_url_path

__all__ = ["BLOCK", "Download", "Payload", "SequentialView", "download"]

#: Generation block: 1 MiB, JupyterLab's chunk size.
BLOCK = 1024 * 1024
_READ = 1024 * 1024


@dataclass(frozen=True)
class Payload:
    """``size`` pseudo-random bytes, identical for the same ``seed``.

    Block ``i`` is one random 1 MiB block rotated by an offset that depends on
    ``i``, with ``i`` written over its first 8 bytes: every block differs and
    its position matters, so a lost, repeated or reordered chunk changes the
    hash. Producing a block is a memory copy, far cheaper than the upload.
    """

    size: int
    seed: int = 0

    def _base(self) -> bytes:
        return _base_block(self.seed)

    def block(self, index: int) -> bytes:
        """Bytes ``[index * BLOCK, (index + 1) * BLOCK)`` (shorter at the end)."""
        start = index * BLOCK
        length = max(0, min(BLOCK, self.size - start))
        base = self._base()
        shift = (index * 7919 + 13) % BLOCK
        rotated = base[shift:] + base[:shift]
        return (index.to_bytes(8, "big") + rotated[8:])[:length]

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, clipped to the payload."""
        start, end = max(0, start), min(self.size, end)
        if start >= end:
            return b""
        first, last = start // BLOCK, (end - 1) // BLOCK
        data = b"".join(self.block(i) for i in range(first, last + 1))
        offset = first * BLOCK
        return data[start - offset : end - offset]

    def sha256(self) -> str:
        """The hex SHA-256 of the whole payload (generated block by block)."""
        digest = hashlib.sha256()
        for index in range((self.size + BLOCK - 1) // BLOCK):
            digest.update(self.block(index))
        return digest.hexdigest()


_BASES: dict[int, bytes] = {}


def _base_block(seed: int) -> bytes:
    base = _BASES.get(seed)
    if base is None:
        base = hashlib.shake_128(f"jupyters3-bench-{seed}".encode()).digest(BLOCK)
        _BASES[seed] = base
    return base


class SequentialView:
    """A read-once, in-order bytes stand-in for ``ContentsClient.upload_chunked``.

    ``upload_chunked`` only calls ``len(data)`` and ``data[start:end]`` with
    consecutive slices, so this object can take the place of ``bytes``: each
    slice is generated on demand and fed to a running SHA-256. A slice out of
    order, or a call after ``deadline`` (``time.monotonic()``), raises, which
    also bounds the upload in time.
    """

    def __init__(self, payload: Payload, deadline: float) -> None:
        self.payload = payload
        self.deadline = deadline
        self.sent = 0
        self._digest = hashlib.sha256()

    def __len__(self) -> int:
        return self.payload.size

    def __getitem__(self, item: slice) -> bytes:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("SequentialView supports contiguous slices only")
        start = 0 if item.start is None else item.start
        end = self.payload.size if item.stop is None else item.stop
        if start != self.sent:
            raise RuntimeError(f"out-of-order slice at {start} (expected {self.sent})")
        if time.monotonic() > self.deadline:
            raise TimeoutError(f"upload did not finish in time ({self.sent} bytes sent)")
        data = self.payload.read(start, end)
        self._digest.update(data)
        self.sent += len(data)
        return data

    def hexdigest(self) -> str:
        """SHA-256 of everything handed out so far."""
        return self._digest.hexdigest()


@dataclass(frozen=True)
class Download:
    """What :func:`download` received."""

    status: int
    size: int
    sha256: str
    #: Seconds until the status line and headers arrived.
    first_byte: float


def download(
    host: str, port: int, token: str, path: str, *, deadline: float, timeout: float = 120.0
) -> Download:
    """``GET /files/<path>``, read in 1 MiB chunks and hashed, never held whole.

    Stops with ``TimeoutError`` once ``time.monotonic()`` passes ``deadline``.
    """
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(
            "GET", "/files/" + api_url_path(path), headers={"Authorization": f"token {token}"}
        )
        resp = conn.getresponse()
        first_byte = time.monotonic() - started
        digest = hashlib.sha256()
        size = 0
        expected = resp.getheader("Content-Length")
        # Bounded: at most Content-Length (or 64 GiB) / 1 MiB reads.
        limit = int(expected) if expected is not None else 64 << 30
        for _ in range(limit // _READ + 2):
            chunk = resp.read(_READ)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"download of {path} did not finish in time ({size} bytes)")
        return Download(resp.status, size, digest.hexdigest(), first_byte)
    finally:
        conn.close()
