"""Copies streamed between two S3 clients (streamcopy), over real HTTP to moto.

The two clients point at two buckets of one moto server: streamcopy does not
care whether they are one service or two, it only reads from one and writes
to the other. The target bucket is read back with boto3 (``js3_raw``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyters3 import errors, streamcopy
from jupyters3.s3.client import CopySource, S3Client
from jupyters3_testing import MotoServer
from jupyters3_testing.raw import RawS3

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part


@pytest.fixture
def target_bucket(js3_moto_server: MotoServer, js3_region: str) -> str:
    name = f"js3-target-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(name, js3_region)
    return name


def _data(size: int) -> bytes:
    block = hashlib.sha256(str(size).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


async def test_a_small_object_is_one_get_and_one_put_with_its_metadata(
    js3_make_client: Callable[..., S3Client], target_bucket: str, js3_raw: RawS3
) -> None:
    source, target = js3_make_client(), js3_make_client(bucket=target_bucket)
    await source.put_object("a.txt", b"small", content_type="text/x-a", metadata={"k": "v"})
    etag = await streamcopy.copy_object(source, target, CopySource("a.txt", 5), "b/a.txt")
    head = js3_raw.head(target_bucket, "b/a.txt")
    assert js3_raw.get(target_bucket, "b/a.txt") == b"small"
    assert head["ContentType"] == "text/x-a" and head["Metadata"] == {"k": "v"}
    assert head["ETag"].strip('"') == etag


@pytest.mark.parametrize("listed_size", ["exact", "unknown"])
async def test_a_large_object_goes_part_by_part_byte_exact(
    js3_make_client: Callable[..., S3Client],
    target_bucket: str,
    js3_raw: RawS3,
    listed_size: str,
) -> None:
    source, target = js3_make_client(), js3_make_client(bucket=target_bucket)
    data = _data(2 * PART + 12345)
    await source.put_object("big.bin", data, metadata={"k": "v"})
    size = len(data) if listed_size == "exact" else 0  # 0: a GET refused unread, then parts
    await streamcopy.copy_object(
        source, target, CopySource("big.bin", size), "big.bin", part_size=PART
    )
    assert js3_raw.get(target_bucket, "big.bin") == data
    assert js3_raw.head(target_bucket, "big.bin")["Metadata"] == {"k": "v"}
    assert js3_raw.multipart_uploads(target_bucket) == []


async def test_the_target_takes_the_write_conditions(
    js3_make_client: Callable[..., S3Client], target_bucket: str, js3_raw: RawS3
) -> None:
    source, target = js3_make_client(), js3_make_client(bucket=target_bucket)
    await source.put_object("a.txt", b"new")
    js3_raw.put(target_bucket, "a.txt", b"there already")
    with pytest.raises(errors.PreconditionFailed):
        await streamcopy.copy_object(
            source, target, CopySource("a.txt", 3), "a.txt", if_none_match=True
        )
    assert js3_raw.get(target_bucket, "a.txt") == b"there already"


async def test_a_source_that_changed_is_not_copied_and_leaves_no_upload(
    js3_make_client: Callable[..., S3Client], target_bucket: str, js3_raw: RawS3, js3_bucket: str
) -> None:
    source, target = js3_make_client(), js3_make_client(bucket=target_bucket)
    data = _data(2 * PART + 1)
    listed = await source.put_object("big.bin", data)
    js3_raw.put(js3_bucket, "big.bin", b"replaced meanwhile" * 1000)
    with pytest.raises(errors.PreconditionFailed):
        await streamcopy.copy_object(
            source,
            target,
            CopySource("big.bin", len(data), listed.etag),
            "big.bin",
            part_size=PART,
            metadata={},
        )
    assert not js3_raw.exists(target_bucket, "big.bin")
    assert js3_raw.multipart_uploads(target_bucket) == []


async def test_an_object_too_large_for_10000_parts_in_memory_goes_through_files(
    js3_make_client: Callable[..., S3Client],
    target_bucket: str,
    js3_raw: RawS3,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With at most 2 parts allowed, a 3-part object needs parts over part_size:
    each is streamed to a temporary file, then uploaded from it; the copy is
    byte-exact and no temporary file is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    source, target = js3_make_client(), js3_make_client(bucket=target_bucket)
    data = _data(2 * PART + 777)
    await source.put_object("huge.bin", data)
    seen: list[str] = []
    real_spool = streamcopy._spool

    async def spool(*args: Any) -> Any:  # the file parts, counted as they are made
        body = await real_spool(*args)
        seen.append(body.path)
        return body

    monkeypatch.setattr(streamcopy, "_spool", spool)
    await streamcopy.copy_object(
        source, target, CopySource("huge.bin", len(data)), "huge.bin", part_size=PART, max_parts=2
    )
    assert js3_raw.get(target_bucket, "huge.bin") == data
    assert js3_raw.head(target_bucket, "huge.bin")["ETag"].strip('"').endswith("-2")
    assert len(seen) == 2 and all(path.startswith(str(tmp_path)) for path in seen)
    assert js3_raw.multipart_uploads(target_bucket) == []
    assert os.listdir(tmp_path) == []
