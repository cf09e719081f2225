"""Pure retry policy, modelled on the AWS SDKs' *standard* retry mode, with a
time budget so that an outage is reported quickly.

* At most ``max_attempts`` attempts in all (5 by default: at 6% failed
  attempts, 3 fail one request in ~4,600, 5 one in ~1.3 million).
* Retried: throttling codes, 5xx, ``RequestTimeout`` and friends, and
  network failures (see :mod:`jupyters3.errors`: ``S3Error.retryable``).
* A request whose outcome is unknown (the connection broke after it was
  sent, or its answer could not be read) is retried only when repeating it is
  safe (``idempotent``).
* Delay before attempt ``n+1``: full jitter, ``random() * min(base * 2**(n-1), cap)``;
  ``base`` is 1 s for throttling and 50 ms otherwise (the SDKs' 2026 scales).
* Time budget: no retry starts more than ``budget`` seconds (8 by default)
  after the request's first failure; a delay that would end later is cut
  short to end at the budget. When S3 fails every attempt quickly (503 to
  everything, connections refused) the error surfaces within ``budget``
  seconds plus one attempt; the first attempt's own duration (a large
  upload, a long copy) does not count, so a slow request still gets retried.
* A retry quota (:class:`RetryQuota`: a token bucket of 500; a retry costs 5,
  a timeout 10; a success refunds) stops retry storms when S3 is down rather
  than merely flaky. It is state: one per client, owned by the transport.

Nothing here sleeps or reads a clock: the transport asks :meth:`RetryPolicy.decide`
with the time elapsed and sleeps itself, and tests pass their own random source.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from jupyters3.errors import MalformedResponse, NetworkError, S3Error, Throttled

__all__ = ["RetryPolicy", "RetryQuota"]

_INITIAL_QUOTA = 500
_RETRY_COST = 5
_TIMEOUT_RETRY_COST = 10
_NO_RETRY_INCREMENT = 1


@dataclass
class RetryQuota:
    """The SDKs' retry token bucket, shared by all requests of one client."""

    capacity: int = _INITIAL_QUOTA
    available: int = _INITIAL_QUOTA
    #: Retries refused for want of tokens, since the client started.
    refused: int = 0

    def acquire(self, error: S3Error) -> int | None:
        """Take the cost of retrying after ``error``; ``None`` when exhausted.

        A timeout (``NetworkError.timeout`` set, connect or read) costs more.
        """
        timeout = isinstance(error, NetworkError) and error.timeout is not None
        cost = _TIMEOUT_RETRY_COST if timeout else _RETRY_COST
        if cost > self.available:
            self.refused += 1
            return None
        self.available -= cost
        return cost

    def release(self, cost: int | None) -> None:
        """Give back after a success: the retry's cost, or the small no-retry increment."""
        amount = cost if cost else _NO_RETRY_INCREMENT
        self.available = min(self.capacity, self.available + amount)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed attempt and how long to wait first (settings only)."""

    max_attempts: int = 5
    base_delay: float = 0.05
    throttle_base_delay: float = 1.0
    max_delay: float = 20.0
    #: No retry starts later than this many seconds after the first failure.
    budget: float = 8.0
    rand: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.budget < 0:
            raise ValueError("budget must be >= 0 seconds")

    def is_retryable(self, error: S3Error, *, idempotent: bool) -> bool:
        """Whether ``error`` may go away on an identical request. An
        unreadable answer, like a lost one, leaves the outcome unknown: such a
        request is repeated only when that is safe (``idempotent``)."""
        unknown = isinstance(error, MalformedResponse) or (
            isinstance(error, NetworkError) and error.outcome_unknown
        )
        return error.retryable and (idempotent or not unknown)

    def delay(self, error: S3Error, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1-based)."""
        base = self.throttle_base_delay if isinstance(error, Throttled) else self.base_delay
        return self.rand() * min(base * 2.0 ** (attempt - 1), self.max_delay)

    def decide(
        self,
        error: S3Error,
        attempt: int,
        *,
        idempotent: bool,
        quota: RetryQuota | None = None,
        elapsed: float = 0.0,
    ) -> tuple[float, int] | None:
        """``(delay, quota cost)`` to retry after ``error``, or ``None`` to give up.

        ``elapsed``: seconds since the request's first failure; past
        ``budget`` nothing is retried, and the delay never ends past it.
        ``quota``: the client's token bucket (``None``: no quota, cost 0).
        """
        if attempt >= self.max_attempts or not self.is_retryable(error, idempotent=idempotent):
            return None
        if elapsed >= self.budget:
            return None
        delay = min(self.delay(error, attempt), self.budget - elapsed)
        if quota is None:
            return delay, 0
        cost = quota.acquire(error)
        if cost is None:
            return None
        return delay, cost
