"""`jupyters3 policy` checked by an independent evaluator against what a server really sends.

A live Jupyter server on the prefix ``users/alice/`` (and a mount) runs every
operation of the request-count table (test_request_counts.OPERATIONS) while a
proxy hook records each S3 request, DeleteObjects bodies included. Then
jupyters3_testing's IAM evaluator, which shares no code with jupyters3's policy
builder, judges each recorded request against the policy ``python -m jupyters3
policy`` printed:

* every request of the table is allowed;
* the same request moved to another user's prefix (its key, its LIST prefix, its
  copy source, each key of its DeleteObjects body) is denied;
* at start, without ``--versioning --find-abandoned-uploads``, only the optional
  GetBucketVersioning and ListMultipartUploads are denied; with them, nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from jupyters3_testing import FaultProxy, MotoServer
from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.iam import evaluate
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3_actions import delete_objects_keys, s3_authorizations

# The request-count table itself (its module, loaded once under a name of its own).
_spec = importlib.util.spec_from_file_location(
    "js3_request_counts_table", Path(__file__).with_name("test_request_counts.py")
)
assert _spec is not None and _spec.loader is not None
request_counts = sys.modules.setdefault(
    "js3_request_counts_table", importlib.util.module_from_spec(_spec)
)
if not hasattr(request_counts, "OPERATIONS"):
    _spec.loader.exec_module(request_counts)

pytestmark = pytest.mark.js3_no_chaos  # judges exactly the requests the table sends


class Recorder:
    """A ProxyHook that keeps every request (a DeleteObjects with its body) and lets it pass."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[RequestInfo] = []

    def wants_body(self, info: RequestInfo) -> bool:
        return info.method == "POST" and not info.key and "delete" in info.query

    def decide(self, info: RequestInfo) -> Fault | None:
        with self.lock:
            self.seen.append(info)
        return None

    def take(self) -> list[RequestInfo]:
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


@dataclasses.dataclass
class Run:
    bucket: str
    mount_bucket: str
    startup: list[RequestInfo]
    table: list[RequestInfo]
    #: (bucket, own prefix, another prefix) the rewrite moves requests between.
    move: tuple[str, str, str]


def policy(run: Run, *extra: str) -> dict:
    """What ``python -m jupyters3 policy`` prints for alice's server."""
    return json.loads(_printed(run.bucket, run.mount_bucket, extra))


