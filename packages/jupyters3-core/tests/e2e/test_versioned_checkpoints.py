"""Checkpoints on a versioned bucket name S3 versions instead of copying data (issue 16).

One live Jupyter server per bucket, through REST only, on moto: one bucket
with versioning Enabled, one without. The same behaviours hold on both; on
the versioned bucket a checkpoint adds almost nothing to what is stored.
The bucket is read back with boto3 (``RawS3``), every version counted. The
two buckets and their servers are ``bucket`` (e2e/conftest.py), shared with
test_renames.py, where the checkpoints that follow a rename are.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime

import pytest
from server_setups import Bucket, MiB, make_bucket, read_bytes

from jupyters3_testing import MotoServer
from jupyters3_testing.jupyter_fixtures import JupyterFactory
from jupyters3_testing.rest import ContentsClient


def save_bytes(api: ContentsClient, path: str, data: bytes) -> None:
    model = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    assert api.save(path, model).status in (200, 201)


def test_a_checkpoint_of_a_big_file_restores_exactly(bucket: Bucket) -> None:
    path = f"d-{uuid.uuid4().hex[:6]}/data.bin"
    original = os.urandom(3 * MiB)
    save_bytes(bucket.api, path, original)
    before = bucket.stored_bytes()
    checkpoint = bucket.api.create_checkpoint(path).expect(201).json
    grown = bucket.stored_bytes() - before
    if bucket.versioned:
        assert grown < 64 * 1024, f"a checkpoint stored {grown:,} bytes"
    else:
        assert grown == len(original)  # a copy, as without versioning
    save_bytes(bucket.api, path, b"a later save")
    bucket.api.get(path).expect(200)
    bucket.api.restore_checkpoint(path, checkpoint["id"]).expect(204)
    assert read_bytes(bucket, path) == original


def test_checkpoints_list_oldest_first_and_delete_one(bucket: Bucket) -> None:
    path = f"d-{uuid.uuid4().hex[:6]}/notes.txt"
    made = []
    for n in range(3):
        bucket.api.save_text(path, f"version {n}").expect(200, 201)
        made.append(bucket.api.create_checkpoint(path).expect(201).json)
    listed = bucket.api.checkpoints(path).expect(200).json
    assert [c["id"] for c in listed] == [c["id"] for c in made]
    assert listed == made  # the same model from create and list
    bucket.api.delete_checkpoint(path, made[1]["id"]).expect(204)
    assert [c["id"] for c in bucket.api.checkpoints(path).expect(200).json] == [
        made[0]["id"],
        made[2]["id"],
    ]
    bucket.api.get(path).expect(200)
    bucket.api.restore_checkpoint(path, made[0]["id"]).expect(204)
    assert read_bytes(bucket, path) == b"version 0"


def test_deleting_a_file_with_checkpoints_leaves_no_ghost(bucket: Bucket) -> None:
    folder = f"d-{uuid.uuid4().hex[:6]}"
    bucket.api.mkdir(folder).expect(201)
    path = f"{folder}/gone.ipynb"
    notebook = {
        "type": "notebook",
        "content": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []},
    }
    bucket.api.save(path, notebook).expect(201)  # a notebook gets its first checkpoint
    bucket.api.create_checkpoint(path).expect(201)
    bucket.api.delete(path).expect(204)
    assert bucket.api.get(folder).expect(200).json["content"] == []
    renamed = f"{folder}/moved.ipynb"
    bucket.api.save(path, notebook).expect(201)
    bucket.api.rename(path, renamed).expect(200)
    names = [m["name"] for m in bucket.api.get(folder).expect(200).json["content"]]
    assert names == ["moved.ipynb"]


@pytest.fixture(scope="module")
def with_history(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Bucket:
    return make_bucket(
        js3_jupyter_session_factory,
        js3_moto_server,
        js3_region,
        versioned=True,
        versioned_checkpoints_history=2,
    )


def test_history_offers_earlier_versions_as_checkpoints(with_history: Bucket) -> None:
    api, path = with_history.api, f"h-{uuid.uuid4().hex[:6]}/autosaved.txt"
    for n in range(4):
        api.save_text(path, f"autosave {n}").expect(200, 201)
    made = api.create_checkpoint(path).expect(201).json  # names "autosave 3"
    listed = api.checkpoints(path).expect(200).json
    assert len(listed) == 3 and listed[-1] == made  # two earlier versions, then the checkpoint
    times = [datetime.fromisoformat(c["last_modified"].replace("Z", "+00:00")) for c in listed]
    assert times == sorted(times)
    api.save_text(path, "autosave 4").expect(200)
    api.restore_checkpoint(path, listed[0]["id"]).expect(204)
    assert read_bytes(with_history, path) == b"autosave 1"
    assert api.delete_checkpoint(path, listed[0]["id"]).status == 404  # read-only
