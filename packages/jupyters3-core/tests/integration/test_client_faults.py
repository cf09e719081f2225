"""Retries through the fault proxy: flaky S3 is survived, broken S3 is reported."""

import asyncio
import hashlib
import os
import socket

import pytest

from jupyters3 import AwsCreds, errors
from jupyters3.s3.client import IterBody
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.retry import RetryPolicy
from jupyters3.s3.senders import default_sender
from jupyters3_testing.faults import Fault, RequestInfo


async def _workload(client, tag):
    """One of every client call; returns what it read back for checking."""
    data = os.urandom(6 * 1024 * 1024)
    key = f"{tag}/ü obj+1.bin"
    await client.put_object(key, data[:1000], content_type="text/plain")
    head = await client.head_object(key)
    _, body = await client.get_object(key)
    _, part = await client.get_object(key, byte_range=(10, 19))
    chunks = []
    await client.get_object_stream(key, chunks.append)
    await client.copy_object(key, f"{tag}/copy.bin")
    upload = await client.create_multipart_upload(f"{tag}/mp.bin")
    e1 = await client.upload_part(f"{tag}/mp.bin", upload, 1, data[: 5 * 1024 * 1024])
    e2 = await client.upload_part(f"{tag}/mp.bin", upload, 2, data[5 * 1024 * 1024 :])
    await client.complete_multipart_upload(f"{tag}/mp.bin", upload, [(1, e1), (2, e2)])
    upload2 = await client.create_multipart_upload(f"{tag}/mpc.bin")
    c1 = await client.upload_part_copy(f"{tag}/mpc.bin", upload2, 1, f"{tag}/mp.bin")
    await client.complete_multipart_upload(f"{tag}/mpc.bin", upload2, [(1, c1)])
    doomed = await client.create_multipart_upload(f"{tag}/doomed.bin")
    await client.abort_multipart_upload(f"{tag}/doomed.bin", doomed)
    objects, _ = await client.list_all(f"{tag}/")
    await client.delete_object(f"{tag}/copy.bin")
    await client.delete_objects([f"{tag}/mpc.bin"])
    return data, head.size, body, part, b"".join(chunks), [o.key for o in objects]


async def test_every_call_succeeds_with_5_percent_faults(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """503s, 500s and dropped connections (5% in all) never fail a call."""
    js3_fault_proxy.configure(error_503_rate=0.02, error_500_rate=0.02, drop_rate=0.01)
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url, max_attempts=5)

    for round_ in range(12):
        tag = f"round{round_}"
        data, size, body, part, streamed, listed = await _workload(client, tag)
        assert size == 1000
        assert body == streamed == data[:1000]
        assert part == data[10:20]
        assert listed == sorted(
            f"{tag}/{n}" for n in ["copy.bin", "mp.bin", "mpc.bin", "ü obj+1.bin"]
        )
        assert js3_raw.get(js3_bucket, f"{tag}/mp.bin") == data

    faulted = js3_fault_proxy.count(faulted=True, bucket=js3_bucket)
    total = len(js3_fault_proxy.records())
    assert total > 200
    assert faulted >= 5, f"only {faulted} faults in {total} requests: the test proved nothing"
    assert js3_raw.multipart_uploads(js3_bucket) == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.slow_down(), errors.Throttled),
        (Fault.internal_error(), errors.ServerError),
        (Fault.drop(), errors.NetworkError),
    ],
)
async def test_permanent_failure_surfaces_after_max_attempts(
    js3_make_client, js3_bucket, js3_fault_proxy, fault, expected
):
    """A fault on every attempt is raised as its domain error after exactly
    max_attempts tries (the default: 5)."""
    js3_fault_proxy.configure(rule=lambda req: fault if req.key == "doomed.txt" else None)
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    with pytest.raises(expected) as info:
        await client.get_object("doomed.txt")

    assert (
        js3_fault_proxy.count("GET", key="doomed.txt", bucket=js3_bucket)
        == RetryPolicy().max_attempts
        == 5
    )
    assert info.value.attempts == 5
    assert "doomed.txt" in str(info.value)


async def test_client_errors_are_not_retried(js3_make_client, js3_fault_proxy):
    """A 403 is final: one request, AccessDenied."""
    js3_fault_proxy.configure(rule=lambda req: Fault.access_denied())
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    with pytest.raises(errors.AccessDenied):
        await client.head_object("x")
    assert len(js3_fault_proxy.records()) == 1


def _lose_first(method: str, key: str):
    """A proxy rule: the first ``method`` on ``key`` reaches S3, its answer is lost."""
    state = {"first": True}

    def rule(req):
        if req.method == method and req.key == key and state["first"]:
            state["first"] = False
            return Fault.drop_after_forward()
        return None

    return rule


