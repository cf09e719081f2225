"""An endpoint that does not answer as S3 does never makes the server lose
data, exhaust its memory or loop: each hostile answer is refused cleanly (a
4xx/5xx with a sentence, never a 500), and the source of an interrupted copy
stays whole.

A live server has its main bucket behind one fault proxy, and a mount
(``far``) behind a second one, so that copies between them stream through
the server (another endpoint) as they would between a MinIO and AWS. The
proxies play the hostile answers of ``jupyters3_testing.Fault``: a Range
ignored, bodies too large or endless, a continuation token that repeats, a
DTD ("billion laughs").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from jupyters3_testing import Fault, FaultProxy, MotoServer, RawS3, RequestInfo
from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient, Response

pytestmark = pytest.mark.js3_no_chaos  # the proxies' answers are the test's own

MIB = 1024 * 1024


@dataclass
class Env:
    api: ContentsClient
    main: FaultProxy
    far: FaultProxy
    raw: RawS3
    bucket: str
    far_bucket: str


@pytest.fixture(scope="module")
def env(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Iterator[Env]:
    bucket, far_bucket = f"hostile-{uuid.uuid4().hex[:10]}", f"far-{uuid.uuid4().hex[:10]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    js3_moto_server.create_bucket(far_bucket, js3_region)
    main = FaultProxy(js3_moto_server.endpoint_url).start()
    far = FaultProxy(js3_moto_server.endpoint_url).start()
    mount = {
        "url": f"s3://{far_bucket}/",
        "endpoint_url": far.endpoint_url,
        "share_main_credentials": True,  # moto takes any key
    }
    config = merge_config(
        jupyters3_config(bucket=bucket, endpoint_url=main.endpoint_url, region=js3_region),
        {"JupyterS3": {"mounts": {"far": mount}, "max_attempts": 3}},
    )
    server = js3_jupyter_session_factory(config=config)
    try:
        yield Env(
            ContentsClient(server.url, server.token),
            main,
            far,
            RawS3(js3_moto_server.endpoint_url, js3_region),
            bucket,
            far_bucket,
        )
    finally:
        main.stop()
        far.stop()


@pytest.fixture
def hostile(env: Env) -> Iterator[Env]:
    env.main.reset()
    env.far.reset()
    yield env
    env.main.reset()
    env.far.reset()


def _refused(response: Response, *words: str) -> str:
    """The answer's sentence, after checking it is a clean refusal (no 500)."""
    assert 400 <= response.status < 600 and response.status != 500, response.body[:300]
    message = str((response.json or {}).get("message", ""))
    for word in words:
        assert word in message, message
    return message


def _ranged(info: RequestInfo) -> Fault | None:
    ranged = any(k.lower() == "range" for k in info.headers)
    return Fault.ignore_range() if info.method == "GET" and ranged else None


def test_a_mount_that_ignores_range_stops_a_copy_before_anything_is_deleted(
    hostile: Env,
) -> None:
    """A cross-endpoint rename of a 20 MiB file reads it in 8 MiB ranges; an
    endpoint that answers each with the whole object (200) would have written
    the whole object as every part. The rename stops with a sentence naming
    the endpoint; the source is whole, nothing is written at the target and
    no multipart upload is left."""
    name = f"big-{uuid.uuid4().hex[:6]}.bin"
    data = bytes(range(256)) * (20 * MIB // 256)
    hostile.raw.put(hostile.far_bucket, name, data)
    hostile.far.configure(rule=_ranged)
    answer = hostile.api.rename(f"far/{name}", name)
    print(
        answer.status,
        answer.body[:400],
        [(r.method, r.key, r.query, r.fault, r.status) for r in hostile.far.records()],
    )
    _refused(answer, hostile.far.endpoint_url.removeprefix("http://"), "Range")
    assert hostile.raw.get(hostile.far_bucket, name) == data
    assert not hostile.raw.exists(hostile.bucket, name)
    assert hostile.raw.multipart_uploads(hostile.bucket) == []
    # Each ranged GET was answered with the whole object, and dropped unread.
    assert hostile.far.count("GET", key=name, status=200) >= 1


def test_a_range_download_from_an_endpoint_that_ignores_range_is_refused(
    hostile: Env,
) -> None:
    """A browser asks /files/ for bytes 0-9; the endpoint answers the whole
    object: no 206 with the wrong bytes, a 502 with a sentence."""
    name = f"r-{uuid.uuid4().hex[:6]}.bin"
    hostile.raw.put(hostile.far_bucket, name, b"0123456789" * 1000)
    hostile.far.configure(rule=_ranged)
    answer = hostile.api.files(f"far/{name}", range=(0, 9))
    assert answer.status == 502 and b"0123456789" * 2 not in answer.body
    hostile.far.configure()
    answer = hostile.api.files(f"far/{name}", range=(0, 9))
    assert (answer.status, answer.body) == (206, b"0123456789")


def _listing(fault: Fault) -> object:
    def rule(info: RequestInfo) -> Fault | None:
        return fault if info.method == "GET" and "list-type" in info.query else None

    return rule


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.oversized(20 * MIB), ("ListObjectsV2", "more than S3 ever sends")),
        (Fault.oversized(0, content_length=False), ("ListObjectsV2", "more than S3 ever sends")),
        (Fault.oversized(5 * MIB, status=503), ("error body of more than",)),
        (Fault.repeat_token(), ("the same next page twice",)),
        (Fault.doctype(), ("document type",)),
    ],
    ids=["oversized", "endless", "oversized-error", "repeated-token", "billion-laughs"],
)
def test_a_hostile_listing_is_refused_at_once(
    hostile: Env, fault: Fault, words: tuple[str, ...]
) -> None:
    """Refused on the first such answer: never asked again (asking again
    gets the same), never buffered past its kind's limit, never followed on."""
    folder = f"d-{uuid.uuid4().hex[:6]}"
    hostile.api.mkdir(folder).expect(201)
    hostile.main.configure(rule=_listing(fault))  # type: ignore[arg-type]
    answer = hostile.api.get(folder, type="directory")
    _refused(answer, *words)
    lists = sum("list-type" in r.query for r in hostile.main.records())
    # The repeated token is followed once (the second page names it again).
    assert lists == (2 if fault.kind == "repeat_token" else 1)
    hostile.main.configure()
    hostile.api.get(folder, type="directory").expect(200)  # the server is fine
