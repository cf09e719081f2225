"""End to end: a live Jupyter server on JupyterS3, a real moto S3 server, REST only.

Every test checks the bucket too, with an independent boto3 inspector
(``js3_raw``), and reads the S3 request log of the proxy in front of moto. The
server is ``live_server`` (e2e/conftest.py), shared with the rename tests of
test_renames.py; ``s3`` is the same with its proxy reset.
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import datetime
from typing import Any

import pytest
from server_setups import Live

from jupyters3_testing import FaultProxy, MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

#: A real 1x1 JPEG (JFIF), 125 bytes, not valid UTF-8.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////"
    "////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAA"
    "AAAAAP/aAAgBAQABPxA="
)


def notebook(*sources: str) -> dict[str, Any]:
    """An nbformat 4 notebook with one code cell per source."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "source": source,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
            for i, source in enumerate(sources)
        ],
    }


# -- uploads, byte-exact downloads ------------------------------------------------


def test_text_notebook_and_jpeg_round_trip_byte_exact(s3: Live) -> None:
    d = s3.folder()
    text = "héllo wörld\nline 2 ✓\n"
    s3.api.save_text(f"{d}/notes.txt", text).expect(201)
    nb = notebook("print('hi')", "1 + 1")
    s3.api.save(f"{d}/analysis.ipynb", {"type": "notebook", "content": nb}).expect(201)
    s3.api.save(
        f"{d}/photo.jpg",
        {"type": "file", "format": "base64", "content": base64.b64encode(JPEG).decode()},
    ).expect(201)

    assert s3.raw.get(s3.bucket, f"{d}/notes.txt") == text.encode()
    assert s3.raw.get(s3.bucket, f"{d}/photo.jpg") == JPEG
    stored = json.loads(s3.raw.get(s3.bucket, f"{d}/analysis.ipynb"))
    assert ["".join(c["source"]) for c in stored["cells"]] == ["print('hi')", "1 + 1"]

    files = s3.api.files(f"{d}/photo.jpg").expect(200)
    assert files.body == JPEG
    assert files.headers["Content-Type"] == "image/jpeg"
    assert s3.api.files(f"{d}/notes.txt").expect(200).body == text.encode()

    got = s3.api.get(f"{d}/photo.jpg").expect(200).json
    assert (got["type"], got["format"], got["mimetype"]) == ("file", "base64", "image/jpeg")
    assert base64.b64decode(got["content"]) == JPEG
    got = s3.api.get(f"{d}/analysis.ipynb").expect(200).json
    assert got["type"] == "notebook"
    assert got["content"]["cells"][1]["source"] == "1 + 1"
    # Asking for a JPEG as text is a clear 400, not a 500.
    bad = s3.api.get(f"{d}/photo.jpg", format="text", type="file").expect(400)
    assert "UTF-8" in bad.json["message"]


@pytest.mark.js3_no_chaos
def test_chunked_upload_of_a_binary_file_is_byte_exact(s3: Live) -> None:
    d = s3.folder()
    data = os.urandom(3 * 1024 * 1024 + 12345)
    responses = s3.api.upload_chunked(f"{d}/big.bin", data, chunk_size=1024 * 1024)
    # As with the local manager: the path exists from the first chunk on (though
    # the object is written at chunk -1 only), so later chunks answer 200.
    assert [r.status for r in responses] == [201, 200, 200, 200]
    assert responses[-1].json["size"] == len(data)
    assert s3.raw.get(s3.bucket, f"{d}/big.bin") == data
    assert s3.api.files(f"{d}/big.bin").expect(200).body == data
    part = s3.api.files(f"{d}/big.bin", range=(1000, 2999)).expect(206)
    assert part.body == data[1000:3000]
    assert part.headers["Content-Range"] == f"bytes 1000-2999/{len(data)}"
    # Chunks were spooled, not written: one PUT reached S3.
    assert s3.proxy.count("PUT", key=f"{d}/big.bin") == 1


