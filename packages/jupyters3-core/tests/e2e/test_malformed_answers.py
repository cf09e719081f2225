"""A store or gateway that answers 200 with a body that is not S3's XML: the
user gets a clean 502 with a sentence, never a 500 with a traceback, and the
bucket is left as it was."""

from __future__ import annotations

import pytest

from jupyters3_testing import Fault, FaultProxy, JupyterServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient


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
    return js3_jupyter_factory(config=config)


@pytest.mark.js3_no_chaos
def test_unreadable_listings_and_copies_are_a_clean_502(
    server: JupyterServer, js3_raw: RawS3, js3_bucket: str, js3_fault_proxy: FaultProxy
) -> None:
    api = ContentsClient(server.url, server.token)
    api.save_text("d/a.txt", "kept").expect(201)
    keys_before = js3_raw.keys(js3_bucket)

    js3_fault_proxy.configure(
        rule=lambda req: Fault.garbage_body() if req.method != "HEAD" else None
    )
    for answer in (api.get("d"), api.copy("d/a.txt", "d"), api.rename("d/a.txt", "d/b.txt")):
        assert answer.status == 502, answer.body[:300]
        message = answer.json["message"]
        assert "could not be read" in message, message
        assert not answer.json.get("traceback")
    js3_fault_proxy.configure(rule=None)
    assert js3_raw.keys(js3_bucket) == keys_before
    assert js3_raw.get(js3_bucket, "d/a.txt") == b"kept"
    assert server.log_text().count("Traceback") == 0
