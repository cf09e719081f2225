"""Every contents operation, many times, with S3 failing under the server.

The fault proxy answers 3% of S3 requests with 503 SlowDown and 2% with 500
InternalError, drops 0.5% of connections before they reach S3 and 0.5% after
(the request took effect, its answer is lost): 5% errors and 1% dropped
connections, 6% of attempts in all. Four REST clients run rounds of every
operation side by side (on one server, so its retry quota is shared) until
the server has sent at least 5,000 S3 requests. With the server's default
retry settings every REST operation must succeed, the retry quota must never
run dry, and at the end every object in the bucket must be exactly what the
operations wrote (read straight from moto, not through the proxy). No
multipart upload with a part may be left behind (an empty one can be: a
CreateMultipartUpload whose answer was lost, see the end of the test).

At 6% per attempt, 3 attempts fail one request in ~4,600 (about one per
soak: it happened), 5 attempts one in ~1.3 million.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient, Response

MiB = 1024 * 1024
#: ~80 S3 requests a round: 64 rounds make over 5,000.
ROUNDS = 64
WORKERS = 4
MIN_S3_REQUESTS = 5_000


def notebook(text: str) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": text}],
    }


class Soak:
    """Runs operations, counts them, and keeps the expected bucket state."""

    def __init__(self, api: ContentsClient) -> None:
        self.api = api
        self.ops = 0
        self.expected: dict[str, bytes] = {}  # API path -> bytes (files)
        self.notebooks: dict[str, str] = {}  # API path -> the markdown source

    def do(self, what: str, call: Callable[[], Response], *statuses: int) -> Response:
        self.ops += 1
        response = call()
        assert response.status in (statuses or (200, 201, 204)), (
            f"{what}: HTTP {response.status} {response.body[:300]!r}"
        )
        return response

    def save_bytes(self, path: str, data: bytes) -> None:
        model = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
        self.do(f"save {path}", lambda: self.api.save(path, model))
        self.expected[path] = data

    def save_notebook(self, path: str, text: str) -> None:
        model = {"type": "notebook", "content": notebook(text)}
        self.do(f"save {path}", lambda: self.api.save(path, model))
        self.notebooks[path] = text

    def move(self, old: str, new: str) -> None:
        self.do(f"rename {old}", lambda: self.api.rename(old, new))
        for table in (self.expected, self.notebooks):
            for path in [p for p in table if p == old or p.startswith(old + "/")]:
                table[new + path[len(old) :]] = table.pop(path)  # type: ignore[index]


@pytest.fixture
def faulty(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
) -> tuple[JupyterServer, str, RawS3]:
    bucket = f"soak-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    # The default retry settings (max_attempts and the rest): what users get.
    config["JupyterS3"].update({"multipart_threshold": 6 * MiB, "multipart_part_size": 5 * MiB})
    return js3_jupyter_factory(config=config), bucket, RawS3(js3_moto_server.endpoint_url)


def run_round(soak: Soak, rng: random.Random, r: int) -> None:
    """One round of every operation in folder ``round<r>``, moved to ``moved<r>`` at the end."""
    api = soak.api
    d = f"round{r}"
    soak.do("mkdir", lambda: api.mkdir(d))
    for i in range(4):
        soak.save_bytes(f"{d}/f{i}.txt", f"round {r} file {i}\n".encode() * (i + 1))
    soak.save_bytes(f"{d}/blob.bin", rng.randbytes(200_000))
    soak.save_notebook(f"{d}/nb.ipynb", f"round {r}")
    soak.save_notebook(f"{d}/nb.ipynb", f"round {r}, saved again")
    if r % 2 == 0:  # a multipart upload (2 parts) through the chunk protocol
        big = rng.randbytes(7 * MiB)
        responses = api.upload_chunked(f"{d}/big.bin", big, MiB)
        soak.ops += len(responses)
        responses[-1].expect(200, 201)
        soak.expected[f"{d}/big.bin"] = big
    listing = soak.do("list", lambda: api.get(d)).json
    names = {e["name"] for e in listing["content"]}
    assert {"f0.txt", "blob.bin", "nb.ipynb"} <= names
    got = soak.do("get", lambda: api.get(f"{d}/f1.txt")).json
    assert got["content"] == f"round {r} file 1\n" * 2
    meta = soak.do("hash", lambda: api.get(f"{d}/blob.bin", content=False, hash=True))
    expected_md5 = hashlib.md5(soak.expected[f"{d}/blob.bin"]).hexdigest()
    assert meta.json["hash"] == expected_md5
    files = soak.do("files", lambda: api.files(f"{d}/blob.bin"))
    assert files.body == soak.expected[f"{d}/blob.bin"]
    cp = soak.do("checkpoint", lambda: api.create_checkpoint(f"{d}/f0.txt")).json
    soak.save_bytes(f"{d}/f0.txt", b"overwritten")
    soak.do("restore", lambda: api.restore_checkpoint(f"{d}/f0.txt", cp["id"]))
    soak.expected[f"{d}/f0.txt"] = f"round {r} file 0\n".encode()
    soak.move(f"{d}/f2.txt", f"{d}/renamed.txt")
    copy = soak.do("copy", lambda: api.copy(f"{d}/f3.txt", d)).json
    soak.expected[copy["path"]] = soak.expected[f"{d}/f3.txt"]
    nb_copy = soak.do("copy nb", lambda: api.copy(f"{d}/nb.ipynb", d)).json
    soak.notebooks[nb_copy["path"]] = soak.notebooks[f"{d}/nb.ipynb"]
    soak.do("delete", lambda: api.delete(f"{d}/f1.txt"))
    del soak.expected[f"{d}/f1.txt"]
    soak.move(d, f"moved{r}")


def test_every_operation_succeeds_under_faults_and_data_is_exact(
    faulty: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = faulty
    seed = 11
    js3_fault_proxy.reset(seed=seed)
    js3_fault_proxy.configure(
        error_503_rate=0.03, error_500_rate=0.02, drop_rate=0.005, drop_after_forward_rate=0.005
    )
    # Each worker its own REST client and bookkeeping (merged below), its own rounds.
    soaks = [Soak(ContentsClient(server.url, server.token)) for _ in range(WORKERS)]

    def work(w: int) -> None:
        rng = random.Random(seed * 100 + w)
        for r in range(w, ROUNDS, WORKERS):
            run_round(soaks[w], rng, r)

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = [pool.submit(work, w) for w in range(WORKERS)]
        failures = [repr(f.exception()) for f in outcomes if f.exception() is not None]
    took = time.monotonic() - started

    records = js3_fault_proxy.records()
    requests = len(records)
    faults = sum(1 for rec in records if rec.fault is not None)
    js3_fault_proxy.configure()  # the checks below read through moto directly anyway
    log = server.log_text()
    retries = log.count("; retrying in ")  # the transport's retries (DEBUG log)
    ops = sum(soak.ops for soak in soaks)
    report = (
        f"fault soak: {ops} REST operations, {requests} S3 requests, {faults} faults "
        f"injected, {retries} retries, {len(failures)} failed operations, {took:.0f} s"
    )
    print("\n" + report)
    assert not failures, f"{report}: {failures}"
    assert requests >= MIN_S3_REQUESTS, report
    assert faults > 0.04 * requests, report  # the faults really were there
    # Fewer retries than faults: libcurl itself resends a request whose
    # kept-alive connection was dropped before it was sent.
    assert retries > 0.5 * faults, report
    assert "retry quota is spent" not in log, report

    expected: dict[str, bytes] = {}
    notebooks: dict[str, str] = {}
    for soak in soaks:
        expected.update(soak.expected)
        notebooks.update(soak.notebooks)
    keys = set(raw.keys(bucket))
    for path, data in expected.items():
        assert raw.get(bucket, path) == data, path
    for path, text in notebooks.items():
        saved = json.loads(raw.get(bucket, path))
        assert "".join(saved["cells"][0]["source"]) == text, path
    contents = {k for k in keys if "/.checkpoints/" not in k and not k.endswith("/")}
    assert contents == set(expected) | set(notebooks)
    assert not [k for k in keys if k.startswith("round")]  # every round folder was moved
    # A CreateMultipartUpload whose answer was lost (the drop after forwarding)
    # is sent again: the first upload id was never seen, so it cannot be
    # aborted. It holds no part (S3 bills nothing for it) and the start-up
    # sweep aborts it after abandoned_upload_age. Any other upload left is a bug.
    for upload in raw.multipart_uploads(bucket):
        parts = raw.client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        assert parts.get("Parts", []) == [], upload["Key"]
