"""The sign, retry and refresh loop (Transport) on a fake sender: no network, no sleeping."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from jupyters3 import errors
from jupyters3.credentials import AwsCreds
from jupyters3.s3.bodies import FileBody, IterBody
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.retry import RetryPolicy
from jupyters3.s3.senders import SignedRequest
from jupyters3.s3.transport import Request, Transport
from jupyters3_testing.senders import FakeSender

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ok = FakeSender.answer


class FakeTime:
    """A monotonic clock that only the transport's sleeps move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Keys:
    """Credentials that change version when S3 rejects them."""

    def __init__(self) -> None:
        self.version = 1
        self.rejected: list[str] = []

    async def __call__(self) -> AwsCreds:
        return AwsCreds(f"AKIDV{self.version}", "secret", {})

    async def invalidate(self, creds: AwsCreds) -> None:
        self.rejected.append(creds.access_key_id)
        self.version += 1


def make(
    sender: FakeSender, *, retry: RetryPolicy | None = None, keys: Keys | None = None
) -> tuple[Transport, FakeTime]:
    time = FakeTime()
    keys = keys or Keys()
    config = ClientConfig(
        bucket="b", endpoint_url="http://127.0.0.1:9", retry=retry or RetryPolicy()
    )
    transport = Transport(
        config,
        keys,
        sender=sender,
        clock=lambda: NOW,
        on_credentials_rejected=keys.invalidate,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )
    return transport, time


def header(request: SignedRequest, name: str) -> str:
    return {k.lower(): v for k, v in request.headers.items()}[name]


def key_id(request: SignedRequest) -> str:
    return header(request, "authorization").split("Credential=")[1].split("/")[0]


async def test_a_signed_request_reaches_the_sender() -> None:
    """One attempt: the sender gets the URL, the SigV4 headers and the body."""
    sender = FakeSender([ok(200, b"data", headers={"etag": '"e"'})])
    transport, _ = make(sender)

    response = await transport.send(Request("PutObject", "PUT", "a b", body=b"hi"))

    assert response.body == b"data" and response.headers["etag"] == '"e"'
    [sent] = sender.requests
    assert sent.url == "http://127.0.0.1:9/b/a%20b"
    assert header(sent, "x-amz-date") == "20260102T030405Z"
    assert header(sent, "authorization").startswith("AWS4-HMAC-SHA256 Credential=AKIDV1/")
    assert sent.body == b"hi" and sent.stream is None


async def test_transient_failures_are_retried_and_the_quota_refunded() -> None:
    """503, 500 and a dropped connection, then success: 4 sends, quota whole again."""
    script = [
        ok(503, code="SlowDown"),
        ok(500, code="InternalError"),
        FakeSender.dropped(),
        ok(200),
    ]
    sender = FakeSender(script)
    transport, time = make(sender)

    await transport.send(Request("HeadObject", "HEAD", "k"))

    assert len(sender.requests) == 4
    assert len(time.sleeps) == 3
    assert transport.quota.available == 500 - 3 * 5 + 5


async def test_a_permanent_failure_surfaces_after_max_attempts() -> None:
    """Five 500s: ServerError, attempts == 5, four sleeps."""
    sender = FakeSender(default=ok(500, code="InternalError"))
    transport, time = make(sender)

    with pytest.raises(errors.ServerError) as info:
        await transport.send(Request("GetObject", "GET", "k"))

    assert info.value.attempts == 5 == len(sender.requests)
    assert len(time.sleeps) == 4


async def test_an_outage_of_503s_surfaces_within_the_time_budget() -> None:
    """S3 answers 503 to everything, throttling backoff at its full (1 s) base and
    the largest jitter: no retry starts later than 8 s after the first failure."""
    sender = FakeSender(default=ok(503, code="SlowDown"))
    transport, time = make(sender, retry=RetryPolicy(rand=lambda: 1.0))

    with pytest.raises(errors.Throttled):
        await transport.send(Request("GetObject", "GET", "k"))

    # Delays 1, 2, 4, then 8 cut to the 1 s left of the budget.
    assert time.sleeps == [1.0, 2.0, 4.0, 1.0]
    assert time.now == 8.0


async def test_a_slow_first_attempt_does_not_use_up_the_budget() -> None:
    """The budget counts from the first failure: a 30 s attempt is still retried."""
    time_box: list[FakeTime] = []

    def slow_then_fail(request: SignedRequest) -> BaseException:
        time_box[0].now += 30.0
        return FakeSender.dropped()

    sender = FakeSender([slow_then_fail, ok(200)])
    transport, time = make(sender)
    time_box.append(time)

    await transport.send(Request("UploadPartCopy", "PUT", "k"))
    assert len(sender.requests) == 2