def test_files_download_sets_attachment_and_sandbox(s3: Live) -> None:
    d = s3.folder()
    s3.api.save_text(f"{d}/page.html", "<script>alert(1)</script>").expect(201)
    resp = s3.api.files(f"{d}/page.html", download=True).expect(200)
    assert "attachment" in resp.headers["Content-Disposition"]
    assert "page.html" in resp.headers["Content-Disposition"]
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert s3.api.files(f"{d}/missing.txt").status == 404


# -- folders made by other tools --------------------------------------------------


def test_implicit_folders_made_by_other_tools_work(s3: Live) -> None:
    """Keys written by `aws s3 cp` (no markers) make folders that behave like any other."""
    d = s3.folder()
    s3.raw.put(s3.bucket, f"{d}/data/2024/jan.csv", b"a,b\n1,2\n")
    listing = s3.api.get(d).expect(200).json
    assert [(e["name"], e["type"]) for e in listing["content"]] == [("data", "directory")]
    inner = s3.api.get(f"{d}/data/2024").expect(200).json
    assert [e["name"] for e in inner["content"]] == ["jan.csv"]

    s3.api.rename(f"{d}/data", f"{d}/moved").expect(200)
    assert s3.keys(f"{d}/") == [f"{d}/", f"{d}/moved/2024/jan.csv"]
    s3.api.delete(f"{d}/moved").expect(204)
    assert s3.keys(f"{d}/") == [f"{d}/"]


def test_unicode_and_awkward_names_round_trip(s3: Live) -> None:
    d = s3.folder()
    names = ["café notes.txt", "日本語.txt", "a+b&c=d.txt", "100%.txt", "hash#tag.txt", "q?.txt"]
    for name in names:
        s3.api.save_text(f"{d}/{name}", name).expect(201)
    listing = s3.api.get(d).expect(200).json
    assert sorted(e["name"] for e in listing["content"]) == sorted(names)
    for name in names:
        assert s3.api.get(f"{d}/{name}").expect(200).json["content"] == name
        assert s3.raw.get(s3.bucket, f"{d}/{name}") == name.encode()


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "a/%2e%2e/b.txt"])
def test_paths_leaving_the_prefix_are_refused(s3: Live, path: str) -> None:
    before = s3.keys()
    resp = s3.api.request(
        "PUT",
        "api/contents/" + path,
        json={"type": "file", "format": "text", "content": "x"},
    )
    assert 400 <= resp.status < 500, resp.body
    assert s3.keys() == before


# -- checkpoints ------------------------------------------------------------------


@pytest.mark.js3_no_chaos
def test_keys_xml_cannot_carry_are_renamed_and_deleted_with_the_folder(s3: Live) -> None:
    """Another tool wrote keys with control characters, which no DeleteObjects
    body can name: a folder rename and a folder delete still finish (those keys
    go by DeleteObject, one each), and the log names them."""
    folder = s3.folder()
    odd = [f"{folder}/src/a\x01", f"{folder}/src/b\x1f.txt"]
    for key in [*odd, f"{folder}/src/plain.txt"]:
        s3.raw.put(s3.bucket, key, b"data")
    s3.api.rename(f"{folder}/src", f"{folder}/dst").expect(200)
    assert s3.keys(f"{folder}/src") == []
    moved = s3.keys(f"{folder}/dst")
    assert {k.rsplit("/", 1)[-1] for k in moved} >= {"a\x01", "b\x1f.txt", "plain.txt"}
    s3.api.delete(f"{folder}/dst").expect(204)
    assert s3.keys(f"{folder}/dst") == []
    assert "key(s) XML cannot carry, deleted one by one" in s3.server.log_text()


def test_a_copied_folder_carries_no_rename_mark(s3: Live) -> None:
    """A folder whose marker still names the source of a rename (an
    interrupted one, or another server's) is copied: the copy's markers are
    written anew, plain, so a later rename from that source onto the copy is a
    409, not taken for the interrupted rename it would finish by writing over."""
    folder = s3.folder()
    marked = {"jupyters3-renamed-from": f"{folder}/old"}
    s3.raw.put(s3.bucket, f"{folder}/src/", b"", metadata=marked)
    s3.raw.put(s3.bucket, f"{folder}/src/sub/", b"", metadata=marked)
    s3.raw.put(s3.bucket, f"{folder}/src/a.txt", b"copied")
    s3.api.copy(f"{folder}/src", f"{folder}/into").expect(201)
    copy = f"{folder}/into/src"
    for marker in (f"{copy}/", f"{copy}/sub/"):
        assert "jupyters3-renamed-from" not in s3.raw.head(s3.bucket, marker)["Metadata"]
    s3.api.save_text(f"{folder}/old/a.txt", "must not land over the copy").expect(201)
    s3.api.rename(f"{folder}/old", copy).expect(409)
    assert s3.raw.get(s3.bucket, f"{copy}/a.txt") == b"copied"


