"""A folder of more than 1,000 keys: listed in two pages, renamed and deleted
with bounded concurrency, DeleteObjects in batches of 1,000, nothing downloaded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from jupyters3_testing import FaultProxy, ProxyRecord, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

KEYS = 1001
LIMIT = 16


def most_in_flight(records: list[ProxyRecord]) -> int:
    """The most requests the proxy had in flight at once (10 ms of slack)."""
    spans = sorted((r.started, r.started + r.duration - 0.01) for r in records)
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


@pytest.mark.js3_no_chaos
def test_list_rename_and_delete_a_folder_of_1001_keys(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    js3_raw: RawS3,
) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(lambda i: js3_raw.put(js3_bucket, f"big/f{i:04d}.txt", b"%d" % i), range(KEYS))
        )
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["max_concurrency"] = LIMIT
    server = js3_jupyter_factory(config=config)
    api = ContentsClient(server.url, server.token)
    js3_fault_proxy.configure(latency=0.005)
    js3_fault_proxy.clear()  # the startup check's LIST

    listing = api.get("big").expect(200).json
    assert len(listing["content"]) == KEYS
    lists = [r for r in js3_fault_proxy.records() if "list-type" in r.query]
    assert len(lists) == 2  # one LIST per 1,000 entries

    js3_fault_proxy.clear()
    api.rename("big", "moved").expect(200)
    records = js3_fault_proxy.records()
    copies = [r for r in records if r.method == "PUT" and r.key.startswith("moved/f")]
    assert len(copies) == KEYS and all(r.bytes_in == 0 for r in copies)
    # The target's marker is written before the copies (naming the source, so
    # a repeated rename can finish an interrupted one), and deleted with the
    # sources because the source folder had none.
    markers = [r for r in records if r.method == "PUT" and r.key == "moved/"]
    assert len(markers) == 1
    assert markers[0].started < min(r.started for r in copies)
    assert not [r for r in records if r.method == "GET" and "list-type" not in r.query]
    assert 2 <= most_in_flight(copies) <= LIMIT
    batches = [r for r in records if r.method == "POST" and "delete" in r.query]
    assert len(batches) == 2
    keys = js3_raw.keys(js3_bucket)
    assert len(keys) == KEYS and all(k.startswith("moved/f") for k in keys)
    assert js3_raw.get(js3_bucket, "moved/f0999.txt") == b"999"

    js3_fault_proxy.clear()
    api.delete("moved").expect(204)
    assert js3_raw.keys(js3_bucket) == []
    batches = [r for r in js3_fault_proxy.records() if r.method == "POST" and "delete" in r.query]
    assert len(batches) == 2
