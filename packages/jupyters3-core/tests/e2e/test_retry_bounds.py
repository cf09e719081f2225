"""No S3 request is sent more than ``max_attempts`` times for one contents
operation, whatever fails: 503s, dropped connections (before and after S3 saw
the request) and garbled 200 answers, each alone and mixed.

Counted at a fault proxy of the test's own, in front of moto, from what goes
over the wire: each request carries the SDKs' ``amz-sdk-invocation-id`` (one
per request, whatever its attempts) and ``amz-sdk-request: attempt=N``. Every
contents operation of a live Jupyter server is run under each kind of fault,
and for each operation:

* every request is attempted at most ``max_attempts`` times (its distinct
  attempt numbers at the proxy), and numbered 1..``max_attempts``;
* what the same method, key and query asks is attempted at most
  ``max_attempts`` times per request that asks it: an operation may ask the
  same thing twice on purpose (a rename HEADs its target before, and
  jupyter_server's PATCH asks for the new model after);
* with Tornado's own client (``http_client = "simple"``) nothing else is
  sent: every send is an attempt;
* with libcurl (``"curl"``, kept-alive connections) the only other sends are
  libcurl's own, and only after a dropped connection: when a kept-alive
  connection it reused closes before any answer, libcurl sends the same
  attempt again on another connection, up to 5 times (its
  ``CONN_MAX_RETRIES``; it has no setting to turn this off). Those resends
  never happen under 503s or unreadable answers;
* the answer is one a client can act on (never a 500).
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RequestInfo
from jupyters3_testing.faults import Fault
from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient, Response

pytestmark = pytest.mark.js3_no_chaos  # this test makes its own faults

MAX_ATTEMPTS = 5


#: Requests whose answer is an XML document the client reads: a garbled 200
#: is only a fault for those (a garbled 200 to a PUT would be a success).
def _answers_xml(info: RequestInfo) -> bool:
    q = info.query
    return (
        (info.method == "GET" and ("list-type" in q or "versions" in q or "uploads" in q))
        or (info.method == "POST" and ("delete" in q or "uploads" in q or "uploadId" in q))
        or (info.method == "PUT" and "x-amz-copy-source" in {k.lower() for k in info.headers})
    )


@dataclass
class Sends:
    """A proxy hook that injects the given kinds of fault at random (seeded)
    and counts every send by request (invocation id) and attempt."""

    kinds: tuple[str, ...]
    rate: float
    seed: int
    #: Sends of one attempt beyond the first that the HTTP client may make itself.
    resends_allowed: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: invocation id -> what it asks, and the attempt number of each send
    sent: dict[str, tuple[tuple[str, str, str], list[int]]] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        with self.lock:
            self.sent.clear()

    def wants_body(self, info: RequestInfo) -> bool:
        return False

    def decide(self, info: RequestInfo) -> Fault | None:
        headers = {k.lower(): v for k, v in info.headers.items()}
        query = "&".join(f"{k}={v}" for k, v in sorted(info.query.items()))
        attempt = int(headers.get("amz-sdk-request", "attempt=0").split(";")[0].split("=")[1])
        invocation = headers.get("amz-sdk-invocation-id", "")
        with self.lock:
            asked = (info.method, info.key, query)
            self.sent.setdefault(invocation, (asked, []))[1].append(attempt)
            draw = self.rng.random()
            kind = self.rng.choice(self.kinds)
        if draw >= self.rate:
            return None
        fault = {
            "503": Fault.slow_down(),
            "drop": Fault.drop(),
            "lost": Fault.drop_after_forward(),
            "garbled": Fault.garbage_body() if _answers_xml(info) else None,
        }[kind]
        if fault is not None:
            with self.lock:
                self.faults[kind] += 1
        return fault

    def problems(self, name: str) -> tuple[list[str], int, int]:
        """What breaks the bounds in the sends so far; the most attempts of
        one request, and libcurl's resends."""
        found: list[str] = []
        most = resends = 0
        attempts_of: Counter[tuple[str, str, str]] = Counter()
        asks: Counter[tuple[str, str, str]] = Counter()
        with self.lock:
            sent = dict(self.sent)
        for invocation, (asked, numbers) in sent.items():
            if not invocation:
                found.append(f"{name}: {asked} was sent without an invocation id")
                continue
            distinct = sorted(set(numbers))
            most = max(most, len(distinct))
            resends += len(numbers) - len(distinct)
            attempts_of[asked] += len(distinct)
            asks[asked] += 1
            if distinct != list(range(1, len(distinct) + 1)) or len(distinct) > MAX_ATTEMPTS:
                found.append(f"{name}: {asked} attempted as {numbers}")
            if any(numbers.count(n) > 1 + self.resends_allowed for n in distinct):
                found.append(f"{name}: {asked} sent {numbers}: an attempt sent again too often")
        for asked, attempts in attempts_of.items():
            if attempts > MAX_ATTEMPTS * asks[asked]:
                found.append(
                    f"{name}: {asked} attempted {attempts} times by {asks[asked]} requests"
                )
        return found, most, resends


@dataclass
class Env:
    api: ContentsClient
    proxy: FaultProxy
    http_client: str


