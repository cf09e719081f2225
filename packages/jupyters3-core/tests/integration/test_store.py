"""S3Store in process, over real HTTP to the moto server, without Jupyter.

Each test is a store behaviour in milliseconds: the write policy (one owner
for every write: conditions, conflicts), the folder rule, restores and key
trees. Another writer is played by an independent boto3 client (``js3_raw``),
which also reads the bucket back.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable

import pytest

from jupyters3 import errors, keys, transfers
from jupyters3.changes import Change, Removed, Written
from jupyters3.contents_errors import FolderInTheWay, MoveIncomplete, SourceMissing, WriteConflict
from jupyters3.http_errors import http_error
from jupyters3.marks import MTIME_META, RENAMED_FROM_META, saved_time
from jupyters3.s3.client import S3Client
from jupyters3.store import S3Store
from jupyters3_testing import FaultProxy
from jupyters3_testing.faults import RequestInfo
from jupyters3_testing.raw import RawS3

PREFIX = "pre/"


@pytest.fixture
async def store(js3_make_client: Callable[..., S3Client]) -> AsyncIterator[S3Store]:
    yield S3Store(js3_make_client, keys.KeyMap(PREFIX), conditional_writes="on")
    # js3_make_client closes the clients it made


async def test_a_write_reads_back_byte_exact_with_its_save_time(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    data = bytes(range(256)) * 5
    saved = await store.write("d/a.bin", data, "application/octet-stream")
    assert js3_raw.get(js3_bucket, "pre/d/a.bin") == data
    meta, read = await store.read("d/a.bin")
    assert read == data and saved_time(meta) == saved
    assert meta.metadata[MTIME_META] == saved.isoformat()
    assert store.versions.basis("d/a.bin") == meta.etag


async def test_a_write_over_a_version_another_writer_replaced_is_refused(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    await store.write("a.txt", b"mine v1", "text/plain")
    js3_raw.put(js3_bucket, "pre/a.txt", b"theirs v2")
    with pytest.raises(WriteConflict) as conflict:
        await store.write("a.txt", b"mine v2", "text/plain")
    assert not conflict.value.created and http_error(conflict.value).status_code == 409
    assert js3_raw.get(js3_bucket, "pre/a.txt") == b"theirs v2"


async def test_a_creation_over_an_existing_object_is_refused(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_raw.put(js3_bucket, "pre/new.txt", b"theirs")
    with pytest.raises(WriteConflict) as conflict:
        await store.write("new.txt", b"mine", "text/plain", creating=True)
    assert conflict.value.created
    assert js3_raw.get(js3_bucket, "pre/new.txt") == b"theirs"


async def test_a_restore_over_a_newer_version_is_refused_and_keeps_it(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    await store.write("nb.txt", b"v1", "text/plain")
    checkpoint = store.keymap.checkpoint_key("nb.txt", "cp1")
    await store.copy("nb.txt", store.keymap.file_key("nb.txt"), checkpoint, 2)
    await store.write("nb.txt", b"v2", "text/plain")  # this server's own newer save
    js3_raw.put(js3_bucket, "pre/nb.txt", b"v3 from elsewhere")
    with pytest.raises(WriteConflict):
        await store.restore("nb.txt", checkpoint)
    assert js3_raw.get(js3_bucket, "pre/nb.txt") == b"v3 from elsewhere"
    await store.read("nb.txt")  # seen here now: the restore may replace it
    await store.restore("nb.txt", checkpoint)
    assert js3_raw.get(js3_bucket, "pre/nb.txt") == b"v1"
    with pytest.raises(SourceMissing):
        await store.restore("nb.txt", store.keymap.checkpoint_key("nb.txt", "gone"))


async def test_only_checkpoints_under_a_name_is_no_folder(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_raw.put(js3_bucket, "pre/f.txt", b"x")
    js3_raw.put(js3_bucket, "pre/f.txt/.checkpoints/cp", b"x")
    js3_raw.put(js3_bucket, "pre/d/inner.txt", b"y")
    assert await store.list_dir("f.txt") is None
    assert not await store.is_dir("f.txt")
    assert await store.folder_listing("f.txt") == (False, True)
    assert await store.child_names("") == {"f.txt", "d"}
    assert await store.child_names("d") == {"inner.txt"}
    assert await store.check_not_a_folder("f.txt") is True
    with pytest.raises(FolderInTheWay):
        await store.check_not_a_folder("d")


async def test_a_path_known_free_needs_no_listing(store: S3Store, js3_raw: RawS3) -> None:
    store.versions.free("free.txt")
    store._client = None
    store._connect = _refuse  # any S3 request now fails the test
    assert await store.check_not_a_folder("free.txt") is False


def _refuse() -> S3Client:
    raise AssertionError("no S3 request was expected")


async def test_a_tree_is_copied_key_by_key_and_deleted_only_as_listed(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    # (Each copy is a creation, If-None-Match: *; moto does not enforce it on
    # CopyObject, so the refusal is covered by the unit tests of writes.)
    for name in ("a", "b"):
        js3_raw.put(js3_bucket, f"pre/src/{name}", name.encode())
    tree = await store.tree("src")
    assert {k: o.size for k, o in tree.items()} == {"pre/src/a": 1, "pre/src/b": 1}
    await store.copy_tree("dst2", [(k, k.replace("src", "dst2")) for k in tree], tree)
    assert sorted(js3_raw.keys(js3_bucket, "pre/dst2/")) == ["pre/dst2/a", "pre/dst2/b"]
    js3_raw.put(js3_bucket, "pre/src/b", b"changed by another writer")
    kept = await store.delete_versions({k: o.etag for k, o in tree.items()})
    assert kept == {"pre/src/b"}  # a version nobody listed here is never deleted
    assert js3_raw.keys(js3_bucket, "pre/src/") == ["pre/src/b"]
    assert await store.delete_versions({"pre/src/b": tree["pre/src/b"].etag}) == {"pre/src/b"}
    assert await store.delete_versions({"pre/src/b": None, "pre/src/gone": "x"}) == set()
    assert js3_raw.keys(js3_bucket, "pre/src/") == []


async def test_a_renames_marker_names_its_source_then_is_made_plain(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    await store.mkdir("to", renamed_from="from folder")
    assert js3_raw.head(js3_bucket, "pre/to/")["Metadata"] == {RENAMED_FROM_META: "from%20folder"}
    with pytest.raises(WriteConflict):  # a second rename into it is not a creation
        await store.mkdir("to", renamed_from="other")
    await store.mkdir("to")
    assert js3_raw.head(js3_bucket, "pre/to/")["Metadata"] == {}
    assert await store.head("to") is None and await store.is_dir("to")


async def test_a_read_over_the_limit_says_the_size(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_raw.put(js3_bucket, "pre/big.bin", b"x" * 5000)
    with pytest.raises(errors.BodyTooLarge) as too_large:
        await store.read("big.bin", max_size=1000)
    assert (too_large.value.size, too_large.value.limit) == (5000, 1000)


async def test_without_conditional_deletes_a_head_checks_each_version_first(
    js3_make_client: Callable[..., S3Client], js3_raw: RawS3, js3_bucket: str
) -> None:
    store = S3Store(js3_make_client, keys.KeyMap(PREFIX), conditional_writes="off")
    for name in ("a", "b", "c"):
        js3_raw.put(js3_bucket, f"pre/d/{name}", name.encode())
    listed = await store.tree("d")
    js3_raw.put(js3_bucket, "pre/d/c", b"changed")
    kept = await store.delete_versions({k: o.etag for k, o in listed.items()})
    assert kept == {"pre/d/c"}
    assert js3_raw.keys(js3_bucket, "pre/d/") == ["pre/d/c"]


async def test_a_source_copied_again_never_replaces_a_save_made_at_its_new_path(
    js3_make_client: Callable[..., S3Client],
    js3_fault_proxy: FaultProxy,
    js3_raw: RawS3,
    js3_bucket: str,
) -> None:
    """Between a rename's copy and its delete, another server saves the source
    (v2) and, at the new path, a file based on the copy (v3). The source is
    copied again only over its own copy: here that copy changed, so v2 stays
    at the old path (409) and v3 is kept. Moto ignores If-Match on CopyObject:
    only the HEAD with If-Match beside the source's HEAD keeps v3."""
    store = S3Store(
        lambda **_: js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url),
        keys.KeyMap(PREFIX),
        conditional_writes="on",
    )
    await store.write("old/a.txt", b"v1", "text/plain")
    saved: list[str] = []

    def other_server(req: RequestInfo) -> None:
        deleting = req.method == "DELETE" or (req.method == "POST" and "delete" in req.query)
        if deleting and not saved:
            js3_raw.put(js3_bucket, "pre/old/a.txt", b"v2, saved at the old path")
            js3_raw.put(js3_bucket, "pre/new/a.txt", b"v3, saved at the new path")
            saved.append(req.method)
        return None

    js3_fault_proxy.configure(rule=other_server)
    src_tree = await store.tree("old")
    with pytest.raises(MoveIncomplete) as left:
        await transfers.move(store, store, "old", "new", None, src_tree, resuming=False)
    js3_fault_proxy.configure()
    assert saved and left.value.left == ["old/a.txt"]
    assert js3_raw.get(js3_bucket, "pre/old/a.txt") == b"v2, saved at the old path"
    assert js3_raw.get(js3_bucket, "pre/new/a.txt") == b"v3, saved at the new path"


