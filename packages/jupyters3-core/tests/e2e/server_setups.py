"""The live-server set-ups that several e2e modules share, one section each.

Each set-up's fixture is in e2e/conftest.py (a session fixture where the
set-up starts servers, so that each pytest-xdist worker starts them once for
every module that uses them); its class and helpers are here, for the tests
to import. The larger harnesses have modules of their own:
conformance_harness.py and hostile_harness.py.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, ProxyRecord, RawS3
from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

MiB = 1024 * 1024

# -- One server through the (transparent) proxy: test_live.py ------------------------------
# Fixtures: live_server (one per session), s3 (the same, its proxy reset).


@dataclass
class Live:
    server: JupyterServer
    api: ContentsClient
    bucket: str
    raw: RawS3
    proxy: FaultProxy

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(self.raw.keys(self.bucket, prefix))

    def folder(self) -> str:
        """A fresh folder for one test (tests share the server and bucket)."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.api.mkdir(name).expect(201)
        return name


# -- Two servers on one bucket, A through the fault proxy: test_concurrent_writers.py -------
# Fixtures: pair (one per session), fresh_pair (the same, its proxy reset).


@dataclass
class Pair:
    a: ContentsClient  # through the fault proxy
    b: ContentsClient  # straight to moto
    raw: RawS3
    bucket: str
    proxy: FaultProxy

    def folder(self) -> str:
        name = f"c-{uuid.uuid4().hex[:10]}"
        self.a.mkdir(name).expect(201)
        return name

    def text(self, key: str) -> str:
        return self.raw.get(self.bucket, key).decode()


# -- Mounts: the main bucket, a writable ``team`` and a read-only ``lake``: test_mounts.py ---
# Fixture: buckets (one per session).

TEAM_PREFIX = "projects/ml/"
LAKE_PREFIX = "data/"


@dataclass
class Buckets:
    api: ContentsClient
    raw: RawS3
    main: str
    team: str
    lake: str
    log: Any

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return self.raw.keys(bucket, prefix)

    def snapshot(self, bucket: str) -> dict[str, str]:
        """Every key of ``bucket`` with its ETag."""
        pages = self.raw.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def mount_bucket_name(kind: str) -> str:
    """A fresh bucket name for a mount test (``kind``: main, team, lake...)."""
    return f"mnt-{kind}-{uuid.uuid4().hex[:10]}"


def text_of(buckets: Buckets, bucket: str, key: str) -> str:
    return buckets.raw.get(bucket, key).decode()


def notebook_model(source: str) -> dict[str, Any]:
    """A notebook model with one markdown cell, as PUT takes it."""
    return {
        "type": "notebook",
        "format": "json",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": source},
            ],
        },
    }


# -- A versioned and an unversioned bucket: test_versioned_checkpoints.py --------------------
# Fixture: bucket (one per session and kind, parametrized "versioned", "unversioned").


@dataclass
class Bucket:
    api: ContentsClient
    raw: RawS3
    name: str
    versioned: bool

    def stored_bytes(self) -> int:
        """Every version of every object, delete markers at 0."""
        pages = self.raw.client.get_paginator("list_object_versions").paginate(Bucket=self.name)
        return sum(v["Size"] for page in pages for v in page.get("Versions", []))


def make_bucket(
    factory: JupyterFactory, moto: MotoServer, region: str, *, versioned: bool, **extra: Any
) -> Bucket:
    """A fresh bucket (versioning Enabled if ``versioned``) and a server on it."""
    name = f"vc-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(name, region)
    raw = RawS3(moto.endpoint_url, region)
    if versioned:
        raw.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    config = jupyters3_config(bucket=name, endpoint_url=moto.endpoint_url, region=region)
    config["JupyterS3"].update(extra)
    server = factory(config=config)
    return Bucket(ContentsClient(server.url, server.token), raw, name, versioned)


def read_bytes(bucket: Bucket, path: str) -> bytes:
    return bucket.raw.get(bucket.name, path)


# -- A server killed at an S3 request: test_crash.py -----------------------------------------
# Fixture: crashable (one per test: it is killed).


def kill_on(server: JupyterServer, match: Any) -> tuple[Any, threading.Event]:
    """A proxy rule that SIGKILLs ``server`` when a request matches, and drops
    that request (the dead server would never have seen its answer)."""
    killed = threading.Event()

    def rule(req: RequestInfo) -> Fault | None:
        if not killed.is_set() and match(req):
            killed.set()
            server.kill()
            return Fault.drop()
        return None

    return rule, killed


def contents_api(server: JupyterServer) -> ContentsClient:
    return ContentsClient(server.url, server.token)


# -- Copies part by part (UploadPartCopy) over a lowered threshold: test_large_copies.py ----
# Fixtures: part_copy_api (one server per test), big (an object over the threshold).

SIZE = 12 * MiB + 5  # three parts of 5, 5 and 2 MiB


def part_copies(proxy: FaultProxy, key: str) -> list[ProxyRecord]:
    return [
        r for r in proxy.records() if r.method == "PUT" and r.key == key and "partNumber" in r.query
    ]


def assert_no_download(proxy: FaultProxy) -> None:
    assert not [r for r in proxy.records() if r.method == "GET" and r.key.endswith("big.bin")]
    assert sum(r.bytes_in for r in proxy.records()) < 64 * 1024  # nothing re-uploaded