async def test_an_endpoint_that_never_answers_gets_one_retry() -> None:
    """Each attempt waits out the 10 s connect timeout: the first failure comes
    at 10 s, the retry's at 20 s, past the budget: two attempts in all."""
    time_box: list[FakeTime] = []

    def black_hole(request: SignedRequest) -> BaseException:
        time_box[0].now += 10.0
        return FakeSender.dropped(timeout="connect")

    sender = FakeSender(default=None, fail_when_done=True, script=[black_hole] * 5)
    transport, time = make(sender)
    time_box.append(time)

    with pytest.raises(errors.NetworkError) as info:
        await transport.send(Request("GetObject", "GET", "k"))
    assert info.value.attempts == 2 and info.value.timeout == "connect"
    assert 20.0 <= time.now < 20.1


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (FakeSender.dropped(), False),  # the request may have landed
        (FakeSender.dropped(timeout="read"), False),
        (FakeSender.dropped(timeout="connect"), True),  # it never left
        (FakeSender.dropped(sent=False), True),
        (FakeSender.answer(500, code="InternalError"), True),  # S3 did not apply it
    ],
)
async def test_a_non_idempotent_request_is_repeated_only_when_it_never_applied(
    failure: object, retried: bool
) -> None:
    sender = FakeSender([failure, ok(204)])  # type: ignore[list-item]
    transport, _ = make(sender)
    request = Request("DeleteObject", "DELETE", "k", headers={"if-match": '"e"'}, idempotent=False)

    if retried:
        await transport.send(request)
    else:
        with pytest.raises(errors.NetworkError):
            await transport.send(request)
    assert len(sender.requests) == (2 if retried else 1)


async def test_timeouts_cost_more_quota() -> None:
    """A retry after a timeout takes 10 tokens, after anything else 5."""
    seen: list[int] = []

    def look(request: SignedRequest) -> BaseException:
        seen.append(transport.quota.available)
        return FakeSender.dropped(timeout="read")

    sender = FakeSender([FakeSender.dropped(timeout="connect"), look, look, ok(200)])
    transport, _ = make(sender)
    await transport.send(Request("GetObject", "GET", "k"))

    assert seen == [490, 480]
    assert transport.quota.available == 480  # the last retry's 10 come back


async def test_an_empty_quota_stops_retrying(caplog: pytest.LogCaptureFixture) -> None:
    """With the bucket dry, the first failure is final, and a warning says why."""
    sender = FakeSender(default=ok(500, code="InternalError"))
    transport, _ = make(sender)
    transport.quota.available = 4

    with pytest.raises(errors.ServerError):
        await transport.send(Request("GetObject", "GET", "k"))
    assert len(sender.requests) == 1
    assert transport.quota.refused == 1
    assert "retry quota is spent" in caplog.text


async def test_expired_credentials_are_refreshed_once_not_counted_as_an_attempt() -> None:
    """ExpiredToken: the refused keys are reported, new ones signed; then the
    ordinary retries still have all their attempts."""
    keys = Keys()
    sender = FakeSender([ok(400, code="ExpiredToken"), *[ok(500, code="InternalError")] * 4])
    transport, _ = make(sender, keys=keys)

    await transport.send(Request("PutObject", "PUT", "k", body=b"x"))

    assert keys.rejected == ["AKIDV1"]
    assert [key_id(r) for r in sender.requests] == ["AKIDV1"] + ["AKIDV2"] * 5


async def test_credentials_rejected_twice_are_final() -> None:
    keys = Keys()
    sender = FakeSender(default=ok(403, code="InvalidAccessKeyId"))
    transport, _ = make(sender, keys=keys)

    with pytest.raises(errors.CredentialsRejected):
        await transport.send(Request("GetObject", "GET", "k"))
    assert len(sender.requests) == 2 and keys.rejected == ["AKIDV1"]


async def test_a_sink_that_received_bytes_is_not_retried() -> None:
    """Part of the body reached a sink that can neither restart nor resume,
    then the connection broke: the transport must not start the body over."""
    got: list[bytes] = []

    def half_then_drop(request: SignedRequest) -> BaseException:
        assert request.sink is not None
        request.sink(b"first half")
        return FakeSender.dropped()

    sender = FakeSender([half_then_drop, ok(200, b"whole")])
    transport, _ = make(sender)

    with pytest.raises(errors.NetworkError):
        await transport.send(Request("GetObject", "GET", "k", sink=got.append))
    assert got == [b"first half"] and len(sender.requests) == 1


