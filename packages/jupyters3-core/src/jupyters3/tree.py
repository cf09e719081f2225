"""Operations on whole key trees (a file with its checkpoints, or a folder).

Copies run with bounded concurrency; sources are deleted only after every
copy succeeded, so a failure midway loses nothing: the source tree is intact
and a partial copy may exist at the destination (repeating the operation
finishes it, since copies are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from jupyters3.errors import NoSuchBucket, NotFound, PreconditionFailed, S3Error, error_class
from jupyters3.s3.client import CopySource, S3Client
from jupyters3.s3.xml import DeleteError

__all__ = [
    "COPY_LIMIT",
    "Copier",
    "CopySizes",
    "bounded_gather",
    "copy_keys",
    "copy_object",
    "delete_after_checking",
    "delete_error",
    "delete_if_unchanged",
    "delete_keys",
]

#: S3's limit for one CopyObject: larger objects are copied part by part.
COPY_LIMIT = 5 * 1024**3


@dataclass(frozen=True)
class CopySizes:
    """Above ``threshold`` bytes, copy with UploadPartCopy in ``part_size`` parts,
    ``parallel`` at a time."""

    threshold: int = COPY_LIMIT
    part_size: int = 512 * 1024**2
    parallel: int = 8


log = logging.getLogger("jupyters3")

T = TypeVar("T")


async def bounded_gather(
    jobs: Sequence[Callable[[], Awaitable[T]]], limit: int, *, label: str = ""
) -> list[T]:
    """Run ``jobs`` with at most ``limit`` in flight; results in order.

    The first failure cancels the jobs not yet finished and is raised.
    Progress is logged every few seconds for long runs.
    """
    semaphore = asyncio.Semaphore(max(1, limit))
    done = 0
    started = last_log = time.monotonic()

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        nonlocal done, last_log
        async with semaphore:
            result = await job()
        done += 1
        now = time.monotonic()
        if label and now - last_log > 5:
            last_log = now
            log.info("%s: %d of %d done in %.1fs", label, done, len(jobs), now - started)
        return result

    tasks = [asyncio.ensure_future(run(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Copier(Protocol):
    """Copies ``source`` to ``destination``; returns the copy's ETag (see
    :func:`copy_object`, whose keywords it takes)."""

    def __call__(
        self,
        source: CopySource,
        destination: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> Awaitable[str]: ...


async def copy_object(
    client: S3Client,
    source: CopySource,
    destination: str,
    *,
    sizes: CopySizes,
    source_client: S3Client | None = None,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    if_match: str | None = None,
    if_none_match: bool = False,
) -> str:
    """Server-side copy of any size: one CopyObject, or a multipart copy above
    ``sizes.threshold``; returns the copy's ETag. With ``metadata`` the copy
    gets it (and ``content_type``); without, it keeps the source's.
    ``if_match``: only over that version of ``destination``; ``if_none_match``:
    only create (412 :class:`~jupyters3.errors.PreconditionFailed` otherwise).
    ``source_client``: the source is in that client's bucket (same S3 service)."""
    reader = source_client or client
    if source_client is not None:
        source = replace(source, bucket=source_client.bucket)
    if source.size <= sizes.threshold:
        replacing = metadata is not None
        result = await client.copy_object(
            source,
            destination,
            metadata_directive="REPLACE" if replacing else "COPY",
            content_type=content_type if replacing else None,
            metadata=metadata,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return result.etag
    if metadata is None or source.etag is None:
        meta = await reader.head_object(source.key, version_id=source.version_id)
        source = replace(source, etag=source.etag or meta.etag)
        if metadata is None:
            metadata, content_type = meta.metadata, meta.content_type
    upload_id = await client.create_multipart_upload(
        destination, content_type=content_type, metadata=metadata
    )
    try:
        size = source.size
        ranges = [
            (number, start, min(start + sizes.part_size, size) - 1)
            for number, start in enumerate(range(0, size, sizes.part_size), start=1)
        ]

        def part(number: int, first: int, last: int) -> Callable[[], Awaitable[str]]:
            return lambda: client.upload_part_copy(
                destination, upload_id, number, source, byte_range=(first, last)
            )

        etags = await bounded_gather(
            [part(*r) for r in ranges], sizes.parallel, label=f"copy {source.key}"
        )
        done = await client.complete_multipart_upload(
            destination,
            upload_id,
            [(r[0], etag) for r, etag in zip(ranges, etags, strict=True)],
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return done.etag
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(client.abort_multipart_upload(destination, upload_id))
        raise


async def copy_keys(
    copy: Copier,
    pairs: Sequence[tuple[str, str]],
    sizes_of: Mapping[str, int],
    *,
    limit: int,
    label: str = "",
    if_none_match: bool = False,
) -> dict[str, str]:
    """Copy each ``(source, destination)`` key pair with ``copy``, metadata
    kept (``if_none_match``: each copy only creates its destination); returns
    each destination's new ETag."""

    def job(source: str, destination: str) -> Callable[[], Awaitable[str]]:
        found = CopySource(source, size=sizes_of.get(source, 0))
        return lambda: copy(found, destination, if_none_match=if_none_match)

    etags = await bounded_gather([job(s, d) for s, d in pairs], limit, label=label)
    return {d: etag for (_, d), etag in zip(pairs, etags, strict=True)}


def delete_error(client: S3Client, failed: Sequence[DeleteError], count: int) -> S3Error:
    """The error for per-key failures of a DeleteObjects of ``count`` keys."""
    first = failed[0]
    # Per-key errors carry S3's codes (AccessDenied, ...): same table as whole requests.
    return error_class(first.code, None)(
        f"{len(failed)} of {count} objects could not be deleted; first: {first.message}",
        code=first.code,
        bucket=client.bucket,
        key=first.key,
        operation="DeleteObjects",
    )


async def delete_keys(client: S3Client, keys: Sequence[str]) -> None:
    """Delete ``keys`` (DeleteObjects, 1,000 per request); raise if any failed."""
    if not keys:
        return
    if len(keys) == 1:
        await client.delete_object(keys[0])
        return
    result = await client.delete_objects(keys)
    if result.errors:
        raise delete_error(client, result.errors, len(keys))


async def delete_if_unchanged(client: S3Client, versions: Mapping[str, str | None]) -> set[str]:
    """Delete each key only while it is the version named (ETag; None: any),
    with ``If-Match`` (one key) or each key's ``<ETag>`` in DeleteObjects.
    Returns the keys kept because they changed; a key already gone counts as
    deleted. Raises the first other per-key error (NotSupported, for a store
    that refuses the condition)."""
    if not versions:
        return set()
    if len(versions) == 1:
        ((key, etag),) = versions.items()
        try:
            await client.delete_object(key, if_match=etag)
        except PreconditionFailed:
            return {key}
        except NotFound as error:
            if isinstance(error, NoSuchBucket):
                raise
        return set()
    result = await client.delete_objects(versions)
    changed: set[str] = set()
    failed = []
    for failure in result.errors:
        kind = error_class(failure.code, None)
        if issubclass(kind, PreconditionFailed):
            changed.add(failure.key)
        elif not issubclass(kind, NotFound):
            failed.append(failure)
    if failed:
        raise delete_error(client, failed, len(versions))
    return changed


async def delete_after_checking(
    client: S3Client, versions: Mapping[str, str | None], *, limit: int
) -> set[str]:
    """:func:`delete_if_unchanged` for stores without conditional deletes: one
    HEAD per key with an ETag right before the deletes. This narrows the
    window in which another writer's version is deleted unseen; it cannot
    close it."""

    def head(key: str) -> Callable[[], Awaitable[str | None]]:
        async def etag() -> str | None:
            try:
                return (await client.head_object(key)).etag
            except NotFound:
                return None

        return etag

    checked = [k for k, etag in versions.items() if etag is not None]
    current = dict(
        zip(checked, await bounded_gather([head(k) for k in checked], limit), strict=True)
    )
    changed = {
        k
        for k in checked
        if (now := current[k]) is not None and now.strip('"') != str(versions[k]).strip('"')
    }
    await delete_keys(client, [k for k in versions if k not in changed])
    return changed
