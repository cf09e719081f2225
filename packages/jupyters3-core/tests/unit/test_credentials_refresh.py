"""The refreshing cache, with a fake clock: windows, failures, concurrency, invalidation."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from credential_fakes import T0, FakeClock

from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.refresh import RefreshingCredentials
from jupyters3.errors import CredentialsRejected, NetworkError

LIFETIME = 3600.0
ADVISORY, MANDATORY = 900.0, 600.0


def creds(n: int) -> AwsCreds:
    return AwsCreds(f"AKID{n}", f"secret-{n}", {"x-amz-security-token": f"token-{n}"})


class Source:
    """A fetch function: serial ``n`` credentials valid for LIFETIME from the clock's now.

    ``fail`` makes the next fetches raise; ``gate`` (when set) holds each
    fetch until it is opened; ``delay`` sleeps (real time) inside each fetch.
    """

    def __init__(self, clock: FakeClock, lifetime: float | None = LIFETIME) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.delay = 0.0

    async def __call__(self) -> TimedCreds:
        self.calls += 1
        n = self.calls
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 5)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        expiration = None if self.lifetime is None else self.clock() + self.lifetime
        return TimedCreds(creds(n), expiration)


def make(
    lifetime: float | None = LIFETIME, **kwargs: float
) -> tuple[RefreshingCredentials, Source, FakeClock]:
    clock = FakeClock()
    source = Source(clock, lifetime)
    cache = RefreshingCredentials(
        source, clock=clock, advisory=ADVISORY, mandatory=MANDATORY, source="test", **kwargs
    )
    return cache, source, clock


async def settle(cache: RefreshingCredentials) -> None:
    """Wait (bounded) for a background refresh to finish."""
    for _ in range(200):
        if not cache.refreshing:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the refresh did not finish")


async def test_first_call_fetches_then_caches_until_the_advisory_window() -> None:
    cache, source, clock = make()
    assert await cache.get() == creds(1)
    clock.advance(LIFETIME - ADVISORY - 1)
    for _ in range(5):
        assert await cache.get() == creds(1)
    assert source.calls == 1
    assert cache.current == TimedCreds(creds(1), T0 + LIFETIME)


async def test_advisory_window_refreshes_in_the_background() -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME - ADVISORY + 1)
    source.gate = asyncio.Event()
    assert await cache.get() == creds(1)  # at once, not waiting for the gate
    await asyncio.sleep(0.01)
    assert cache.refreshing and source.calls == 2
    assert await cache.get() == creds(1)  # still one refresh
    assert source.calls == 2
    source.gate.set()
    await settle(cache)
    assert await cache.get() == creds(2)


async def test_advisory_refresh_failure_keeps_the_old_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME - ADVISORY + 1)
    source.fail = NetworkError("credential endpoint down")
    with caplog.at_level(logging.WARNING, "jupyters3.credentials"):
        assert await cache.get() == creds(1)
        await settle(cache)
        assert await cache.get() == creds(1)  # kept
    assert source.calls == 2  # no retry before retry_interval (30 s by default)
    assert "credential endpoint down" in caplog.text and "kept" in caplog.text
    assert "secret-1" not in caplog.text

    clock.advance(cache.retry_interval)
    assert await cache.get() == creds(1)
    await settle(cache)
    assert source.calls == 3  # retried in the background, failed again, still kept

    source.fail = None
    clock.advance(cache.retry_interval)
    await cache.get()
    await settle(cache)
    assert await cache.get() == creds(4)


async def test_mandatory_window_waits_for_the_refresh() -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME - MANDATORY + 1)
    source.gate = asyncio.Event()
    waiting = asyncio.ensure_future(cache.get())
    await asyncio.sleep(0.02)
    assert not waiting.done()  # the caller waits
    source.gate.set()
    assert await asyncio.wait_for(waiting, 5) == creds(2)


async def test_mandatory_refresh_failure_is_raised_then_retried() -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME - MANDATORY + 1)
    source.fail = NetworkError("down")
    with pytest.raises(NetworkError, match="down"):
        await cache.get()
    source.fail = None
    assert await cache.get() == creds(3)


async def test_200_concurrent_callers_at_expiry_cause_exactly_one_fetch() -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME + 5)  # expired
    source.delay = 0.05
    results = await asyncio.wait_for(asyncio.gather(*(cache.get() for _ in range(200))), 10)
    assert source.calls == 2
    assert all(r == creds(2) for r in results)


async def test_200_concurrent_callers_in_the_advisory_window_start_one_refresh() -> None:
    cache, source, clock = make()
    await cache.get()
    clock.advance(LIFETIME - ADVISORY + 1)
    source.delay = 0.05
    results = await asyncio.gather(*(cache.get() for _ in range(200)))
    assert all(r == creds(1) for r in results)  # nobody waited
    await settle(cache)
    assert source.calls == 2
    assert await cache.get() == creds(2)


async def test_200_concurrent_first_callers_cause_one_fetch() -> None:
    cache, source, _ = make()
    source.delay = 0.02
    results = await asyncio.gather(*(cache.get() for _ in range(200)))
    assert source.calls == 1 and all(r == creds(1) for r in results)


async def test_static_credentials_are_fetched_once() -> None:
    cache, source, clock = make(lifetime=None)
    await cache.get()
    clock.advance(10 * 365 * 86400)
    assert await cache.get() == creds(1)
    assert source.calls == 1


async def test_credentials_that_arrive_expired_are_an_error() -> None:
    cache, source, _ = make(lifetime=-1)
    with pytest.raises(CredentialsRejected, match="expired already") as info:
        await cache.get()
    assert info.value.code == "ExpiredCredentials"
    assert source.calls == 1


async def test_short_lived_credentials_do_not_block_every_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache, source, clock = make(lifetime=300)  # inside the 600 s mandatory window at once
    with caplog.at_level(logging.WARNING, "jupyters3.credentials"):
        await cache.get()
    assert "sooner than the 600 s refresh window" in caplog.text
    for _ in range(10):
        await cache.get()
    await settle(cache)
    assert source.calls <= 2  # at most one background refresh, not one per call
    clock.advance(151)  # halfway: now callers wait for a refresh
    calls = source.calls
    await cache.get()
    assert source.calls == calls + 1


async def test_invalidate_forces_one_refresh_for_the_rejected_credentials() -> None:
    cache, source, _ = make()
    old = await cache.get()
    assert cache.invalidate(creds(99)) is False  # not what is cached: nothing to do
    assert await cache.get() == old and source.calls == 1

    source.delay = 0.02
    assert cache.invalidate(old) is True

    async def retried_request() -> AwsCreds:
        cache.invalidate(old)  # every failed request reports the same credentials
        return await cache.get()

    results = await asyncio.gather(*(retried_request() for _ in range(200)))
    assert source.calls == 2
    assert all(r == creds(2) for r in results)
    assert cache.invalidate(old) is False  # late reports of the old ones change nothing
    assert await cache.get() == creds(2) and source.calls == 2
    assert cache.invalidate() is True  # without an argument: always
    assert await cache.get() == creds(3)


async def test_invalidate_before_any_fetch_is_a_no_op() -> None:
    cache, source, _ = make()
    assert cache.invalidate() is False
    assert source.calls == 0


async def test_a_cancelled_caller_does_not_cancel_the_refresh() -> None:
    cache, source, _ = make()
    source.gate = asyncio.Event()
    first = asyncio.ensure_future(cache.get())
    second = asyncio.ensure_future(cache.get())
    await asyncio.sleep(0.01)
    first.cancel()
    source.gate.set()
    assert await asyncio.wait_for(second, 5) == creds(1)
    assert source.calls == 1


def test_works_from_one_event_loop_after_another() -> None:
    """JupyterS3 checks S3 at start on a loop in a thread, then serves on Jupyter's loop."""
    cache, _, clock = make()
    got: list[AwsCreds] = []
    thread = threading.Thread(target=lambda: got.append(asyncio.run(cache.get())))
    thread.start()
    thread.join(10)
    clock.advance(LIFETIME)
    got.append(asyncio.run(cache.get()))
    assert got == [creds(1), creds(2)]


def test_window_order_is_checked() -> None:
    with pytest.raises(ValueError, match="mandatory <= advisory"):
        RefreshingCredentials(Source(FakeClock()), advisory=60, mandatory=120)
