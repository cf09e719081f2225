"""How many S3 requests, and how many sequential round trips, each contents call costs.

Measured from the request log of the proxy in front of moto, with latency
injected so that concurrent requests overlap visibly. The table is pinned:
a change that adds a request or a round trip to any operation fails here.
Run with ``-s`` to print it.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, ProxyRecord
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient, Response

LATENCY = 0.04


def round_trips(records: list[ProxyRecord]) -> int:
    """Waves of requests: a request that starts after every earlier one ended opens a wave."""
    waves = 0
    wave_end = float("-inf")
    for rec in sorted(records, key=lambda r: r.started):
        if rec.started >= wave_end - 0.002:
            waves += 1
            wave_end = rec.started + rec.duration
        else:
            wave_end = max(wave_end, rec.started + rec.duration)
    return waves


def describe(records: list[ProxyRecord]) -> str:
    def name(r: ProxyRecord) -> str:
        q = r.query
        if r.method == "GET" and "list-type" in q:
            return "LIST"
        if r.method == "POST" and "delete" in q:
            return "DeleteObjects"
        if r.method == "PUT" and r.bytes_in == 0 and not r.key.endswith("/"):
            return "COPY"  # a PUT without a body: CopyObject
        return r.method

    return " ".join(name(r) for r in sorted(records, key=lambda r: r.started))


@dataclass
class Env:
    api: ContentsClient
    proxy: FaultProxy
    folder: str


@pytest.fixture(scope="module", params=["main bucket", "mount"])
def counted(
    request: pytest.FixtureRequest,
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Env:
    """The same operations in the main bucket and inside a mount (another
    bucket, under a prefix, on the same endpoint): the same counts."""
    bucket = f"counts-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy_server.endpoint_url, region=js3_region
    )
    d = "w"
    if request.param == "mount":
        mounted = f"counts-mount-{uuid.uuid4().hex[:12]}"
        js3_moto_server.create_bucket(mounted, js3_region)
        config["JupyterS3"]["mounts"] = {"team": f"s3://{mounted}/projects/ml/"}
        d = "team/w"
    server: JupyterServer = js3_jupyter_session_factory(config=config)
    api = ContentsClient(server.url, server.token)
    js3_fault_proxy_server.reset()
    api.mkdir(d).expect(201)
    api.save_text(f"{d}/file.txt", "text").expect(201)
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    api.save(f"{d}/nb.ipynb", {"type": "notebook", "content": nb}).expect(201)
    api.mkdir(f"{d}/folder").expect(201)
    for i in range(10):
        api.save_text(f"{d}/folder/f{i}.txt", str(i)).expect(201)
    return Env(api, js3_fault_proxy_server, d)


_ids: dict[str, str] = {}


def _last_id(api: ContentsClient, d: str) -> str:
    """The newest checkpoint of the file (looked up before the proxy log is cleared)."""
    return _ids["file"]


NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
BIG = os.urandom(2 * 1024 * 1024 + 1)

#: name -> (call, expected requests, expected round trips)
OPERATIONS: list[tuple[str, Callable[[ContentsClient, str], Response], int, int]] = [
    ("get file", lambda a, d: a.get(f"{d}/file.txt"), 1, 1),
    ("get notebook", lambda a, d: a.get(f"{d}/nb.ipynb"), 1, 1),
    ("get folder (12 entries)", lambda a, d: a.get(d), 1, 1),
    ("get file content=0", lambda a, d: a.get(f"{d}/file.txt", content=False), 1, 1),
    (
        "get file content=0 hash=1",
        lambda a, d: a.get(f"{d}/file.txt", content=False, hash=True),
        1,
        1,
    ),
    # What JupyterLab asks before an upload or a "Save As": HEAD and LIST at
    # once, for a path this server does not know as a file.
    (
        "get a missing path content=0 (404)",
        lambda a, d: a.get(f"{d}/missing-{uuid.uuid4().hex[:6]}.txt", content=False),
        2,
        1,
    ),
    ("GET /files/ (a file)", lambda a, d: a.files(f"{d}/file.txt"), 2, 2),
    ("get folder content=0", lambda a, d: a.get(d, content=False, type="directory"), 1, 1),
    ("save file (replace)", lambda a, d: a.save_text(f"{d}/file.txt", "new text"), 2, 2),
    (
        "save notebook (replace)",
        lambda a, d: a.save(f"{d}/nb.ipynb", {"type": "notebook", "content": NB}),
        2,
        2,
    ),
    # A new name costs a LIST: a file may not be written over a folder of the
    # same name (409, as the reference refuses it), and the HEAD that
    # jupyter_server sends first only looks for a file. file_exists starts
    # that LIST beside the HEAD, so it costs no round trip.
    (
        "upload small file (new)",
        lambda a, d: a.save(
            f"{d}/up-{uuid.uuid4().hex[:6]}.bin",
            {"type": "file", "format": "base64", "content": base64.b64encode(b"x" * 1000).decode()},
        ),
        3,
        2,
    ),
    (
        "upload 2 MiB chunked (3 chunks)",
        lambda a, d: a.upload_chunked(f"{d}/big-{uuid.uuid4().hex[:6]}.bin", BIG, 1024 * 1024)[-1],
        3,
        2,
    ),
    ("mkdir", lambda a, d: a.mkdir(f"{d}/new-{uuid.uuid4().hex[:6]}"), 3, 3),
    # The listing that finds a free name also shows there are no checkpoints.
    ("new_untitled notebook", lambda a, d: a.new_untitled(d, type="notebook"), 4, 4),
    ("copy file", lambda a, d: a.copy(f"{d}/file.txt", d), 5, 3),
    ("copy notebook (+ its checkpoint)", lambda a, d: a.copy(f"{d}/nb.ipynb", d), 6, 3),
    ("rename file", lambda a, d: a.rename(f"{d}/file.txt", f"{d}/file2.txt"), 7, 4),
    ("rename file back", lambda a, d: a.rename(f"{d}/file2.txt", f"{d}/file.txt"), 7, 4),
    # The target's marker, naming the source, goes first (a repeated rename
    # finishes an interrupted one): one more request and round trip.
    ("rename folder (11 keys)", lambda a, d: a.rename(f"{d}/folder", f"{d}/folder2"), 18, 5),
    ("copy folder (11 keys)", lambda a, d: a.copy(f"{d}/folder2", d), 15, 3),
    ("create checkpoint", lambda a, d: a.create_checkpoint(f"{d}/file.txt"), 1, 1),
    ("list checkpoints", lambda a, d: a.checkpoints(f"{d}/file.txt"), 1, 1),
    # A restore is a write like a save: beside the checkpoint's HEAD, a HEAD
    # with If-Match checks that the file is still the version this server saw
    # (moto and some stores ignore If-Match on CopyObject): same round trips.
    (
        "restore checkpoint",
        lambda a, d: a.restore_checkpoint(f"{d}/file.txt", _last_id(a, d)),
        3,
        2,
    ),
    ("delete checkpoint", lambda a, d: a.delete_checkpoint(f"{d}/file.txt", _last_id(a, d)), 2, 2),
    ("delete file (with checkpoint)", lambda a, d: a.delete(f"{d}/file.txt"), 3, 2),
    ("delete folder (11 keys)", lambda a, d: a.delete(f"{d}/folder2"), 3, 2),
]


@pytest.mark.js3_no_chaos
def test_request_counts(counted: Env, capsys: pytest.CaptureFixture[str]) -> None:
    counted.proxy.configure(latency=LATENCY)
    rows = []
    failures = []
    for name, call, want_requests, want_trips in OPERATIONS:
        if name in ("restore checkpoint", "delete checkpoint"):
            listed = counted.api.checkpoints(f"{counted.folder}/file.txt").expect(200).json
            _ids["file"] = listed[0]["id"]
        counted.proxy.clear()
        started = time.monotonic()
        call(counted.api, counted.folder).expect(*((404,) if "(404)" in name else ()))
        elapsed = time.monotonic() - started
        records = counted.proxy.records()
        got = (len(records), round_trips(records))
        rows.append(
            f"| {name} | {got[0]} | {got[1]} | {elapsed * 1000:.0f} | {describe(records)} |"
        )
        if got != (want_requests, want_trips):
            failures.append(f"{name}: {got} != {(want_requests, want_trips)}: {describe(records)}")
    with capsys.disabled():
        ms = f"ms at {LATENCY * 1000:.0f} ms"
        print(f"\n| operation | S3 requests | round trips | {ms} | requests |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
    assert not failures, "\n".join(failures)