async def test_lost_answer_to_a_create_only_put_is_recognised(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """A create-only PUT whose answer was lost is sent again; the retry's 412
    is recognised as the first attempt's own success (same MD5), not a conflict."""
    js3_fault_proxy.configure(rule=_lose_first("PUT", "new.txt"))
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    result = await client.put_object("new.txt", b"v1", if_none_match=True)

    assert result.etag == hashlib.md5(b"v1").hexdigest()
    assert js3_fault_proxy.count("PUT", bucket=js3_bucket) == 2
    assert js3_fault_proxy.count("PUT", status=412, bucket=js3_bucket) == 1
    assert js3_raw.get(js3_bucket, "new.txt") == b"v1"


async def test_lost_answer_then_someone_elses_object_is_a_conflict(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """If the retry finds different bytes there, the 412 stands: someone else's
    object is never taken for ours."""
    js3_raw.put(js3_bucket, "taken.txt", b"theirs")
    js3_fault_proxy.configure(rule=_lose_first("PUT", "taken.txt"))
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    with pytest.raises(errors.PreconditionFailed) as info:
        await client.put_object("taken.txt", b"mine", if_none_match=True)

    assert info.value.attempts == 2
    assert js3_raw.get(js3_bucket, "taken.txt") == b"theirs"


async def test_lost_answer_to_a_conditional_complete_is_recognised(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """CompleteMultipartUpload whose answer was lost: the retry finds the upload
    gone (or the key taken), and the object's multipart ETag proves it was ours."""
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)
    part = b"x" * (5 * 1024 * 1024)
    upload_id = await client.create_multipart_upload("big.bin")
    etags = [await client.upload_part("big.bin", upload_id, n, part) for n in (1, 2)]
    js3_fault_proxy.configure(rule=_lose_first("POST", "big.bin"))

    result = await client.complete_multipart_upload(
        "big.bin", upload_id, list(zip((1, 2), etags, strict=True)), if_none_match=True
    )

    assert result.etag.endswith("-2")
    records = js3_fault_proxy.records()
    completes = [r for r in records if r.method == "POST" and "uploadId" in r.query]
    assert len(completes) == 2
    assert js3_raw.get(js3_bucket, "big.bin") == part * 2


async def test_unknown_outcome_of_idempotent_write_is_retried(
    js3_make_client, js3_bucket, js3_raw, js3_fault_proxy
):
    """A plain PUT whose answer was lost is simply sent again."""
    first = True

    def once(req):
        nonlocal first
        if req.method == "PUT" and first:
            first = False
            return Fault.drop_after_forward()
        return None

    js3_fault_proxy.configure(rule=once)
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    await client.put_object("idem.txt", b"v1")

    assert js3_fault_proxy.count("PUT", bucket=js3_bucket) == 2
    assert js3_raw.get(js3_bucket, "idem.txt") == b"v1"


async def test_one_shot_stream_is_not_retried(js3_make_client, js3_fault_proxy, js3_bucket):
    """A body that cannot be replayed is never half-sent twice."""
    js3_fault_proxy.configure(rule=lambda req: Fault.slow_down())
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    async def gen():
        yield b"abc"

    # The proxy answers 503 before reading the body, so the client sees either
    # the 503 or the connection closing under its upload: both are final.
    with pytest.raises((errors.Throttled, errors.NetworkError)):
        await client.put_object("once.bin", IterBody(gen(), 3))
    assert js3_fault_proxy.count("PUT", bucket=js3_bucket) == 1


async def test_connection_refused_is_a_network_error(js3_make_client):
    """Nothing listening: a NetworkError that says the request was never sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = js3_make_client(endpoint_url=f"http://127.0.0.1:{port}")

    with pytest.raises(errors.NetworkError) as info:
        await client.head_object("x")

    assert info.value.outcome_unknown is False
    assert info.value.timeout is None
    assert f"127.0.0.1:{port}" in str(info.value)


@pytest.mark.parametrize(
    ("outage", "http_client"), [("503", "auto"), ("refused", "curl"), ("refused", "simple")]
)
async def test_an_outage_surfaces_within_10_seconds(
    js3_make_client, js3_fault_proxy, outage, http_client, capsys
):
    """S3 answers 503 SlowDown to everything, or nothing listens: with the
    default retry policy at its real delays (throttling backoff from 1 s, 5
    attempts, 8 s budget), the error reaches the caller in under 10 s."""
    if outage == "503":
        js3_fault_proxy.configure(rule=lambda req: Fault.slow_down())
        endpoint, expected = js3_fault_proxy.endpoint_url, errors.Throttled
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        expected = errors.NetworkError
    client = js3_make_client(endpoint_url=endpoint, retry=RetryPolicy(), http_client=http_client)

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(expected) as info:
        await client.get_object("notebook.ipynb")
    took = loop.time() - started

    with capsys.disabled():
        print(f"\noutage ({outage}, {http_client}): surfaced in {took:.2f} s "
              f"after {info.value.attempts} attempts")  # fmt: skip
    assert info.value.attempts >= 2  # it was retried, then given up on
    assert took < 10.0


@pytest.mark.parametrize("http_client", ["curl", "simple"])
async def test_request_timeout(js3_make_client, js3_fault_proxy, http_client):
    """A slow S3 hits the request timeout and is reported as a network error
    typed as a read timeout (connected, no answer in time), on either client."""
    js3_fault_proxy.configure(latency=1.0)
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url,
        request_timeout=0.2,
        max_attempts=2,
        http_client=http_client,
    )

    started = asyncio.get_running_loop().time()
    with pytest.raises(errors.NetworkError, match=r"[Tt]imeout") as info:
        await client.head_object("slow")
    assert info.value.outcome_unknown
    assert info.value.timeout == "read"
    assert asyncio.get_running_loop().time() - started < 1.0


class CountingSender:
    """Wraps a real sender and counts the exchanges in flight through it."""

    def __init__(self, inner):
        self.inner = inner
        self.keeps_alive = inner.keeps_alive
        self.in_flight = self.peak = 0

    async def send(self, request):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.send(request)
        finally:
            self.in_flight -= 1

    def close(self):
        self.inner.close()


async def test_concurrency_is_bounded(js3_make_client, js3_fault_proxy, js3_bucket):
    """No more requests are in flight than max_concurrency: counted at the
    HTTP sender exactly, and seen from S3's side (the proxy) within slack."""
    js3_fault_proxy.configure(latency=0.05)
    config = ClientConfig(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, max_concurrency=4
    )
    sender = CountingSender(default_sender(config))
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url, max_concurrency=4, sender=sender
    )

    await asyncio.gather(*(client.put_object(f"c/{i}", b"x") for i in range(24)))

    assert sender.peak == 4
    # Only this test's requests: an earlier test's abandoned ones (a client
    # timeout) may still be completing in the proxy.
    records = sorted(
        (r for r in js3_fault_proxy.records() if r.key.startswith("c/")), key=lambda r: r.started
    )
    # The proxy closes a record a little after the client has its answer (and
    # may send the next request): 10 ms of slack, far below the 50 ms latency.
    slack = 0.01
    worst = max(
        sum(1 for o in records if o.started <= r.started < o.started + o.duration - slack)
        for r in records
    )
    assert worst <= 4
    assert worst >= 3  # and the limit was actually reached


class RotatingCredentials:
    """A credentials source whose keys change when told they were rejected."""

    def __init__(self) -> None:
        self.version = 1
        self.fetched: list[int] = []
        self.invalidated = 0

    async def __call__(self) -> AwsCreds:
        self.fetched.append(self.version)
        return AwsCreds(f"AKIDV{self.version}", "secret", {"x-amz-security-token": "t"})

    async def invalidate(self, rejected: AwsCreds) -> None:
        assert rejected.access_key_id == f"AKIDV{self.version}"
        self.invalidated += 1
        self.version += 1


async def test_expired_token_refreshes_once_and_retries(
    js3_make_client, js3_fault_proxy, js3_raw, js3_bucket
):
    """S3 says the session token expired: new credentials, the same request again."""
    first = True

    def expire_once(req: RequestInfo) -> Fault | None:
        nonlocal first
        if req.method == "PUT" and first:
            first = False
            return Fault.error(400, "ExpiredToken", "The provided token has expired.")
        return None

    js3_fault_proxy.configure(rule=expire_once)
    creds = RotatingCredentials()
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url,
        credentials=creds,
        on_credentials_rejected=creds.invalidate,
    )
    await client.put_object("fresh.txt", b"data")

    assert creds.invalidated == 1
    assert creds.fetched == [1, 2]
    assert js3_fault_proxy.count("PUT", bucket=js3_bucket) == 2
    assert js3_raw.get(js3_bucket, "fresh.txt") == b"data"