async def test_a_sink_gets_the_body_of_a_successful_retry() -> None:
    got: list[bytes] = []
    sender = FakeSender([FakeSender.dropped(), ok(200, b"whole")])
    transport, _ = make(sender)

    response = await transport.send(Request("GetObject", "GET", "k", sink=got.append))
    assert got == [b"whole"] and response.body == b""


async def test_a_one_shot_body_is_never_retried() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"abc"

    sender = FakeSender([ok(500, code="InternalError"), ok(200)])
    transport, _ = make(sender)

    with pytest.raises(errors.ServerError):
        await transport.send(Request("PutObject", "PUT", "k", body=IterBody(chunks(), 3)))
    assert len(sender.requests) == 1
    assert header(sender.requests[0], "x-amz-content-sha256") == "UNSIGNED-PAYLOAD"


@pytest.mark.parametrize(("keeps_alive", "in_memory"), [(True, True), (False, False)])
async def test_a_small_file_body_goes_in_memory_only_to_a_keep_alive_sender(
    tmp_path, keeps_alive: bool, in_memory: bool
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    sender = FakeSender(keeps_alive=keeps_alive)
    transport, _ = make(sender)

    await transport.send(Request("PutObject", "PUT", "k", body=FileBody(str(path), 2, 5)))

    [sent] = sender.requests
    assert (sent.body, sent.stream is None) == ((b"23456", True) if in_memory else (None, False))


async def test_an_error_inside_a_200_is_retried_as_a_server_error() -> None:
    """CopyObject may answer 200 with an <Error> body: retried like a 500."""
    sender = FakeSender([ok(200, code="InternalError"), ok(200, b"<CopyObjectResult/>")])
    transport, _ = make(sender)

    response = await transport.send(Request("CopyObject", "PUT", "k", may_fail_with_200=True))
    assert response.body == b"<CopyObjectResult/>" and len(sender.requests) == 2


async def test_a_body_over_max_body_is_refused_and_not_retried() -> None:
    sender = FakeSender([ok(200, b"x" * 11)])
    transport, _ = make(sender)

    with pytest.raises(errors.BodyTooLarge) as info:
        await transport.send(Request("GetObject", "GET", "k", max_body=10))
    assert (info.value.size, info.value.limit) == (11, 10)
    assert len(sender.requests) == 1


async def test_requests_in_flight_are_bounded_by_max_concurrency() -> None:
    """The semaphore holds a slot per exchange; four requests, two at a time."""
    in_flight = peak = 0

    class Slow(FakeSender):
        async def send(self, request: SignedRequest):  # type: ignore[no-untyped-def]
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().send(request)

    config = ClientConfig(bucket="b", endpoint_url="http://127.0.0.1:9", max_concurrency=2)
    transport = Transport(config, Keys(), sender=Slow())
    await asyncio.gather(*(transport.send(Request("HeadObject", "HEAD", f"{i}")) for i in range(4)))
    assert peak == 2


def test_close_closes_the_sender() -> None:
    sender = FakeSender()
    transport, _ = make(sender)
    transport.close()
    assert sender.closed


# -- the one retry loop: parsing, restarting and resuming inside the attempts ----


def _parse_xml(body: bytes) -> str:
    if not body.startswith(b"<ok"):
        raise ValueError("not the answer expected")
    return body.decode()


async def test_an_unreadable_answer_is_retried_with_backoff_under_the_same_policy() -> None:
    """Garbage, a 503, garbage, then a readable body: 4 sends, 3 backoffs, and
    the parsed value in the response."""
    script = [ok(200, b"<trunc"), ok(503, code="SlowDown"), ok(200, b"junk"), ok(200, b"<ok/>")]
    sender = FakeSender(script)
    transport, time = make(sender)

    response = await transport.send(Request("ListObjectsV2", "GET", None, parse=_parse_xml))

    assert response.parsed == "<ok/>"
    assert len(sender.requests) == 4
    assert len(time.sleeps) == 3 and all(delay >= 0 for delay in time.sleeps)
    assert transport.quota.available == 500 - 3 * 5 + 5


async def test_unreadable_answers_stop_at_max_attempts_in_all() -> None:
    """Garbled 200s and 503s mixed: never more than max_attempts sends."""
    script = [ok(200, b"x"), ok(503, code="SlowDown")] * 10
    sender = FakeSender(script)
    transport, _ = make(sender, retry=RetryPolicy(max_attempts=5))

    with pytest.raises(errors.MalformedResponse) as info:
        await transport.send(Request("ListObjectsV2", "GET", None, parse=_parse_xml))
    assert len(sender.requests) == 5 == info.value.attempts


async def test_an_unreadable_answer_to_a_non_idempotent_request_is_not_repeated() -> None:
    sender = FakeSender([ok(200, b"x"), ok(200, b"<ok/>")])
    transport, _ = make(sender)
    request = Request("CompleteMultipartUpload", "POST", "k", parse=_parse_xml, idempotent=False)
    with pytest.raises(errors.MalformedResponse):
        await transport.send(request)
    assert len(sender.requests) == 1


async def test_a_restartable_sink_starts_the_body_over_within_max_attempts() -> None:
    got = bytearray()

    def part_then_drop(request: SignedRequest) -> BaseException:
        assert request.sink is not None
        request.sink(b"first ha")
        return FakeSender.dropped()

    sender = FakeSender([part_then_drop, part_then_drop, ok(200, b"whole")])
    transport, time = make(sender)
    request = Request("GetObject", "GET", "k", sink=got.extend, restart_sink=got.clear)

    await transport.send(request)
    assert bytes(got) == b"whole" and len(sender.requests) == 3 and len(time.sleeps) == 2

    got.clear()
    sender = FakeSender(default=part_then_drop)  # type: ignore[arg-type]
    transport, _ = make(sender, retry=RetryPolicy(max_attempts=4))
    with pytest.raises(errors.NetworkError):
        await transport.send(request)
    assert len(sender.requests) == 4


async def test_a_resumable_stream_asks_for_the_rest_pinned_to_the_first_version() -> None:
    got: list[bytes] = []

    def first(request: SignedRequest) -> BaseException:
        assert request.sink is not None and request.on_answer is not None
        request.on_answer(200, FakeSender.answer(200, headers={"ETag": '"v1"'}).headers)
        request.sink(b"0123")
        return FakeSender.dropped()

    rest = ok(206, b"456789", headers={"ETag": '"v1"', "Content-Range": "bytes 4-9/10"})
    sender = FakeSender([first, rest])
    transport, _ = make(sender)

    response = await transport.send(Request("GetObject", "GET", "k", sink=got.append, resume=True))

    assert b"".join(got) == b"0123456789"
    assert "range" not in {k.lower() for k in sender.requests[0].headers}
    assert header(sender.requests[1], "range") == "bytes=4-"
    assert header(sender.requests[1], "if-match") == '"v1"'
    assert response.status == 206


async def test_a_resumed_range_keeps_the_requested_end() -> None:
    got: list[bytes] = []

    def first(request: SignedRequest) -> BaseException:
        assert request.sink is not None and request.on_answer is not None
        answer = FakeSender.answer(
            206, headers={"ETag": '"v1"', "Content-Range": "bytes 10-13/100"}
        )
        request.on_answer(206, answer.headers)
        request.sink(b"ab")
        return FakeSender.dropped()

    rest = ok(206, b"cd", headers={"ETag": '"v1"', "Content-Range": "bytes 12-13/100"})
    sender = FakeSender([first, rest])
    transport, _ = make(sender)
    request = Request(
        "GetObject", "GET", "k", headers={"Range": "bytes=10-13"}, sink=got.append, resume=True
    )
    await transport.send(request)
    assert b"".join(got) == b"abcd"
    assert header(sender.requests[1], "range") == "bytes=12-13"


async def test_a_resume_answered_with_the_whole_object_delivers_nothing_more() -> None:
    """An endpoint that ignores Range on the resume: RangeNotHonoured, not retried."""
    got: list[bytes] = []

    def first(request: SignedRequest) -> BaseException:
        assert request.sink is not None and request.on_answer is not None
        request.on_answer(200, FakeSender.answer(200, headers={"ETag": '"v1"'}).headers)
        request.sink(b"0123")
        return FakeSender.dropped()

    sender = FakeSender([first, ok(200, b"0123456789", headers={"ETag": '"v1"'})])
    transport, _ = make(sender)

    with pytest.raises(errors.RangeNotHonoured):
        await transport.send(Request("GetObject", "GET", "k", sink=got.append, resume=True))
    assert got == [b"0123"] and len(sender.requests) == 2


async def test_a_range_answered_with_the_whole_object_delivers_nothing() -> None:
    """A streamed ranged GET (a browser's Range download) answered 200 with
    the whole object: RangeNotHonoured before any byte reaches the sink."""
    got: list[bytes] = []
    sender = FakeSender([ok(200, b"0123456789", headers={"ETag": '"v1"'})])
    transport, _ = make(sender)
    request = Request(
        "GetObject", "GET", "k", headers={"Range": "bytes=2-5"}, sink=got.append, resume=True
    )
    with pytest.raises(errors.RangeNotHonoured, match=r"127\.0\.0\.1:9 answered a ranged GET"):
        await transport.send(request)
    assert got == [] and len(sender.requests) == 1
