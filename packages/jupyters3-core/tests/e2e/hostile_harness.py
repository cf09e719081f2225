"""The hostile-input harness: a live server jailed under a prefix, and what changed in its bucket.

Hostile requests go to ``/api/contents/...`` or ``/files/...``, and each is
checked for two things:

(a) the answer is a clean 4xx: never a 5xx, no traceback, a JSON ``message``
    (:func:`error_problems` lists the few non-JSON bodies accepted, all written
    by jupyter_server or tornado before any contents code runs), and never the
    bytes of a bait object;
(b) nothing was written: every object of the bucket (key, ETag, size,
    Last-Modified) is unchanged, the seeded files keep their bytes, and S3
    carried out no PUT, POST or DELETE (the proxy in front of moto logs every
    request; starting a multipart upload is such a POST).

The server (:func:`open_hostile_server`) runs with ``prefix = "jail/"``; bait
objects lie outside it (bucket root, ``jail-sibling/``) and inside as
checkpoints. It runs in two modes (:data:`MODES`): ``default``
(``allow_hidden = False``: jupyter_server's own hidden-file check refuses dot
names before JupyterS3 sees them) and ``allow_hidden`` (JupyterS3's path rules
are the only defence); tests whose requests do not depend on it run in
``default`` only (:data:`DEFAULT_ONLY`). Each test gets a fresh folder
(:class:`Workspace`), seeded with boto3 straight into moto (not through the
code under test).

Used by test_hostile.py and test_renames.py, through the ``hostile_server``
and ``ws`` fixtures of e2e/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3, Response
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

PREFIX = "jail/"
#: A checkpoint id in JupyterS3's format (seeded for every file of a workspace).
CP = "20260101T000000000000-abcdef"
#: No legitimate answer ever contains this: it marks bait objects.
BAIT_MARK = b"bait:"
BAIT = {
    "secret.txt": b"bait: secret.txt at the bucket root",
    "x": b"bait: x at the bucket root",
    "etc/passwd": b"bait: root:x:0:0:root:/root:/bin/sh",
    "jail-sibling/x": b"bait: a sibling of the prefix",
    "jail-sibling/secret.txt": b"bait: a sibling of the prefix",
}
MODES: dict[str, dict[str, Any]] = {"default": {}, "allow_hidden": {"allow_hidden": True}}

TEXT = b"original text\n"
NOTEBOOK: dict[str, Any] = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {
            "cell_type": "code",
            "id": "cell-0",
            "source": "print('original')",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
        }
    ],
}
NOTEBOOK_BYTES = json.dumps(NOTEBOOK, indent=1).encode() + b"\n"
MARKER = (b"", "application/x-directory")

#: For tests whose requests never depend on allow_hidden (no dot names, no
#: non-string paths): the default configuration only.
DEFAULT_ONLY = pytest.mark.parametrize("hostile_server", ["default"], indirect=True)


def seed_objects(d: str) -> dict[str, tuple[bytes, str]]:
    """The objects of a fresh workspace ``d`` (API paths, without the prefix)."""
    return {
        f"{d}/": MARKER,
        f"{d}/f.txt": (TEXT, "text/plain"),
        f"{d}/f.txt/.checkpoints/{CP}": (b"bait: checkpoint of f.txt", "text/plain"),
        f"{d}/nb.ipynb": (NOTEBOOK_BYTES, "application/x-ipynb+json"),
        f"{d}/nb.ipynb/.checkpoints/{CP}": (b"bait: checkpoint of nb.ipynb", "text/plain"),
        f"{d}/sub/": MARKER,
        f"{d}/sub/inner.txt": (b"inner\n", "text/plain"),
    }


# ============================================================================
# The server, the bucket and what changed in it
# ============================================================================


@dataclass
class Live:
    mode: str
    server: JupyterServer
    api: ContentsClient
    bucket: str
    raw: RawS3
    proxy: FaultProxy
    pool: ThreadPoolExecutor

    def put_raw(self, objects: dict[str, tuple[bytes, str]]) -> None:
        """Write objects (API paths) straight into moto, in parallel."""

        def put(item: tuple[str, tuple[bytes, str]]) -> None:
            path, (data, content_type) = item
            self.raw.put(self.bucket, PREFIX + path, data, content_type)

        list(self.pool.map(put, objects.items()))

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.raw.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    def objects(self) -> dict[str, tuple[str, int, Any]]:
        """Every object of the bucket: key -> (ETag, size, Last-Modified)."""
        out: dict[str, tuple[str, int, Any]] = {}
        paginator = self.raw.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = (obj["ETag"], obj["Size"], obj["LastModified"])
        return out

    def log_size(self) -> int:
        path = self.server.log_path
        return path.stat().st_size if path is not None and path.exists() else 0

    def log_since(self, offset: int) -> str:
        path = self.server.log_path
        if path is None or not path.exists():
            return ""
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def snapshot(self) -> Snapshot:
        """The bucket now; clears the proxy's log so that later writes stand out."""
        self.proxy.clear()
        return Snapshot(self.objects(), self.log_size())

    def alive(self) -> bool:
        return self.api.status().status == 200