async def test_every_write_and_delete_is_announced_once_it_succeeded(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    """The store's changes: what a listing cache or a working folder follows.
    Each event matches what S3 then holds (key, size, ETag)."""
    seen: list[Change] = []
    unsubscribe = store.changes.subscribe(seen.append)
    saved = await store.write("d/a.txt", b"hello", "text/plain")
    await store.mkdir("d/sub")
    meta = await store.head("d/a.txt")
    assert meta is not None
    await store.copy("d/b.txt", "pre/d/a.txt", "pre/d/b.txt", meta)
    listed = await store.tree("d")
    await store.copy_tree("e", [("pre/d/a.txt", "pre/e/a.txt")], listed)
    with pytest.raises(WriteConflict):  # a failed write announces nothing
        await store.write("d/a.txt", b"x", "text/plain", creating=True)
    await store.delete_versions({"pre/d/b.txt": None, "pre/e/a.txt": None})
    await store.delete_keys(["pre/d/sub/"])
    written = [c for c in seen if isinstance(c, Written)]
    assert [c.key for c in written] == ["pre/d/a.txt", "pre/d/sub/", "pre/d/b.txt", "pre/e/a.txt"]
    assert written[0].saved == saved and written[0].size == 5
    assert [c.size for c in written] == [5, 0, 5, 5]
    assert written[0].etag == meta.etag == written[2].etag == written[3].etag  # copies of one
    assert written[1].etag == hashlib.md5(b"").hexdigest()  # the marker's: empty
    removed = [c for c in seen if isinstance(c, Removed)]
    assert [set(c.keys) for c in removed] == [{"pre/d/b.txt", "pre/e/a.txt"}, {"pre/d/sub/"}]
    unsubscribe()
    await store.write("d/c.txt", b"", "text/plain")
    assert len(seen) == 6


async def test_a_listener_that_fails_is_dropped_and_the_write_stands(
    store: S3Store, js3_raw: RawS3, js3_bucket: str
) -> None:
    calls: list[Change] = []

    def broken(change: Change) -> None:
        calls.append(change)
        raise RuntimeError("listener bug")

    store.changes.subscribe(broken)
    await store.write("f/a.txt", b"1", "text/plain")
    await store.write("f/b.txt", b"2", "text/plain")
    assert len(calls) == 1 and js3_raw.get(js3_bucket, "pre/f/b.txt") == b"2"