@functools.lru_cache
def _printed(bucket: str, mount_bucket: str, extra: tuple[str, ...]) -> str:
    return subprocess.run(
        [
            sys.executable, "-m", "jupyters3", "policy",
            "--bucket", bucket, "--prefix-template", "users/{username}/", "--user", "alice",
            "--mount", f"team=s3://{mount_bucket}/projects/ml/", *extra,
        ],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip


def denied(info: RequestInfo, document: dict) -> list[str]:
    """The authorizations of ``info`` that ``document`` does not allow."""
    needed = s3_authorizations(
        info.method, info.bucket, info.key, info.query, info.headers, info.body
    )
    return [f"{a.action} {a.resource}" for a in needed if evaluate([document], a) != "Allow"]


def moved(info: RequestInfo, bucket: str, own: str, other: str) -> RequestInfo | None:
    """``info`` with every key and prefix under ``own`` (in ``bucket``) moved under
    ``other``; None when the request names nothing under ``own``."""
    if info.bucket != bucket:
        return None
    touched = False

    def move(text: str) -> str:
        nonlocal touched
        if text.startswith(own):
            touched = True
            return other + text[len(own) :]
        return text

    key = move(info.key)
    query = {k: (move(v) if k == "prefix" else v) for k, v in info.query.items()}
    headers = dict(info.headers)
    for name, value in info.headers.items():
        if name.lower() == "x-amz-copy-source":
            source = value.lstrip("/")
            src_bucket, _, rest = source.partition("/")
            if src_bucket == bucket and rest.startswith(quote(own)):
                headers[name] = f"{src_bucket}/{quote(other)}{rest[len(quote(own)) :]}"
                touched = True
    body = info.body
    if body is not None:
        pairs = delete_objects_keys(body)
        if any(k.startswith(own) for k, _ in pairs):
            touched = True
            body = re.sub(rb"<Key>" + re.escape(own.encode()), b"<Key>" + other.encode(), body)
    if not touched:
        return None
    return dataclasses.replace(info, key=key, query=query, headers=headers, body=body)


@pytest.fixture(scope="module", params=["main bucket", "mount"])
def run(
    request: pytest.FixtureRequest,
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Run:
    bucket, mount_bucket = f"policy-{uuid.uuid4().hex[:12]}", f"policy-mnt-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    js3_moto_server.create_bucket(mount_bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket,
        endpoint_url=js3_fault_proxy_server.endpoint_url,
        region=js3_region,
        prefix="users/alice/",
    )
    config["JupyterS3"]["mounts"] = {"team": f"s3://{mount_bucket}/projects/ml/"}
    config["JupyterS3"]["abandoned_upload_age"] = 0  # the start-up sweep runs too
    js3_fault_proxy_server.reset()
    recorder = Recorder()
    js3_fault_proxy_server.add_hook(recorder)
    try:
        server = js3_jupyter_session_factory(config=config)
        api = ContentsClient(server.url, server.token)
        api.get("").expect(200)  # the start-up sweep has run once the server answers
        startup = recorder.take()
        d = "w" if request.param == "main bucket" else "team/w"
        api.mkdir(d).expect(201)
        api.save_text(f"{d}/file.txt", "text").expect(201)
        api.save(f"{d}/nb.ipynb", {"type": "notebook", "content": request_counts.NB}).expect(201)
        api.mkdir(f"{d}/folder").expect(201)
        for i in range(10):
            api.save_text(f"{d}/folder/f{i}.txt", str(i)).expect(201)
        for name, call, _, _ in request_counts.OPERATIONS:
            if name in ("restore checkpoint", "delete checkpoint"):
                listed = api.checkpoints(f"{d}/file.txt").expect(200).json
                request_counts._ids["file"] = listed[0]["id"]
            call(api, d).expect(*((404,) if "(404)" in name else ()))
        table = recorder.take()
    finally:
        js3_fault_proxy_server.remove_hook(recorder)
    if request.param == "main bucket":
        move = (bucket, "users/alice/", "users/bob/")
    else:
        move = (mount_bucket, "projects/ml/", "projects/other-team/")
    return Run(bucket, mount_bucket, startup, table, move)


def test_the_policy_allows_every_request_of_the_table(run: Run):
    document = policy(run)
    assert len(run.table) > 100
    refused = {
        f"{i.method} {i.key or i.bucket} {sorted(i.query)}": denied(i, document) for i in run.table
    }
    assert {k: v for k, v in refused.items() if v} == {}


def test_the_same_requests_on_another_prefix_are_denied(run: Run):
    document = policy(run)
    bucket, own, other = run.move
    elsewhere = [m for m in (moved(i, bucket, own, other) for i in run.table) if m is not None]
    assert len(elsewhere) == len([i for i in run.table if i.bucket == bucket]) > 50
    allowed = [f"{i.method} {i.key} {dict(i.query)}" for i in elsewhere if not denied(i, document)]
    assert allowed == []


def test_start_up_needs_only_the_optional_statements_beyond_the_default(run: Run):
    default = policy(run)
    refused = {a for i in run.startup for a in denied(i, default)}
    assert {a.split()[0] for a in refused} <= {
        "s3:GetBucketVersioning",
        "s3:ListBucketMultipartUploads",
    }
    assert any(a.startswith("s3:ListBucketMultipartUploads") for a in refused)  # the sweep ran
    full = policy(run, "--versioning", "--find-abandoned-uploads")
    assert [denied(i, full) for i in run.startup if denied(i, full)] == []
    assert [denied(i, full) for i in run.table if denied(i, full)] == []