def test_a_hidden_notebook_is_served_to_no_caller(s3: Live) -> None:
    """As the reference's get: with allow_hidden off, a hidden path is served
    neither by /api/contents nor by nbconvert (which reads through the
    manager's get), and the answer reveals nothing."""
    folder = s3.folder()
    body = json.dumps(notebook("secret = 42")).encode()
    for path in (f"{folder}/.private/x.ipynb", f"{folder}/.x.ipynb"):
        s3.raw.put(s3.bucket, path, body)
        assert s3.api.get(path).status == 404
        converted = s3.api.request("GET", f"nbconvert/html/{path}")
        assert converted.status == 404 and b"secret = 42" not in converted.body
    s3.raw.put(s3.bucket, f"{folder}/shown.ipynb", body)
    converted = s3.api.request("GET", f"nbconvert/html/{folder}/shown.ipynb")
    assert converted.status == 200 and b"secret" in converted.body  # nbconvert works here


def test_checkpoints_several_listed_restored_deleted_and_hidden(s3: Live) -> None:
    d = s3.folder()
    path = f"{d}/work.ipynb"
    s3.api.save(path, {"type": "notebook", "content": notebook("v1")}).expect(201)
    # A notebook's first save makes one checkpoint, as the reference manager does.
    first = s3.api.checkpoints(path).expect(200).json
    assert len(first) == 1
    s3.api.save(path, {"type": "notebook", "content": notebook("v2")}).expect(200)
    second = s3.api.create_checkpoint(path).expect(201).json
    s3.api.save(path, {"type": "notebook", "content": notebook("v3")}).expect(200)

    listed = s3.api.checkpoints(path).expect(200).json
    assert [c["id"] for c in listed] == [first[0]["id"], second["id"]]  # oldest first
    checkpoint_keys = [k for k in s3.keys(f"{d}/") if "/.checkpoints/" in k]
    assert checkpoint_keys == sorted(f"{path}/.checkpoints/{c['id']}" for c in listed)

    # Not in listings, and the notebook is not also shown as a folder.
    listing = s3.api.get(d).expect(200).json
    assert [(e["name"], e["type"]) for e in listing["content"]] == [("work.ipynb", "notebook")]

    s3.proxy.clear()
    s3.api.restore_checkpoint(path, second["id"]).expect(204)
    assert s3.proxy.count("GET") == 0  # restored by CopyObject, nothing downloaded
    restored = s3.api.get(path).expect(200).json
    assert restored["content"]["cells"][0]["source"] == "v2"

    s3.api.delete_checkpoint(path, first[0]["id"]).expect(204)
    assert [c["id"] for c in s3.api.checkpoints(path).expect(200).json] == [second["id"]]
    assert s3.api.delete_checkpoint(path, first[0]["id"]).status == 404
    assert s3.api.restore_checkpoint(path, "nosuchid").status == 404


def test_checkpoints_are_not_reachable_through_the_contents_api(s3: Live) -> None:
    d = s3.folder()
    s3.api.save_text(f"{d}/f.txt", "one").expect(201)
    s3.api.create_checkpoint(f"{d}/f.txt").expect(201)
    before = s3.keys(f"{d}/")
    assert 400 <= s3.api.get(f"{d}/f.txt/.checkpoints").status < 500
    resp = s3.api.save_text(f"{d}/f.txt/.checkpoints/evil", "x")
    assert 400 <= resp.status < 500
    assert s3.keys(f"{d}/") == before


# -- copy, new_untitled, hash -----------------------------------------------------