async def test_credentials_still_rejected_after_refresh_fail_fast(
    js3_make_client, js3_fault_proxy, js3_bucket
):
    js3_fault_proxy.configure(
        rule=lambda req: Fault.error(403, "InvalidAccessKeyId", "The key does not exist.")
    )
    creds = RotatingCredentials()
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url,
        credentials=creds,
        on_credentials_rejected=creds.invalidate,
    )
    with pytest.raises(errors.CredentialsRejected):
        await client.get_object("k")
    assert creds.invalidated == 1  # one refresh, not one per attempt
    assert js3_fault_proxy.count("GET", bucket=js3_bucket) == 2
    # A HEAD answer has no body, so no code: a bare 403 is worth one refresh too.
    with pytest.raises(errors.AccessDenied):
        await client.head_object("k")
    assert creds.invalidated == 2
    assert js3_fault_proxy.count("HEAD", bucket=js3_bucket) == 2


async def test_access_denied_is_not_a_reason_to_refresh(
    js3_make_client, js3_fault_proxy, js3_bucket
):
    js3_fault_proxy.configure(rule=lambda req: Fault.access_denied())
    creds = RotatingCredentials()
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url,
        credentials=creds,
        on_credentials_rejected=creds.invalidate,
    )
    with pytest.raises(errors.AccessDenied):
        await client.get_object("k")
    assert creds.invalidated == 0
    assert js3_fault_proxy.count("GET", bucket=js3_bucket) == 1