@pytest.fixture(scope="module", params=["curl", "simple"])
def env(
    request: pytest.FixtureRequest,
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_region: str,
) -> Iterator[Env]:
    bucket = f"bounds-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    proxy = FaultProxy(js3_moto_server.endpoint_url).start()
    settings = {"max_attempts": MAX_ATTEMPTS, "http_client": request.param}
    config = merge_config(
        jupyters3_config(bucket=bucket, endpoint_url=proxy.endpoint_url, region=js3_region),
        {"JupyterS3": settings},
    )
    server: JupyterServer = js3_jupyter_session_factory(config=config)
    try:
        _wait_for_the_start_up_sweep(proxy)
        yield Env(ContentsClient(server.url, server.token), proxy, request.param)
    finally:
        proxy.stop()


def _wait_for_the_start_up_sweep(proxy: FaultProxy, timeout: float = 60.0) -> None:
    """The server lists abandoned multipart uploads once, in the background, as it
    starts: wait until that answer came, so that its attempts are not counted
    in the window of whichever operation a test runs first."""
    deadline = time.monotonic() + timeout
    while not any(
        r.method == "GET" and "uploads" in r.query and r.status is not None for r in proxy.records()
    ):
        assert time.monotonic() < deadline, "the server never listed its abandoned uploads"
        time.sleep(0.05)


NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
BLOB = base64.b64encode(b"\x00\x01" * 700_000).decode()


def operations(d: str) -> list[tuple[str, Callable[[ContentsClient], Response]]]:
    """The contents operations, in an order that builds on itself (each may
    fail under the faults; the later ones then answer 404 or 409)."""
    return [
        ("mkdir", lambda a: a.mkdir(d)),
        ("save new", lambda a: a.save_text(f"{d}/a.txt", "one")),
        ("save again", lambda a: a.save_text(f"{d}/a.txt", "two")),
        ("save notebook", lambda a: a.save(f"{d}/nb.ipynb", {"type": "notebook", "content": NB})),
        *[
            (f"save f{i}", lambda a, i=i: a.save_text(f"{d}/sub/f{i}.txt", str(i)))
            for i in range(4)
        ],
        ("get file", lambda a: a.get(f"{d}/a.txt")),
        ("get missing content=0", lambda a: a.get(f"{d}/missing.txt", content=False)),
        ("list folder", lambda a: a.get(d)),
        ("list subfolder", lambda a: a.get(f"{d}/sub")),
        ("/files/", lambda a: a.files(f"{d}/a.txt")),
        (
            "chunked upload",
            lambda a: a.upload_chunked(f"{d}/up.bin", base64.b64decode(BLOB), 600_000)[-1],
        ),
        ("create checkpoint", lambda a: a.create_checkpoint(f"{d}/a.txt")),
        ("list checkpoints", lambda a: a.checkpoints(f"{d}/a.txt")),
        ("copy file", lambda a: a.copy(f"{d}/a.txt", d)),
        ("copy notebook", lambda a: a.copy(f"{d}/nb.ipynb", d)),
        ("rename file", lambda a: a.rename(f"{d}/a.txt", f"{d}/b.txt")),
        ("rename folder", lambda a: a.rename(f"{d}/sub", f"{d}/sub2")),
        ("copy folder", lambda a: a.copy(f"{d}/sub2", d)),
        ("new untitled", lambda a: a.new_untitled(d, type="notebook")),
        ("delete file", lambda a: a.delete(f"{d}/b.txt")),
        ("delete folder", lambda a: a.delete(f"{d}/sub2")),
        ("delete all", lambda a: a.delete(d)),
    ]


@pytest.mark.parametrize(
    ("kinds", "rate"),
    [
        (("503",), 0.35),
        (("drop", "lost"), 0.3),
        (("garbled",), 0.5),
        (("503", "drop", "lost", "garbled"), 0.35),
    ],
    ids=["503s", "drops", "garbled-200s", "mixed"],
)
def test_no_request_is_sent_more_than_max_attempts_times(
    env: Env, kinds: tuple[str, ...], rate: float
) -> None:
    dropping = "drop" in kinds and env.http_client == "curl"
    sends = Sends(kinds, rate, seed=sum(map(ord, "".join(kinds))), resends_allowed=5 * dropping)
    env.proxy.add_hook(sends)
    most_attempts = resends = 0
    failures: list[str] = []
    answered: Counter[int] = Counter()
    try:
        for name, call in operations(f"d-{'-'.join(kinds)}-{uuid.uuid4().hex[:6]}"):
            sends.reset()
            response = call(env.api)
            answered[response.status] += 1
            if response.status >= 500 and response.status not in (502, 503):
                failures.append(f"{name}: HTTP {response.status} {response.body[:300]!r}")
            found, most, resent = sends.problems(name)
            failures += found
            most_attempts, resends = max(most_attempts, most), resends + resent
    finally:
        env.proxy.remove_hook(sends)
    print(
        f"{kinds}: faults {dict(sends.faults)}, answers {dict(answered)}, most attempts "
        f"{most_attempts}, libcurl resends {resends}"
    )
    assert sum(sends.faults.values()) > 20, f"too few faults injected: {sends.faults}"
    assert most_attempts > 2, "no request was retried more than once: the faults did nothing"
    assert not failures, "\n".join(failures)
    if not dropping:
        assert resends == 0, "an attempt was sent again without a dropped connection"
