"""S3Client against a real moto S3 server, checked through an independent inspector."""

import asyncio
import hashlib
import os

import pytest

from jupyters3 import errors
from jupyters3.s3.client import FileBody, IterBody

# Every character the brief names, plus unicode, spaces, `//`, `.` and `..` segments.
AWKWARD_KEYS = [
    "plain.txt",
    "with space/and ünïcödé 文件.ipynb",
    "punct/+ = & % ? # ~ : , ' ! * $ @ ; ( ).txt",
    "a//double/slash",
    "dots/./single/../double",
    "deep/" + "/".join(f"level{i}" for i in range(30)) + "/leaf",
    "trailing space ",
    "emoji/🚀 launch.md",
    "percent%2Fencoded%20looking",
]


async def test_put_get_head_round_trip(js3_make_client, js3_bucket, js3_raw):
    """Bytes, content type and metadata round-trip; the ETag is the MD5."""
    client = js3_make_client()
    data = os.urandom(100_000)

    put = await client.put_object(
        "dir/blob.bin", data, content_type="image/jpeg", metadata={"Origin": "test"}
    )
    meta = await client.head_object("dir/blob.bin")
    got_meta, got = await client.get_object("dir/blob.bin")

    assert got == data
    assert js3_raw.get(js3_bucket, "dir/blob.bin") == data
    assert put.etag == hashlib.md5(data).hexdigest() == meta.etag == got_meta.etag
    assert meta.size == len(data)
    assert meta.content_type == "image/jpeg"
    assert meta.metadata == {"origin": "test"}
    assert meta.last_modified.tzinfo is not None