@dataclass(frozen=True)
class Snapshot:
    objects: dict[str, tuple[str, int, Any]]
    log_offset: int


@dataclass
class Changes:
    added: dict[str, tuple[str, int, Any]]
    removed: dict[str, tuple[str, int, Any]]
    modified: dict[str, tuple[str, int, Any]]
    #: PUT, POST and DELETE requests S3 carried out (a multipart upload's
    #: start, parts and completion included; a refused CopyObject is not a write).
    writes: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified or self.writes)

    def describe(self) -> str:
        lines = []
        for label, found in (
            ("added", self.added),
            ("removed", self.removed),
            ("modified", self.modified),
        ):
            for key in sorted(found)[:10]:
                lines.append(f"  {label}: {key!r} ({found[key][1]} bytes)")
            if len(found) > 10:
                lines.append(f"  ... and {len(found) - 10} more {label}")
        lines += [f"  S3 write request: {w}" for w in self.writes[:10]]
        return "\n".join(lines)


def changes(live: Live, before: Snapshot) -> Changes:
    after = live.objects()
    writes = [
        f"{r.method} {r.key!r}" + (f" ?{'&'.join(sorted(r.query))}" if r.query else "")
        for r in live.proxy.records()
        if r.method in ("PUT", "POST", "DELETE") and r.status is not None and r.status < 300
    ]
    return Changes(
        added={k: v for k, v in after.items() if k not in before.objects},
        removed={k: v for k, v in before.objects.items() if k not in after},
        modified={k: v for k, v in after.items() if k in before.objects and before.objects[k] != v},
        writes=writes,
    )


# ============================================================================
# Requests and the checks on their answers
# ============================================================================

NO_JSON = object()
#: What ContentsHandler.get writes (plain text, not JSON) for a missing or hidden path.
PLAIN_404 = re.compile(r"file or directory .* does not exist", re.S)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")


@dataclass
class Sent:
    label: str
    resp: Response


def describe(sent: Sent) -> str:
    return f"{sent.label}\n  -> HTTP {sent.resp.status}: {sent.resp.body[:600]!r}"


def error_problems(resp: Response, *, html_ok: bool = False) -> list[str]:
    """Why ``resp`` is not a clean 4xx (empty list: it is).

    Besides a JSON body with a ``message``, bodies written by jupyter_server or
    tornado before any contents code runs are accepted: the plain text of
    ``ContentsHandler.get`` for a 404 ("file or directory '...' does not exist"),
    and an HTML page (possibly empty) for a 400, 403 or 404 from a page handler: a
    URL no handler routes, such as ``a//b`` (with an undecodable ``%FF`` in it,
    jupyter_server's error page itself fails and the body is empty), or a
    PATCH/PUT/DELETE to a URL ending in ``/``, which tornado's ``removeslash``
    refuses. Every API error JupyterS3 raises is JSON. ``html_ok`` accepts any
    body for ``/files/``, a page handler.
    """
    problems = []
    if not 400 <= resp.status < 500:
        return [f"status {resp.status}, expected a clean 4xx"]
    text = resp.body.decode("utf-8", "replace")
    if TRACEBACK.search(text):
        problems.append("the body carries a traceback")
    if BAIT_MARK in resp.body:
        problems.append("the body leaks a bait object (outside the prefix or a checkpoint)")
    ctype = resp.headers.get("Content-Type", "")
    if isinstance(resp.json, dict):
        message = resp.json.get("message")
        if not isinstance(message, str) or not message.strip():
            problems.append("a JSON body without a message")
        if resp.json.get("traceback"):
            problems.append("a JSON body with a traceback")
    else:
        page = ctype.startswith("text/html") and resp.status in (400, 403, 404)
        plain_404 = resp.status == 404 and bool(PLAIN_404.fullmatch(text.strip()))
        if not (html_ok or page or plain_404):
            problems.append(f"no JSON message (Content-Type {ctype!r})")
    return problems


