"""JupyterS3 called as jupyter_server calls it, in process, over real HTTP to moto.

One test per behaviour that jupyter_server's own contents suite or JupyterLab
expects of a contents manager (issue 13): checkpoint order and models, renames
onto existing paths, the hidden-path rule for writes, chunked uploads that
start over, the reference's messages, ``hash_algorithm``, the notebook
signature store, and names that clash between files and folders. The bucket is
read back with an independent boto3 client (``js3_raw``).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from nbformat.sign import NotebookNotary
from nbformat.v4 import new_code_cell, new_notebook
from tornado.web import HTTPError
from traitlets import TraitError

from jupyters3 import AwsCreds, JupyterS3, JupyterS3Authentication
from jupyters3.marks import MTIME_META, RENAMED_FROM_META
from jupyters3_testing import FaultProxy, MotoServer
from jupyters3_testing.raw import RawS3


@pytest.fixture
async def cm(
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_region: str,
    js3_credentials: AwsCreds,
    tmp_path: Path,
) -> AsyncIterator[JupyterS3]:
    class TestCredentials(JupyterS3Authentication):
        async def get_credentials(self) -> AwsCreds:
            return js3_credentials

    manager = JupyterS3(
        aws_s3_bucket=js3_bucket,
        endpoint_url=js3_moto_server.endpoint_url,
        aws_region=js3_region,
        authentication_class=TestCredentials,
        check_on_start=False,
        abandoned_upload_age=-1,
    )
    (tmp_path / "notary").mkdir()
    manager.notary = NotebookNotary(data_dir=str(tmp_path / "notary"))
    yield manager
    manager.store.close()


def status(error: pytest.ExceptionInfo[HTTPError]) -> tuple[int, str]:
    return error.value.status_code, error.value.log_message or ""


def text_model(content: str) -> dict[str, Any]:
    return {"type": "file", "format": "text", "content": content}


def chunk(number: int, data: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {"type": "file", "format": "base64", "content": encoded, "chunk": number}


# -- checkpoints ----------------------------------------------------------------


async def test_checkpoints_are_listed_oldest_first_with_the_model_create_returned(
    cm: JupyterS3,
) -> None:
    await cm.save(text_model("v1"), "a.txt")
    created = []
    for version in ("v1", "v2", "v3"):
        await cm.save(text_model(version), "a.txt")
        created.append(await cm.create_checkpoint("a.txt"))
    listed = await cm.list_checkpoints("a.txt")
    # JupyterLab takes the last entry as the newest ("Last Checkpoint").
    assert listed == created
    assert [c["last_modified"] for c in listed] == sorted(c["last_modified"] for c in listed)
    assert listed[0]["last_modified"] < listed[-1]["last_modified"]

    await cm.restore_checkpoint(listed[-1]["id"], "a.txt")
    assert (await cm.get("a.txt"))["content"] == "v3"
    assert await cm.list_checkpoints("a.txt") == created  # restoring changes none


async def test_max_checkpoints_keeps_the_newest(cm: JupyterS3, js3_raw: RawS3) -> None:
    cm.max_checkpoints = 2
    await cm.save(text_model("x"), "b.txt")
    made = [(await cm.create_checkpoint("b.txt"))["id"] for _ in range(4)]
    assert [c["id"] for c in await cm.list_checkpoints("b.txt")] == made[-2:]


# -- renames onto existing paths ---------------------------------------------------


async def test_a_rename_onto_an_identical_file_is_409_and_keeps_both(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str
) -> None:
    nb = {"type": "notebook", "content": new_notebook()}
    await cm.save(nb, "a.ipynb")
    await cm.save(nb, "b.ipynb")
    assert js3_raw.get(js3_bucket, "a.ipynb") == js3_raw.get(js3_bucket, "b.ipynb")
    with pytest.raises(HTTPError) as error:
        await cm.rename("a.ipynb", "b.ipynb")
    assert status(error) == (409, "File already exists: b.ipynb")
    assert js3_raw.exists(js3_bucket, "a.ipynb")
    assert js3_raw.exists(js3_bucket, "b.ipynb")


async def test_an_interrupted_file_rename_is_finished_by_its_mark_only(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str
) -> None:
    await cm.save(text_model("moving"), "src.txt")
    source = js3_raw.head(js3_bucket, "src.txt")
    # What a rename's copy leaves when the server dies before the delete: the
    # source's version (save time included), marked with where it came from.
    metadata = {**source["Metadata"], RENAMED_FROM_META: quote("src.txt")}
    js3_raw.client.copy_object(
        Bucket=js3_bucket,
        Key="dst.txt",
        CopySource={"Bucket": js3_bucket, "Key": "src.txt"},
        Metadata=metadata,
        MetadataDirective="REPLACE",
        ContentType=source["ContentType"],
    )
    await cm.rename("src.txt", "dst.txt")
    assert js3_raw.get(js3_bucket, "dst.txt") == b"moving"
    assert not js3_raw.exists(js3_bucket, "src.txt")

    # The same mark on a different version of the source (saved again since)
    # is another file: 409.
    await cm.save(text_model("moving"), "src.txt")
    with pytest.raises(HTTPError) as error:
        await cm.rename("src.txt", "dst.txt")
    assert status(error)[0] == 409
    head = js3_raw.head(js3_bucket, "dst.txt")
    assert head["Metadata"][RENAMED_FROM_META] == "src.txt"
    assert (
        head["Metadata"][MTIME_META] != js3_raw.head(js3_bucket, "src.txt")["Metadata"][MTIME_META]
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [("foo", "bar"), ("foo/bar", "foo/bar/foo"), ("foo", "foo/bar")],
)
async def test_a_rename_onto_an_existing_folder_is_409_even_into_itself(
    cm: JupyterS3, source: str, target: str
) -> None:
    for folder in ("foo", "bar", "foo/bar", "foo/bar/foo"):
        await cm.new({"type": "directory"}, folder)
        await cm.new(path=f"{folder}/nb.ipynb")
    with pytest.raises(HTTPError) as error:
        await cm.rename(source, target)
    assert status(error)[0] == 409


async def test_a_rename_into_itself_is_400(cm: JupyterS3) -> None:
    await cm.new({"type": "directory"}, "foo")
    with pytest.raises(HTTPError) as error:
        await cm.rename("foo", "foo/inner")
    assert status(error) == (400, "Cannot move foo into itself")


# -- hidden paths ------------------------------------------------------------------

HIDDEN_WRITES = {
    "save into a hidden folder": lambda cm: cm.save(text_model("x"), ".hidden/visible.txt"),
    "save a hidden file": lambda cm: cm.save(text_model("x"), "visible/.hidden.txt"),
    "new in a hidden folder": lambda cm: cm.new(path=".hidden/visible.txt"),
    "new hidden folder": lambda cm: cm.new({"type": "directory"}, ".newdir"),
    "chunk into a hidden folder": lambda cm: cm.save(chunk(1, b"x"), ".hidden/up.bin"),
    "copy into a hidden folder": lambda cm: cm.copy("visible/v.txt", ".hidden"),
    "copy out of a hidden folder": lambda cm: cm.copy(".hidden/h.txt", "visible"),
    "rename to a hidden name": lambda cm: cm.rename("visible/v.txt", "visible/.v.txt"),
    "rename out of a hidden folder": lambda cm: cm.rename(".hidden/h.txt", "h.txt"),
    "delete in a hidden folder": lambda cm: cm.delete(".hidden/h.txt"),
}


@pytest.mark.parametrize("write", HIDDEN_WRITES)
async def test_writes_naming_a_hidden_path_are_400_and_write_nothing(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str, write: str
) -> None:
    js3_raw.put(js3_bucket, ".hidden/h.txt", b"h")
    js3_raw.put(js3_bucket, "visible/v.txt", b"v")
    before = {k: js3_raw.get(js3_bucket, k) for k in js3_raw.keys(js3_bucket)}
    with pytest.raises(HTTPError) as error:
        await HIDDEN_WRITES[write](cm)
    assert status(error)[0] == 400
    assert {k: js3_raw.get(js3_bucket, k) for k in js3_raw.keys(js3_bucket)} == before


async def test_hidden_writes_are_allowed_with_allow_hidden(cm: JupyterS3) -> None:
    cm.allow_hidden = True
    await cm.save(text_model("x"), ".hidden/visible.txt")
    assert (await cm.get(".hidden/visible.txt"))["content"] == "x"


# -- chunked uploads ---------------------------------------------------------------


async def test_chunk_1_starts_over_and_supersedes_the_upload_in_progress(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str
) -> None:
    await cm.save(text_model("old"), "up.bin")
    await cm.save(chunk(1, b"a1"), "up.bin")
    await cm.save(chunk(2, b"a2"), "up.bin")
    # A retry from the start (the first upload's client gave up after chunk 2).
    await cm.save(chunk(1, b"b1"), "up.bin")
    assert js3_raw.get(js3_bucket, "up.bin") == b"old"
    with pytest.raises(HTTPError) as error:  # the older upload's next chunk
        await cm.save(chunk(3, b"a3"), "up.bin")
    code, message = status(error)
    assert code == 409 and "superseded by a newer upload" in message
    await cm.save(chunk(2, b"b2"), "up.bin")
    assert js3_raw.get(js3_bucket, "up.bin") == b"old"
    await cm.save(chunk(-1, b"b3"), "up.bin")
    assert js3_raw.get(js3_bucket, "up.bin") == b"b1b2b3"


async def test_chunks_append_as_the_reference_appends(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str
) -> None:
    """jupyter_server's LargeFileManager: chunk 1 writes, every other chunk appends,
    also right after the last chunk."""
    for number, data in [(1, b"1"), (1, b"one"), (2, b"two"), (2, b"2"), (-1, b"end")]:
        await cm.save(chunk(number, data), "app.bin")
    assert js3_raw.get(js3_bucket, "app.bin") == b"onetwo2end"
    await cm.save(chunk(-1, b"+more"), "app.bin")
    assert js3_raw.get(js3_bucket, "app.bin") == b"onetwo2end+more"


async def test_a_chunk_with_no_upload_in_progress_is_refused(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_raw.put(js3_bucket, "kept.bin", b"kept")  # not uploaded by this server
    for number in (2, -1):
        with pytest.raises(HTTPError) as error:
            await cm.save(chunk(number, b"stray"), "kept.bin")
        assert status(error)[0] == 400
    assert js3_raw.get(js3_bucket, "kept.bin") == b"kept"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"chunk": 1}, "No file type provided"),
        (
            {"chunk": 1, "type": "notebook"},
            'File type "notebook" is not supported for large file transfer',
        ),
        ({"chunk": 1, "type": "file"}, "No file content provided"),
        (
            {"chunk": 2, "type": "file", "content": "test", "format": "json"},
            "Must specify format of file contents as 'text' or 'base64'",
        ),
        ({"content": "x"}, "No file type provided"),
        ({"type": "file"}, "No file content provided"),
    ],
)
async def test_bad_models_get_the_references_messages(
    cm: JupyterS3, model: dict[str, Any], message: str
) -> None:
    with pytest.raises(HTTPError) as error:
        await cm.save({"name": "test", "path": "test", **model}, "test")
    assert status(error) == (400, message)


# -- hashes and signatures -------------------------------------------------------


async def test_hash_algorithm_is_the_one_in_models(cm: JupyterS3) -> None:
    await cm.save(text_model("hashed"), "h.txt")
    for content in (True, False):
        model = await cm.get("h.txt", content=content, require_hash=True)
        assert model["hash_algorithm"] == cm.hash_algorithm
        assert model["hash"]


async def test_a_corrupt_signature_store_is_recreated(
    cm: JupyterS3, caplog: pytest.LogCaptureFixture
) -> None:
    nb = new_notebook(cells=[new_code_cell("1 + 1")])
    await cm.save({"type": "notebook", "content": nb}, "s.ipynb")
    model = await cm.get("s.ipynb")
    os.truncate(cm.notary.db_file, 100)  # the SQLite header only
    with caplog.at_level(logging.WARNING):
        saved = await cm.save(model, "s.ipynb")
    assert saved["path"] == "s.ipynb"
    assert "corrupted or unavailable" in caplog.text


async def test_a_signature_store_that_cannot_be_recreated_is_500(cm: JupyterS3) -> None:
    model = {"type": "notebook", "content": new_notebook(cells=[new_code_cell("2")])}

    class Broken:
        def store_signature(self, *args: Any) -> None:
            raise RuntimeError("store is broken")

        def check_signature(self, *args: Any) -> bool:
            raise RuntimeError("store is broken")

    cm.notary.store = Broken()
    cm.notary.store_factory = Broken
    with pytest.raises(HTTPError) as error:
        await cm.save(model, "t.ipynb")
    code, message = status(error)
    assert code == 500 and "signature store" in message and "store is broken" in message


# -- files and folders of one name ---------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [text_model("x"), {"type": "notebook", "content": new_notebook()}],
    ids=["file", "notebook"],
)
async def test_an_object_over_a_folder_is_409_and_writes_nothing(
    cm: JupyterS3, js3_raw: RawS3, js3_bucket: str, model: dict[str, Any]
) -> None:
    await cm.new({"type": "directory"}, "d.ipynb")
    await cm.save(text_model("inside"), "d.ipynb/in.txt")
    before = js3_raw.keys(js3_bucket)
    with pytest.raises(HTTPError) as error:
        await cm.save(model, "d.ipynb")
    code, message = status(error)
    assert code == 409 and "a folder of that name exists" in message
    with pytest.raises(HTTPError):
        await cm.save(chunk(1, b"x"), "d.ipynb")
    assert js3_raw.keys(js3_bucket) == before


async def test_a_folder_over_a_file_is_400(cm: JupyterS3, js3_raw: RawS3, js3_bucket: str) -> None:
    await cm.save(text_model("x"), "f")
    with pytest.raises(HTTPError) as error:
        await cm.new({"type": "directory"}, "f")
    assert status(error) == (400, "Not a directory: f")
    assert js3_raw.keys(js3_bucket) == ["f"]


@pytest.mark.parametrize("kind", ["file", "notebook"])
async def test_get_with_the_wrong_type_is_400(cm: JupyterS3, kind: str) -> None:
    await cm.new({"type": "directory"}, "folder")
    await cm.save(text_model("x"), "folder/a.txt")
    with pytest.raises(HTTPError) as error:
        await cm.get("folder", type=kind)
    assert status(error) == (400, f"folder is a directory, not a {kind}")
    with pytest.raises(HTTPError) as error:
        await cm.get("folder/a.txt", type="directory")
    assert status(error) == (400, "folder/a.txt is not a directory")
    with pytest.raises(HTTPError) as error:  # the root is a folder too
        await cm.get("", type=kind)
    assert status(error) == (400, f"The root is a directory, not a {kind}")


async def test_a_file_saved_as_a_notebook_and_back_stays_allowed(cm: JupyterS3) -> None:
    await cm.save(text_model("plain"), "n.ipynb.txt")
    await cm.save({"type": "notebook", "content": new_notebook()}, "n.ipynb.txt")
    await cm.save(text_model("plain again"), "n.ipynb.txt")
    assert (await cm.get("n.ipynb.txt"))["content"] == "plain again"


# -- the inline size limit (max_inline_bytes) -------------------------------------------

BIG = 48 * 1024 * 1024


@pytest.mark.js3_no_chaos
@pytest.mark.parametrize("http_client", ["curl", "simple"])
async def test_a_file_over_max_inline_bytes_is_413_without_being_read(
    cm: JupyterS3,
    js3_raw: RawS3,
    js3_bucket: str,
    js3_fault_proxy: FaultProxy,
    http_client: str,
) -> None:
    js3_raw.put(js3_bucket, "big.csv", os.urandom(BIG))
    js3_raw.put(js3_bucket, "big.ipynb", b" " * BIG)
    js3_raw.put(js3_bucket, "small.txt", b"small")
    cm.endpoint_url = js3_fault_proxy.endpoint_url
    cm.http_client = http_client
    cm.max_inline_bytes = 1024 * 1024
    for path in ("big.csv", "big.ipynb"):
        js3_fault_proxy.clear()
        with pytest.raises(HTTPError) as error:
            await cm.get(path)
        code, message = status(error)
        assert code == 413
        assert f"{path} is 48.0 MiB, more than the 1.0 MiB" in message
        assert (
            "right-click it in the file browser, then Download" in message
            and "max_inline_bytes" in message
        )
        # What the proxy could write before the client hung up: socket buffers.
        read = sum(r.bytes_out for r in js3_fault_proxy.records() if r.method == "GET")
        assert read < BIG / 4, f"{read:,} bytes of {path} were sent to refuse it"
    # Without content, and under the limit, nothing changes.
    assert (await cm.get("big.csv", content=False))["size"] == BIG
    assert (await cm.get("small.txt"))["content"] == "small"
    cm.max_inline_bytes = 0  # no limit
    assert len(base64.b64decode((await cm.get("big.csv"))["content"])) == BIG


def test_max_inline_bytes_refuses_negative_values(cm: JupyterS3) -> None:
    with pytest.raises(TraitError, match="max_inline_bytes"):
        cm.max_inline_bytes = -1