@pytest.mark.js3_no_chaos
def test_copy_file_and_folder_server_side(s3: Live) -> None:
    d = s3.folder()
    s3.api.save_text(f"{d}/a.txt", "a").expect(201)
    s3.proxy.clear()
    copied = s3.api.copy(f"{d}/a.txt", d).expect(201).json
    assert copied["path"] == f"{d}/a-Copy1.txt"
    assert s3.proxy.count("GET", key=f"{d}/a.txt") == 0
    assert s3.raw.get(s3.bucket, f"{d}/a-Copy1.txt") == b"a"

    s3.api.mkdir(f"{d}/sub").expect(201)
    s3.api.save_text(f"{d}/sub/x.txt", "x").expect(201)
    s3.api.create_checkpoint(f"{d}/sub/x.txt").expect(201)
    s3.api.mkdir(f"{d}/target").expect(201)
    folder = s3.api.copy(f"{d}/sub", f"{d}/target").expect(201).json
    assert folder["type"] == "directory"
    copied_keys = s3.keys(f"{d}/target/")
    assert f"{d}/target/sub/x.txt" in copied_keys
    assert not [k for k in copied_keys if ".checkpoints" in k]  # checkpoints stay behind


def test_new_untitled_never_overwrites(s3: Live) -> None:
    d = s3.folder()
    names = [s3.api.new_untitled(d, type="notebook").expect(201).json["name"] for _ in range(3)]
    assert names == ["Untitled.ipynb", "Untitled1.ipynb", "Untitled2.ipynb"]
    folders = [s3.api.new_untitled(d, type="directory").expect(201).json["name"] for _ in range(2)]
    assert folders == ["Untitled Folder", "Untitled Folder 1"]
    assert s3.api.new_untitled(f"{d}/missing", type="file").status == 404


@pytest.mark.js3_no_chaos
def test_hash_is_the_etag_from_one_head(s3: Live) -> None:
    d = s3.folder()
    s3.api.save_text(f"{d}/h.txt", "hash me").expect(201)
    s3.proxy.clear()
    got = s3.api.get(f"{d}/h.txt", content=False, hash=True).expect(200).json
    assert got["hash"] == s3.raw.head(s3.bucket, f"{d}/h.txt")["ETag"].strip('"')
    assert got["hash_algorithm"]
    assert [r.method for r in s3.proxy.records()] == ["HEAD"]


def test_save_returns_the_last_modified_that_get_returns(s3: Live) -> None:
    """Real-time collaboration compares them to detect out-of-band changes."""
    d = s3.folder()
    for path, model in [
        (f"{d}/n.ipynb", {"type": "notebook", "content": notebook("x")}),
        (f"{d}/t.txt", {"type": "file", "format": "text", "content": "t"}),
    ]:
        saved = s3.api.save(path, model).expect(201).json
        got = s3.api.get(path, content=False).expect(200).json
        assert saved["last_modified"] == got["last_modified"]
        listed = {e["path"]: e for e in s3.api.get(d).expect(200).json["content"]}
        # A listing shows S3's own Last-Modified: one-second resolution, set when
        # the PUT completed.
        listed_at = datetime.fromisoformat(listed[path]["last_modified"].replace("Z", "+00:00"))
        saved_at = datetime.fromisoformat(saved["last_modified"].replace("Z", "+00:00"))
        assert abs((listed_at - saved_at).total_seconds()) < 2


# -- prefixes ---------------------------------------------------------------------


def test_prefix_per_user_keeps_users_apart(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_raw: RawS3,
) -> None:
    """JupyterHub style: one bucket, one prefix per user (with or without a slash)."""
    servers = {}
    for user, prefix in (("alice", "users/alice"), ("bob", "/users/bob/")):
        config = jupyters3_config(
            bucket=js3_bucket, endpoint_url=js3_moto_server.endpoint_url, prefix=prefix
        )
        server = js3_jupyter_factory(config=config)
        servers[user] = ContentsClient(server.url, server.token)
    servers["alice"].mkdir("work").expect(201)
    servers["alice"].save_text("work/a.txt", "alice's").expect(201)
    servers["bob"].save_text("b.txt", "bob's").expect(201)

    assert sorted(js3_raw.keys(js3_bucket)) == [
        "users/alice/work/",
        "users/alice/work/a.txt",
        "users/bob/b.txt",
    ]
    root = servers["bob"].get("").expect(200).json
    assert [e["name"] for e in root["content"]] == ["b.txt"]
    assert servers["bob"].get("work/a.txt").status == 404
    assert servers["alice"].get("work/a.txt").expect(200).json["content"] == "alice's"