@dataclass
class Workspace:
    """A fresh folder ``d`` in the live server's prefix, seeded with
    ``f.txt`` (+ checkpoint), ``nb.ipynb`` (+ checkpoint), ``sub/inner.txt``."""

    live: Live
    d: str
    #: Keys seen appearing, deleted with the seeded ones at the end.
    added: set[str] = field(default_factory=set)

    def seed(self, objects: dict[str, tuple[bytes, str]]) -> None:
        """Write more objects straight into moto (deleted at the end)."""
        self.live.put_raw(objects)
        self.added.update(PREFIX + path for path in objects)

    def changes(self, before: Snapshot) -> Changes:
        found = changes(self.live, before)
        self.added.update(found.added)
        return found

    @property
    def api(self) -> ContentsClient:
        return self.live.api

    def key(self, path: str) -> str:
        return PREFIX + path

    def call(
        self,
        method: str,
        url: str,
        json_body: Any = NO_JSON,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Sent:
        """Send one request (``url`` already encoded, under the base URL)."""
        hdrs = dict(headers or {})
        if json_body is not NO_JSON:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
            shown = json.dumps(json_body)
        else:
            shown = repr(body[:200]) if body else ""
        resp = self.api.request(method, url, body=body, headers=hdrs)
        label = f"{method} /{url[:300]}{'...' if len(url) > 300 else ''} {shown[:300]}"
        return Sent(label, resp)

    def seeded_bytes_problems(self) -> list[str]:
        """The seeded files must keep their bytes."""
        problems = []
        for path in (f"{self.d}/f.txt", f"{self.d}/nb.ipynb"):
            want = seed_objects(self.d)[path][0]
            try:
                got = self.live.raw.get(self.live.bucket, self.key(path))
            except Exception as exc:
                problems.append(f"{path} is gone ({exc.__class__.__name__})")
                continue
            if got != want:
                problems.append(f"{path} now holds {got[:80]!r}")
        return problems

    def refusal_problems(
        self, before: Snapshot, *sent: Sent, html_ok: bool = False
    ) -> tuple[list[str], Changes]:
        """Why the answers are not clean refusals that wrote nothing since ``before``."""
        problems = []
        for one in sent:
            problems += [
                f"{p}\n  in: {describe(one)}" for p in error_problems(one.resp, html_ok=html_ok)
            ]
        seeded = self.live.pool.submit(self.seeded_bytes_problems)
        found = self.changes(before)
        if found:
            problems.append("something was written:\n" + found.describe())
        problems += seeded.result()
        return problems, found

    def refused(self, before: Snapshot, *sent: Sent, html_ok: bool = False) -> None:
        """Each answer is a clean 4xx and nothing was written since ``before``."""
        problems, _ = self.refusal_problems(before, *sent, html_ok=html_ok)
        if problems:
            raise AssertionError(self.report(before, sent, problems))

    def restore(self) -> None:
        """Put the seeded objects back and drop every key that appeared."""
        seeds = seed_objects(self.d)
        self.live.delete_keys(sorted(self.added - {PREFIX + p for p in seeds}))
        self.live.put_raw(seeds)

    def report(self, before: Snapshot, sent: tuple[Sent, ...], problems: list[str]) -> str:
        lines = [f"[{self.live.mode}] " + describe(one) for one in sent]
        lines += problems
        log = self.live.log_since(before.log_offset)
        tracebacks = [m.start() for m in re.finditer(r"Traceback \(most recent", log)]
        if tracebacks:
            tail = log[tracebacks[-1] :].splitlines()
            lines.append("server log (last traceback):\n    " + "\n    ".join(tail[:40]))
        return "\n".join(lines)


@contextlib.contextmanager
def open_hostile_server(
    mode: str,
    factory: JupyterFactory,
    moto: MotoServer,
    proxy: FaultProxy,
    region: str,
) -> Iterator[Live]:
    """A server in ``mode`` (a key of :data:`MODES`), talking to moto through ``proxy``."""
    bucket = f"hostile-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket, region)
    raw = RawS3(moto.endpoint_url, region)
    for key, data in BAIT.items():
        raw.put(bucket, key, data)
    config = jupyters3_config(
        bucket=bucket,
        endpoint_url=proxy.endpoint_url,
        region=region,
        prefix=PREFIX,
    )
    config["JupyterS3"].update(MODES[mode])
    server = factory(config=config)
    with ThreadPoolExecutor(8) as pool:
        yield Live(
            mode,
            server,
            ContentsClient(server.url, server.token),
            bucket,
            raw,
            proxy,
            pool,
        )
    proxy.reset()


@contextlib.contextmanager
def workspace(live: Live) -> Iterator[Workspace]:
    d = f"t-{uuid.uuid4().hex[:10]}"
    live.put_raw(seed_objects(d))
    w = Workspace(live, d)
    try:
        yield w
    finally:
        with contextlib.suppress(Exception):  # cleanup must never hide the real failure
            live.delete_keys(sorted({PREFIX + p for p in seed_objects(d)} | w.added))


def fill_in(value: Any, d: str) -> Any:
    """``value`` (a JSON body) with ``{d}`` in its strings replaced by ``d``."""
    if isinstance(value, str):
        return value.format(d=d)
    if isinstance(value, list):
        return [fill_in(v, d) for v in value]
    if isinstance(value, dict):
        return {k: fill_in(v, d) for k, v in value.items()}
    return value


def name_for_key_bytes(ws: Workspace, folder: str, total: int, suffix: str) -> str:
    """A path ``folder/<name>`` whose key (with the prefix) is ``total`` bytes."""
    used = len((PREFIX + folder + "/").encode()) + len(suffix)
    return f"{folder}/{'n' * (total - used)}{suffix}"