@pytest.mark.parametrize(("http_client", "most"), [("curl", 2), ("simple", 50)])
async def test_connections_per_request(js3_make_client, js3_fault_proxy, http_client, most):
    """libcurl keeps connections alive; Tornado's own client opens one per request."""
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url, http_client=http_client)
    assert client.keeps_alive == (http_client == "curl")
    await client.put_object("k.txt", b"x")
    before = js3_fault_proxy.connections_opened
    for _ in range(50):
        await client.head_object("k.txt")
    opened = js3_fault_proxy.connections_opened - before
    assert opened <= most
    if http_client == "simple":
        assert opened == 50


async def test_file_bodies_small_reuse_connections_parts_stream(
    js3_make_client, js3_fault_proxy, tmp_path
):
    """Small file bodies go over kept-alive connections; multipart parts are
    streamed from disk on a connection each (memory stays flat)."""
    from jupyters3.s3.client import FileBody

    part = 5 * 1024 * 1024
    spool = tmp_path / "spool.bin"
    spool.write_bytes(os.urandom(2 * part))
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url, http_client="curl")
    await client.put_object("warm.txt", b"x")
    before = js3_fault_proxy.connections_opened
    for i in range(10):
        await client.put_object(f"small{i}.bin", FileBody(str(spool), i * 1000, 1000))
    assert js3_fault_proxy.connections_opened - before == 0

    upload = await client.create_multipart_upload("parts.bin")
    before = js3_fault_proxy.connections_opened
    etags = []
    for number in (1, 2):
        body = FileBody(str(spool), (number - 1) * part, part)
        etags.append((number, await client.upload_part("parts.bin", upload, number, body)))
    assert js3_fault_proxy.connections_opened - before == 2
    await client.complete_multipart_upload("parts.bin", upload, etags)
    _, data = await client.get_object("parts.bin")
    assert data == spool.read_bytes()


async def test_connection_pool_survives_quiet_periods(js3_make_client, js3_fault_proxy):
    """After a burst, single requests must not shrink libcurl's connection cache."""
    client = js3_make_client(
        endpoint_url=js3_fault_proxy.endpoint_url, http_client="curl", max_concurrency=16
    )
    await client.put_object("k.txt", b"x")
    await asyncio.gather(*(client.head_object("k.txt") for _ in range(32)))
    for _ in range(10):
        await client.head_object("k.txt")
    before = js3_fault_proxy.connections_opened
    await asyncio.gather(*(client.head_object("k.txt") for _ in range(32)))
    assert js3_fault_proxy.connections_opened - before <= 1


async def test_an_unreadable_answer_is_sent_again_then_reported(
    js3_make_client, js3_fault_proxy, js3_bucket
):
    """A 200 whose XML is truncated: the listing is sent again and succeeds; when
    every answer is unreadable it is a typed MalformedResponse, never a ValueError."""
    client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)
    await client.put_object("a/x.txt", b"x")
    garbled = {"n": 0}

    def once(req: RequestInfo):
        if "list-type" in req.query and garbled["n"] == 0:
            garbled["n"] += 1
            return Fault.garbage_body()
        return None

    js3_fault_proxy.configure(rule=once)
    objects, _ = await client.list_all("a/")
    assert [o.key for o in objects] == ["a/x.txt"]
    assert js3_fault_proxy.count("GET", bucket=js3_bucket) == 2

    js3_fault_proxy.clear()
    js3_fault_proxy.configure(rule=lambda req: Fault.garbage_body())
    for call in (lambda: client.list_all("a/"), lambda: client.copy_object("a/x.txt", "a/y")):
        with pytest.raises(errors.MalformedResponse) as info:
            await call()
        assert info.value.operation in ("ListObjectsV2", "CopyObject")
        assert "could not be read" in str(info.value)
    assert len(js3_fault_proxy.records()) == 2 * RetryPolicy().max_attempts  # 5 attempts each