@pytest.mark.js3_no_chaos
def test_chunked_upload_above_the_threshold_streams_a_multipart_upload(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_raw: RawS3,
    js3_region: str,
) -> None:
    """Parts go to S3 while chunks still arrive; the old object stays until -1."""
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(multipart_threshold=5 * 2**20, multipart_part_size=5 * 2**20)
    server = js3_jupyter_factory(config=config)
    api = ContentsClient(server.url, server.token)
    api.save_text("big.bin", "the old version").expect(201)
    data = os.urandom(12 * 2**20 + 7)
    chunks = [data[i : i + 2**20] for i in range(0, len(data), 2**20)]
    model = {"type": "file", "format": "base64", "name": "big.bin"}

    def send(number: int, chunk: bytes) -> None:
        body = {**model, "chunk": number, "content": base64.b64encode(chunk).decode()}
        api.save("big.bin", body).expect(200, 201)

    for number, chunk in enumerate(chunks[:7], start=1):  # 7 MiB: past the threshold
        send(number, chunk)
    deadline = time.monotonic() + 10
    first: list[Any] = []
    while not first and time.monotonic() < deadline:
        time.sleep(0.05)
        first = [r for r in js3_fault_proxy.records() if "partNumber" in r.query]
    assert [r.query["partNumber"] for r in first] == ["1"]  # sent before the upload ended
    assert js3_raw.get(js3_bucket, "big.bin") == b"the old version"  # untouched so far
    for number, chunk in enumerate(chunks[7:-1], start=8):
        send(number, chunk)
    send(-1, chunks[-1])

    assert js3_raw.get(js3_bucket, "big.bin") == data
    assert api.get("big.bin", content=False).expect(200).json["size"] == len(data)
    records = [r for r in js3_fault_proxy.records() if r.key == "big.bin"]
    parts = sorted(
        (int(r.query["partNumber"]), r.bytes_in) for r in records if "partNumber" in r.query
    )
    assert [n for n, _ in parts] == [1, 2, 3]
    assert sum(size for _, size in parts) == len(data)
    assert all(size >= 5 * 2**20 for _, size in parts[:-1])
    assert [r.method for r in records if "uploads" in r.query] == ["POST"]
    assert len([r for r in records if r.method == "POST" and "uploadId" in r.query]) == 1
    assert js3_raw.multipart_uploads(js3_bucket) == []


def test_trust_of_a_big_notebook(s3: Live) -> None:
    """Over 256 KiB the signature is computed off the event loop: same result."""
    d = s3.folder()
    nb = notebook("x = 1")
    nb["cells"][0]["outputs"] = [
        {
            "output_type": "display_data",
            "data": {"text/html": "<b>" + "y" * 400_000 + "</b>"},
            "metadata": {},
        }
    ]
    nb["cells"][0]["metadata"]["trusted"] = True
    s3.api.save(f"{d}/big.ipynb", {"type": "notebook", "content": nb}).expect(201)
    got = s3.api.get(f"{d}/big.ipynb").expect(200).json
    assert got["content"]["cells"][0]["metadata"]["trusted"] is True

    # The same notebook written by someone else is not trusted here.
    stored = json.loads(s3.raw.get(s3.bucket, f"{d}/big.ipynb"))
    stored["cells"][0]["outputs"][0]["data"]["text/html"] += "<script>evil()</script>"
    s3.raw.put(s3.bucket, f"{d}/big.ipynb", json.dumps(stored).encode())
    got = s3.api.get(f"{d}/big.ipynb").expect(200).json
    assert got["content"]["cells"][0]["metadata"]["trusted"] is False
