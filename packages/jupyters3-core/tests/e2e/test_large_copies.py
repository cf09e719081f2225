"""Objects over S3's 5 GB CopyObject limit are copied part by part (UploadPartCopy).

moto cannot hold 5 GB, so the threshold and part size are lowered through
their traits (5 MiB); the code path is the one a 5 GB object takes. The server
is ``part_copy_api`` and the object ``big`` (e2e/conftest.py), shared with
test_renames.py, where the renames of such objects are.
"""

from __future__ import annotations

import pytest
from server_setups import assert_no_download, part_copies

from jupyters3_testing import Fault, FaultProxy, RawS3, RequestInfo
from jupyters3_testing.rest import ContentsClient


@pytest.fixture
def api(part_copy_api: ContentsClient) -> ContentsClient:
    """This module's name for ``part_copy_api`` (e2e/conftest.py)."""
    return part_copy_api


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
