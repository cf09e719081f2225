"""A big file opened by mistake: the content GET answers 413 without reading
it, and everything else about the file still works (issue 20)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

MIB = 2**20
LIMIT = 2 * MIB


@pytest.fixture
def server(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
) -> JupyterServer:
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["max_inline_bytes"] = LIMIT
    return js3_jupyter_factory(config=config)


@pytest.mark.js3_no_chaos
def test_a_big_file_is_413_and_still_downloads_copies_and_renames(
    server: JupyterServer, js3_raw: RawS3, js3_bucket: str, js3_fault_proxy: FaultProxy
) -> None:
    api = ContentsClient(server.url, server.token)
    data = os.urandom(64 * MIB)
    js3_raw.put(js3_bucket, "data/big.bin", data)
    js3_raw.put(js3_bucket, "data/small.txt", b"x" * (LIMIT - 1))

    js3_fault_proxy.clear()
    refused = api.get("data/big.bin").expect(413)
    message = refused.json["message"]
    assert "data/big.bin is 64.0 MiB, more than the 2.0 MiB that can be opened here" in message
    assert (
        "right-click it in the file browser, then Download" in message
        and "max_inline_bytes" in message
    )
    assert refused.json.get("traceback") in (None, "")
    sent = sum(r.bytes_out for r in js3_fault_proxy.records())
    assert sent < 16 * MIB, f"{sent:,} bytes left S3 to refuse a 64 MiB file"

    # Everything but the inline content is unaffected.
    assert api.get("data/big.bin", content=False).expect(200).json["size"] == len(data)
    small = api.get("data/small.txt").expect(200).json
    assert len(small["content"]) == LIMIT - 1
    listing = api.get("data").expect(200).json["content"]
    assert {e["name"] for e in listing} == {"big.bin", "small.txt"}
    downloaded = api.files("data/big.bin")
    assert hashlib.sha256(downloaded.body).digest() == hashlib.sha256(data).digest()
    api.copy("data/big.bin", "data").expect(201)
    api.rename("data/big.bin", "data/moved.bin").expect(200)
    assert js3_raw.get(js3_bucket, "data/moved.bin") == data
    assert js3_raw.get(js3_bucket, "data/big-Copy1.bin") == data
    assert api.create_checkpoint("data/moved.bin").expect(201).json["id"]


@pytest.mark.js3_no_chaos
def test_a_big_notebook_is_refused_the_same_way(
    server: JupyterServer, js3_raw: RawS3, js3_bucket: str
) -> None:
    api = ContentsClient(server.url, server.token)
    outputs = [{"output_type": "stream", "name": "stdout", "text": "x" * (3 * MIB)}]
    cell = {
        "cell_type": "code",
        "id": "c1",
        "source": "print('x' * 3_000_000)",
        "metadata": {},
        "outputs": outputs,
        "execution_count": 1,
    }
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
    # Saving it is not limited (the request body is Jupyter's max_body_size's).
    api.save("huge.ipynb", {"type": "notebook", "content": nb}).expect(201)
    assert api.get("huge.ipynb").expect(413).json["message"].startswith("huge.ipynb is 3.0 MiB")
    assert api.get("huge.ipynb", content=False).expect(200).json["type"] == "notebook"
    assert len(base64.b64encode(js3_raw.get(js3_bucket, "huge.ipynb"))) > LIMIT
