"""Chunked uploads that do not end well: abandoned, cut by a server stop,
raced by a second tab, or failed by S3. Nothing half-written may remain:
no multipart upload in the bucket, no temporary file on the server's disk,
and the previous object intact."""

from __future__ import annotations

import base64
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from jupyters3_testing import Fault, FaultProxy, RawS3, RequestInfo
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

MIB = 2**20


@pytest.fixture
def start(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    tmp_path: Path,
) -> Any:
    """Start a server with a 5 MiB multipart threshold and its own TMPDIR."""

    def start(**traits: Any) -> tuple[ContentsClient, Path]:
        config = jupyters3_config(
            bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
        )
        config["JupyterS3"].update(
            {"multipart_threshold": 5 * MIB, "multipart_part_size": 5 * MIB, **traits}
        )
        tmp = tmp_path / "server-tmp"
        tmp.mkdir()
        server = js3_jupyter_factory(config=config, env={"TMPDIR": str(tmp)})
        return ContentsClient(server.url, server.token), tmp

    return start


def send(api: ContentsClient, path: str, number: int, data: bytes) -> Any:
    model = {
        "type": "file",
        "format": "base64",
        "name": path.rsplit("/", 1)[-1],
        "chunk": number,
        "content": base64.b64encode(data).decode(),
    }
    return api.save(path, model)


def spools(tmp: Path) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith("jupyters3-upload-")]


