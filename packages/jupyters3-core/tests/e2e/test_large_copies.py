"""Objects over S3's 5 GB CopyObject limit are copied part by part (UploadPartCopy).

moto cannot hold 5 GB, so the threshold and part size are lowered through
their traits (5 MiB); the code path is the one a 5 GB object takes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from jupyters3_testing import Fault, FaultProxy, ProxyRecord, RawS3, RequestInfo
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

MIB = 2**20
SIZE = 12 * MIB + 5  # three parts of 5, 5 and 2 MiB


@pytest.fixture
def api(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    js3_raw: RawS3,
) -> ContentsClient:
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(copy_threshold=5 * MIB, copy_part_size=5 * MIB)
    server = js3_jupyter_factory(config=config)
    return ContentsClient(server.url, server.token)


@pytest.fixture
def big(js3_raw: RawS3, js3_bucket: str) -> bytes:
    data = os.urandom(SIZE)
    js3_raw.put(js3_bucket, "d/big.bin", data)
    return data


def part_copies(proxy: FaultProxy, key: str) -> list[ProxyRecord]:
    return [
        r for r in proxy.records() if r.method == "PUT" and r.key == key and "partNumber" in r.query
    ]


def assert_no_download(proxy: FaultProxy) -> None:
    assert not [r for r in proxy.records() if r.method == "GET" and r.key.endswith("big.bin")]
    assert sum(r.bytes_in for r in proxy.records()) < 64 * 1024  # nothing re-uploaded


@pytest.mark.js3_no_chaos
def test_copy(
    api: ContentsClient, big: bytes, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_fault_proxy.clear()
    copied = api.copy("d/big.bin", "d").expect(201).json
    assert copied["path"] == "d/big-Copy1.bin"
    assert js3_raw.get(js3_bucket, "d/big-Copy1.bin") == big
    parts = part_copies(js3_fault_proxy, "d/big-Copy1.bin")
    assert sorted(int(r.query["partNumber"]) for r in parts) == [1, 2, 3]
    assert_no_download(js3_fault_proxy)
    assert js3_raw.multipart_uploads(js3_bucket) == []
    got = api.get("d/big-Copy1.bin", content=False).expect(200).json
    assert got["last_modified"] == copied["last_modified"]


@pytest.mark.js3_no_chaos
def test_rename_file_and_folder(
    api: ContentsClient, big: bytes, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_raw.put(js3_bucket, "d/small.txt", b"small")
    api.rename("d/big.bin", "d/moved.bin").expect(200)
    assert js3_raw.get(js3_bucket, "d/moved.bin") == big
    assert not js3_raw.exists(js3_bucket, "d/big.bin")
    assert len(part_copies(js3_fault_proxy, "d/moved.bin")) == 3

    js3_fault_proxy.clear()
    api.rename("d", "e").expect(200)
    assert sorted(js3_raw.keys(js3_bucket)) == ["e/moved.bin", "e/small.txt"]
    assert js3_raw.get(js3_bucket, "e/moved.bin") == big
    assert len(part_copies(js3_fault_proxy, "e/moved.bin")) == 3
    assert_no_download(js3_fault_proxy)
    assert js3_raw.multipart_uploads(js3_bucket) == []


@pytest.mark.js3_no_chaos
def test_checkpoint_create_and_restore(
    api: ContentsClient, big: bytes, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    """Creating a checkpoint does not know the size: S3 refusing a single
    CopyObject (as it does over 5 GB) switches to the part copy."""

    def too_large(req: RequestInfo) -> Fault | None:
        copying = any(name.lower() == "x-amz-copy-source" for name in req.headers)
        single = copying and "partNumber" not in req.query
        if single and "/.checkpoints/" in req.key:
            return Fault.error(
                400,
                "InvalidRequest",
                "The specified copy source is larger than the maximum allowable size "
                "for a copy source: 5368709120",
            )
        return None

    js3_fault_proxy.configure(rule=too_large)
    checkpoint = api.create_checkpoint("d/big.bin").expect(201).json
    key = f"d/big.bin/.checkpoints/{checkpoint['id']}"
    assert js3_raw.get(js3_bucket, key) == big
    assert len(part_copies(js3_fault_proxy, key)) == 3

    js3_fault_proxy.configure(rule=None)
    js3_raw.put(js3_bucket, "d/big.bin", b"overwritten")
    js3_fault_proxy.clear()
    api.restore_checkpoint("d/big.bin", checkpoint["id"]).expect(204)
    assert js3_raw.get(js3_bucket, "d/big.bin") == big
    assert len(part_copies(js3_fault_proxy, "d/big.bin")) == 3
    assert_no_download(js3_fault_proxy)


@pytest.mark.js3_no_chaos
def test_a_failed_part_copy_leaves_the_source_and_no_upload(
    api: ContentsClient, big: bytes, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    def fail_part_2(req: RequestInfo) -> Fault | None:
        if req.query.get("partNumber") == "2":
            return Fault.access_denied()
        return None

    js3_fault_proxy.configure(rule=fail_part_2)
    answer: Any = api.rename("d/big.bin", "d/moved.bin")
    assert answer.status == 403
    assert js3_raw.get(js3_bucket, "d/big.bin") == big  # the source is intact
    assert not js3_raw.exists(js3_bucket, "d/moved.bin")
    assert js3_raw.multipart_uploads(js3_bucket) == []
