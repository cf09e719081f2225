"""Operations on whole key trees (a file with its checkpoints, or a folder).

Copies run with bounded concurrency; sources are deleted only after every
copy succeeded, so a failure midway loses nothing: the source tree is intact
and a partial copy may exist at the destination (repeating the operation
finishes it, since copies are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from jupyters3.errors import S3Error
from jupyters3.s3.client import S3Client

__all__ = ["bounded_gather", "copy_keys", "delete_keys", "list_tree"]

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


async def list_tree(client: S3Client, prefix: str) -> list[str]:
    """Every key under ``prefix`` (which ends with ``/``), all pages."""
    objects, _ = await client.list_all(prefix)
    return [o.key for o in objects]


async def copy_keys(
    client: S3Client,
    pairs: Sequence[tuple[str, str]],
    *,
    limit: int,
    label: str = "",
) -> None:
    """Server-side copy each ``(source, destination)`` key pair."""

    def job(source: str, destination: str) -> Callable[[], Awaitable[object]]:
        return lambda: client.copy_object(source, destination)

    await bounded_gather([job(s, d) for s, d in pairs], limit, label=label)


async def delete_keys(client: S3Client, keys: Sequence[str]) -> None:
    """Delete ``keys`` (DeleteObjects, 1,000 per request); raise if any failed."""
    if not keys:
        return
    if len(keys) == 1:
        await client.delete_object(keys[0])
        return
    result = await client.delete_objects(keys)
    if result.errors:
        first = result.errors[0]
        raise S3Error(
            f"{len(result.errors)} of {len(keys)} objects could not be deleted; "
            f"first: {first.message}",
            code=first.code,
            bucket=client.bucket,
            key=first.key,
            operation="DeleteObjects",
        )