def wait_for(condition: Any, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_abandoned_upload_is_aborted_and_its_files_removed(
    start: Any, js3_raw: RawS3, js3_bucket: str
) -> None:
    api, tmp = start(upload_timeout=2.0)
    api.save_text("f.bin", "old").expect(201)
    for number in range(1, 8):  # 7 MiB: a multipart upload has begun
        send(api, "f.bin", number, os.urandom(MIB)).expect()
    assert wait_for(lambda: js3_raw.multipart_uploads(js3_bucket))
    assert spools(tmp)

    # No more chunks: the timer aborts it, with no request from anyone.
    assert wait_for(lambda: not js3_raw.multipart_uploads(js3_bucket))
    assert wait_for(lambda: not spools(tmp))
    late = send(api, "f.bin", 8, b"late").expect(400)
    assert "Unexpected chunk 8" in late.json["message"]
    assert js3_raw.get(js3_bucket, "f.bin") == b"old"


def test_stopping_the_server_aborts_uploads_in_progress(
    start: Any, js3_raw: RawS3, js3_bucket: str, js3_jupyter_factory: JupyterFactory
) -> None:
    api, tmp = start()
    for number in range(1, 8):
        send(api, "g.bin", number, os.urandom(MIB)).expect()
    assert wait_for(lambda: js3_raw.multipart_uploads(js3_bucket))

    server = js3_jupyter_factory.servers[-1]
    server.stop()  # SIGTERM, as `docker stop` or Ctrl-C

    assert js3_raw.multipart_uploads(js3_bucket) == []
    assert spools(tmp) == []
    assert not js3_raw.exists(js3_bucket, "g.bin")
    assert "aborted 1 unfinished upload" in server.log_text()


def test_a_new_upload_supersedes_one_in_progress_and_they_never_interleave(
    start: Any, js3_raw: RawS3, js3_bucket: str
) -> None:
    """Chunk 1 starts over, as in the reference; the older upload's next chunk is
    refused with 409 instead of being mixed into the newer one, and the bucket
    keeps the previous version until the newer upload's last chunk."""
    api, _ = start()
    api.save_text("h.bin", "previous").expect(201)
    first = [os.urandom(MIB) for _ in range(4)]
    second = [os.urandom(MIB) for _ in range(2)]
    send(api, "h.bin", 1, first[0]).expect()
    send(api, "h.bin", 2, first[1]).expect()
    send(api, "h.bin", 1, second[0]).expect()  # e.g. a retry from another tab
    late = send(api, "h.bin", 3, first[2]).expect(409)
    assert "superseded by a newer upload" in late.json["message"]
    assert js3_raw.get(js3_bucket, "h.bin") == b"previous"
    send(api, "h.bin", -1, second[1]).expect()
    assert js3_raw.get(js3_bucket, "h.bin") == b"".join(second)


def test_a_chunk_that_skips_a_number_is_refused_and_the_upload_goes_on(
    start: Any, js3_raw: RawS3, js3_bucket: str
) -> None:
    """Chunk 3 right after chunk 1 (chunk 2 was lost): 409 with a sentence,
    nothing appended, the bucket's object unchanged; the upload in progress
    goes on when chunk 2 comes. A repeated number still appends, as the
    reference does."""
    api, tmp = start()
    api.save_text("g.bin", "previous").expect()
    parts = [os.urandom(1000) for _ in range(4)]
    send(api, "g.bin", 1, parts[0]).expect()
    gap = send(api, "g.bin", 3, parts[2]).expect(409)
    assert gap.json["message"].startswith("Chunk 3 of the upload of g.bin came when chunk 2")
    assert js3_raw.get(js3_bucket, "g.bin") == b"previous"
    assert len(spools(tmp)) == 1  # the upload in progress is kept
    send(api, "g.bin", 2, parts[1]).expect()
    send(api, "g.bin", 2, parts[1]).expect()  # a repeated number appends
    send(api, "g.bin", -1, parts[3]).expect()
    assert js3_raw.get(js3_bucket, "g.bin") == parts[0] + parts[1] * 2 + parts[3]
    assert spools(tmp) == []


@pytest.mark.js3_no_chaos
def test_a_part_failing_in_s3_fails_the_upload_cleanly(
    start: Any, js3_raw: RawS3, js3_bucket: str, js3_fault_proxy: FaultProxy
) -> None:
    api, tmp = start(max_attempts=1)
    api.save_text("p.bin", "old").expect(201)

    def fail_parts(req: RequestInfo) -> Fault | None:
        return Fault.internal_error() if "partNumber" in req.query else None

    js3_fault_proxy.configure(rule=fail_parts)
    answers = [send(api, "p.bin", n, os.urandom(MIB)) for n in range(1, 12)]
    failed = [a for a in answers if not a.ok]
    assert failed, "the failed part must surface as an error of a later chunk"
    assert failed[0].status == 503
    assert "S3" in failed[0].json["message"]
    assert wait_for(lambda: not js3_raw.multipart_uploads(js3_bucket))
    assert wait_for(lambda: not spools(tmp))
    assert js3_raw.get(js3_bucket, "p.bin") == b"old"

    js3_fault_proxy.configure(rule=None)  # S3 is back: the user simply retries
    data = os.urandom(6 * MIB + 3)
    responses = api.upload_chunked("p.bin", data, chunk_size=MIB)
    assert all(r.ok for r in responses)
    assert js3_raw.get(js3_bucket, "p.bin") == data


@pytest.mark.js3_no_chaos  # counts the parts S3 received: a retried part would count twice
@pytest.mark.parametrize("chunk_kib", [1024, 1536])
def test_every_part_but_the_last_has_the_part_size(
    start: Any, js3_fault_proxy: FaultProxy, js3_raw: Any, js3_bucket: str, chunk_kib: int
) -> None:
    """Cloudflare R2 refuses a multipart upload whose non-final parts differ in size.

    The threshold (12 MiB) is not a multiple of the part size (5 MiB), and
    1.5 MiB chunks do not divide it either: the parts are still cut at 5 MiB.
    """
    api, tmp = start(multipart_threshold=12 * MIB)
    data = random.Random(chunk_kib).randbytes(23 * MIB + 12345)
    answers = api.upload_chunked("big.bin", data, chunk_size=chunk_kib * 1024)
    assert answers[-1].status in (200, 201), answers[-1].body[:300]
    parts = [r.bytes_in for r in js3_fault_proxy.records() if "partNumber" in r.query]
    assert parts == [5 * MIB] * 4 + [3 * MIB + 12345]
    assert js3_raw.get(js3_bucket, "big.bin") == data
    assert js3_raw.head(js3_bucket, "big.bin")["ETag"].endswith('-5"')
    assert spools(tmp) == []