@pytest.mark.parametrize("key", AWKWARD_KEYS)
async def test_awkward_keys_round_trip_through_every_call(
    js3_make_client, js3_bucket, js3_raw, key
):
    """Each awkward key is stored exactly as given, listed, copied and deleted."""
    client = js3_make_client()
    body = key.encode()

    await client.put_object(key, body, content_type="text/plain")
    assert js3_raw.keys(js3_bucket) == [key]
    assert (await client.head_object(key)).size == len(body)
    assert (await client.get_object(key))[1] == body
    objects, _ = await client.list_all(key[: max(1, len(key) // 2)])
    assert [o.key for o in objects] == [key]

    await client.copy_object(key, key + ".copy")
    assert js3_raw.get(js3_bucket, key + ".copy") == body
    await client.delete_objects([key + ".copy"])
    await client.delete_object(key)
    assert js3_raw.keys(js3_bucket) == []


async def test_listing_2500_keys_iterates_every_page(js3_make_client, js3_bucket, js3_fault_proxy):
    """2,500 keys come back in three pages of at most 1,000, in order."""
    seed = js3_make_client()
    keys = [f"many/{i:05d}.txt" for i in range(2500)]
    limit = asyncio.Semaphore(32)

    async def put(key):
        async with limit:
            await seed.put_object(key, b"x")

    await asyncio.gather(*(put(k) for k in keys))
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)
    js3_fault_proxy.clear()

    pages = [page async for page in client.list_pages("many/")]

    assert [len(p.objects) for p in pages] == [1000, 1000, 500]
    assert [o.key for p in pages for o in p.objects] == keys
    assert js3_fault_proxy.count("GET", bucket=js3_bucket) == 3


async def test_delimiter_listing_gives_folders_and_files(js3_make_client):
    """With a delimiter, sub-folders are common prefixes, files are objects."""
    client = js3_make_client()
    for key in ["top/a.txt", "top/sub/b.txt", "top/sub/c/d.txt", "top/other dir/", "top2/x"]:
        await client.put_object(key, b"")

    objects, prefixes = await client.list_all("top/", delimiter="/")

    assert [o.key for o in objects] == ["top/a.txt"]
    assert prefixes == ["top/other dir/", "top/sub/"]


async def test_get_range_and_streamed_get(js3_make_client):
    """Range reads return exactly the bytes asked for; streaming delivers all of it."""
    client = js3_make_client()
    data = os.urandom(3 * 1024 * 1024 + 17)
    await client.put_object("r.bin", data)

    meta, part = await client.get_object("r.bin", byte_range=(10, 19))
    assert part == data[10:20]
    assert meta.size == len(data)
    _, tail = await client.get_object("r.bin", byte_range=(len(data) - 5, None))
    assert tail == data[-5:]

    chunks = []

    async def sink(chunk):
        chunks.append(chunk)

    streamed = await client.get_object_stream("r.bin", sink)
    assert b"".join(chunks) == data
    assert streamed.size == len(data)
    assert len(chunks) > 1


async def test_streamed_put_bodies(js3_make_client, js3_bucket, js3_raw, tmp_path):
    """A file range and a one-shot async iterator upload byte-exact."""
    client = js3_make_client()
    data = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "src.bin"
    path.write_bytes(data)

    await client.put_object("file.bin", FileBody(str(path), offset=5, length=len(data) - 5))
    assert js3_raw.get(js3_bucket, "file.bin") == data[5:]

    async def gen():
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    await client.put_object("iter.bin", IterBody(gen(), len(data)))
    assert js3_raw.get(js3_bucket, "iter.bin") == data


async def test_conditional_puts(js3_make_client, js3_bucket, js3_raw):
    """If-None-Match:* creates only; If-Match writes only over the known version."""
    client = js3_make_client()
    first = await client.put_object("c.txt", b"v1", if_none_match=True)

    with pytest.raises(errors.PreconditionFailed) as info:
        await client.put_object("c.txt", b"v2", if_none_match=True)
    assert info.value.status == 412
    assert "c.txt" in str(info.value)

    with pytest.raises(errors.PreconditionFailed):
        await client.put_object("c.txt", b"v2", if_match="0" * 32)
    assert js3_raw.get(js3_bucket, "c.txt") == b"v1"

    await client.put_object("c.txt", b"v2", if_match=first.etag)
    assert js3_raw.get(js3_bucket, "c.txt") == b"v2"

    with pytest.raises(errors.NotFound):
        await client.put_object("missing.txt", b"v", if_match=first.etag)


async def test_copy_object_metadata_directive(js3_make_client, js3_bucket, js3_raw):
    """COPY keeps the source's type; REPLACE sets a new one, even onto itself."""
    client = js3_make_client()
    await client.put_object("src.txt", b"hello", content_type="text/plain")

    result = await client.copy_object("src.txt", "dst.txt")
    assert result.etag == hashlib.md5(b"hello").hexdigest()
    assert result.last_modified is not None
    assert js3_raw.head(js3_bucket, "dst.txt")["ContentType"] == "text/plain"

    await client.copy_object(
        "src.txt", "src.txt", metadata_directive="REPLACE", content_type="text/markdown"
    )
    assert js3_raw.head(js3_bucket, "src.txt")["ContentType"] == "text/markdown"
    assert js3_raw.get(js3_bucket, "src.txt") == b"hello"

    with pytest.raises(errors.NotFound):
        await client.copy_object("nope.txt", "x.txt")
    # (moto 5.2 ignores x-amz-copy-source-if-match, so that header is only
    # unit-tested through the signer, not here.)


async def test_multipart_upload_20_mib(js3_make_client, js3_bucket, js3_raw):
    """Four parts (5+5+5+5 MiB) uploaded out of order complete into one object."""
    client = js3_make_client()
    data = os.urandom(20 * 1024 * 1024)
    part = 5 * 1024 * 1024
    upload_id = await client.create_multipart_upload("big.bin", content_type="application/x-big")
    assert [u["UploadId"] for u in js3_raw.multipart_uploads(js3_bucket)] == [upload_id]

    etags = await asyncio.gather(
        *(
            client.upload_part("big.bin", upload_id, n + 1, data[n * part : (n + 1) * part])
            for n in reversed(range(4))
        )
    )
    parts = list(zip(range(4, 0, -1), etags, strict=True))
    result = await client.complete_multipart_upload("big.bin", upload_id, parts)

    assert result.etag.endswith("-4")
    assert js3_raw.get(js3_bucket, "big.bin") == data
    assert js3_raw.head(js3_bucket, "big.bin")["ContentType"] == "application/x-big"
    assert js3_raw.multipart_uploads(js3_bucket) == []


async def test_multipart_copy_and_abort(js3_make_client, js3_bucket, js3_raw):
    """UploadPartCopy assembles an object from ranges of another; abort discards."""
    client = js3_make_client()
    data = os.urandom(11 * 1024 * 1024)
    await client.put_object("source.bin", data)
    split = 6 * 1024 * 1024

    upload_id = await client.create_multipart_upload("copy.bin")
    e1 = await client.upload_part_copy(
        "copy.bin", upload_id, 1, "source.bin", byte_range=(0, split - 1)
    )
    e2 = await client.upload_part_copy(
        "copy.bin", upload_id, 2, "source.bin", byte_range=(split, len(data) - 1)
    )
    await client.complete_multipart_upload("copy.bin", upload_id, [(1, e1), (2, e2)])
    assert js3_raw.get(js3_bucket, "copy.bin") == data

    doomed = await client.create_multipart_upload("doomed.bin")
    await client.upload_part("doomed.bin", doomed, 1, b"x" * 100)
    listed = await client.list_multipart_uploads()
    assert [(u.key, u.upload_id) for u in listed] == [("doomed.bin", doomed)]
    await client.abort_multipart_upload("doomed.bin", doomed)
    assert await client.list_multipart_uploads() == []
    assert not js3_raw.exists(js3_bucket, "doomed.bin")
    with pytest.raises(errors.NotFound):
        await client.abort_multipart_upload("doomed.bin", doomed)


async def test_multipart_part_too_small_is_invalid_request(js3_make_client):
    """S3's 5 MiB minimum on non-last parts surfaces as InvalidRequest."""
    client = js3_make_client()
    upload_id = await client.create_multipart_upload("small.bin")
    e1 = await client.upload_part("small.bin", upload_id, 1, b"a" * 1024)
    e2 = await client.upload_part("small.bin", upload_id, 2, b"b" * 1024)

    with pytest.raises(errors.InvalidRequest) as info:
        await client.complete_multipart_upload("small.bin", upload_id, [(1, e1), (2, e2)])
    assert info.value.code == "EntityTooSmall"
    with pytest.raises(ValueError, match="part number"):
        await client.upload_part("small.bin", upload_id, 10_001, b"x")


async def test_delete_objects_1500_keys_in_two_batches(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """1,500 keys are deleted with two DeleteObjects requests (1,000 + 500)."""
    seed = js3_make_client()
    keys = [f"del/{i:04d} ü.txt" for i in range(1500)]
    limit = asyncio.Semaphore(32)

    async def put(key):
        async with limit:
            await seed.put_object(key, b"")

    await asyncio.gather(*(put(k) for k in keys))
    await seed.put_object("keep/me.txt", b"keep")
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    result = await client.delete_objects(keys)

    assert sorted(result.deleted) == sorted(keys)
    assert result.errors == []
    posts = [r for r in js3_fault_proxy.records() if r.method == "POST"]
    assert [r.query for r in posts] == [{"delete": ""}, {"delete": ""}]
    assert js3_raw.keys(js3_bucket) == ["keep/me.txt"]


async def test_delete_object_and_conditional_delete(js3_make_client, js3_bucket, js3_raw):
    """DeleteObject succeeds for missing keys; If-Match protects newer versions."""
    client = js3_make_client()
    await client.delete_object("never-existed")
    put = await client.put_object("d.txt", b"1")

    with pytest.raises(errors.PreconditionFailed):
        await client.delete_object("d.txt", if_match="0" * 32)
    assert js3_raw.exists(js3_bucket, "d.txt")
    await client.delete_object("d.txt", if_match=put.etag)
    assert not js3_raw.exists(js3_bucket, "d.txt")


async def test_errors_for_missing_things(js3_make_client, js3_bucket):
    """Missing keys and buckets raise the domain errors with useful messages."""
    client = js3_make_client()

    with pytest.raises(errors.NotFound) as got:
        await client.get_object("no/such key.txt")
    assert got.value.code == "NoSuchKey"
    assert "no/such key.txt" in str(got.value)
    assert js3_bucket in str(got.value)

    with pytest.raises(errors.NotFound) as head:
        await client.head_object("no/such key.txt")
    assert head.value.status == 404

    missing = js3_make_client(bucket="js3-no-such-bucket-anywhere")
    with pytest.raises(errors.NoSuchBucket):
        await missing.put_object("k", b"v")
    with pytest.raises(errors.NotFound):
        await missing.head_bucket()


async def test_create_and_head_bucket(js3_make_client, js3_bucket_name):
    """create_bucket makes the bucket; head_bucket then succeeds."""
    client = js3_make_client(bucket=js3_bucket_name + "-new")
    with pytest.raises(errors.NotFound):
        await client.head_bucket()

    await client.create_bucket()

    await client.head_bucket()


async def test_streams_objects_over_100_mib(js3_make_client, js3_raw, js3_bucket):
    """Tornado caps bodies at 100 MiB by default; a streamed download is not capped."""
    import hashlib

    size = 100 * 1024 * 1024 + 12345
    block = os.urandom(1024 * 1024)
    data = (block * 101)[:size]
    js3_raw.put(js3_bucket, "huge.bin", data)
    client = js3_make_client()
    digest = hashlib.sha256()
    received = 0

    def sink(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        digest.update(chunk)

    meta = await client.get_object_stream("huge.bin", sink)
    assert meta.size == received == size
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
