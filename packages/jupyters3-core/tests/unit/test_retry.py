"""The retry policy: what is retried, how long it waits, and the quota."""

import pytest

from jupyters3 import errors
from jupyters3.s3.retry import RetryPolicy, RetryQuota


def policy(**kw):
    return RetryPolicy(rand=lambda: 1.0, **kw)


@pytest.mark.parametrize(
    "error",
    [
        errors.Throttled("slow down"),
        errors.ServerError("internal"),
        errors.NetworkError("reset", outcome_unknown=False),
        errors.NetworkError("reset", outcome_unknown=True),
    ],
)
def test_transient_errors_are_retried_up_to_max_attempts(error):
    """Attempts 1 and 2 may be followed by another; attempt 3 is the last."""
    p = policy(max_attempts=3)

    assert p.decide(error, 1, idempotent=True) is not None
    assert p.decide(error, 2, idempotent=True) is not None
    assert p.decide(error, 3, idempotent=True) is None


@pytest.mark.parametrize(
    "error",
    [errors.NotFound("m"), errors.AccessDenied("m"), errors.PreconditionFailed("m")],
)
def test_client_errors_are_not_retried(error):
    """An answer that will not change is final."""
    assert policy().decide(error, 1, idempotent=True) is None


def test_unknown_outcome_is_retried_only_when_safe():
    """A request that may have been applied is repeated only if idempotent."""
    p = policy()
    unknown = errors.NetworkError("reset", outcome_unknown=True)
    not_sent = errors.NetworkError("refused", outcome_unknown=False)

    assert p.decide(unknown, 1, idempotent=False) is None
    assert p.decide(not_sent, 1, idempotent=False) is not None
    # A 5xx answer means S3 did not apply it: retried even when not idempotent.
    assert p.decide(errors.ServerError("m"), 1, idempotent=False) is not None


def test_backoff_is_capped_exponential_with_full_jitter():
    """delay = rand * min(base * 2**(n-1), cap); throttling uses its own base."""
    p = policy(base_delay=0.05, throttle_base_delay=1.0, max_delay=20.0)
    server = errors.ServerError("m")
    slow = errors.Throttled("m")

    assert [p.delay(server, n) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]
    assert [p.delay(slow, n) for n in (1, 2, 6)] == [1.0, 2.0, 20.0]
    assert RetryPolicy(rand=lambda: 0.0).delay(slow, 4) == 0.0


def test_quota_stops_retry_storms_and_refills_on_success():
    """500 tokens, 5 per retry: the 101st retry without a success is refused."""
    quota = RetryQuota()
    p = policy(max_attempts=10)
    error = errors.ServerError("m")

    costs = [p.decide(error, 1, idempotent=True, quota=quota) for _ in range(101)]

    assert all(c is not None for c in costs[:100])
    assert costs[100] is None
    quota.release(5)
    assert p.decide(error, 1, idempotent=True, quota=quota) is not None


@pytest.mark.parametrize("kind", ["connect", "read"])
def test_quota_charges_timeouts_more_and_release_is_capped(kind):
    """A timeout (connect or read) costs 10; releasing never exceeds the capacity."""
    quota = RetryQuota()
    assert quota.acquire(errors.NetworkError("no answer", timeout=kind)) == 10
    assert quota.available == 490
    quota.release(None)
    quota.release(10_000)
    assert quota.available == 500


def test_quota_reads_the_timeout_flag_not_the_message():
    """Only the typed flag makes a timeout: a message saying "timeout" does not."""
    quota = RetryQuota()
    assert quota.acquire(errors.NetworkError("reset; not a Timeout at all")) == 5
    assert quota.acquire(errors.ServerError("RequestTimeout")) == 5
    assert quota.acquire(errors.NetworkError("x", timeout="read", outcome_unknown=True)) == 10


def test_the_default_is_five_attempts_within_an_eight_second_budget():
    """5 attempts (at 6% failed attempts: one request in ~1.3 million fails)."""
    p = RetryPolicy()
    assert (p.max_attempts, p.budget) == (5, 8.0)
    error = errors.ServerError("m")
    assert all(p.decide(error, n, idempotent=True) is not None for n in (1, 2, 3, 4))
    assert p.decide(error, 5, idempotent=True) is None


def test_no_retry_starts_after_the_time_budget():
    """Past the budget (from the first failure) nothing is retried; a delay
    that would end past it is cut short to end at it."""
    p = policy(max_attempts=10, throttle_base_delay=4.0, budget=8.0)
    slow = errors.Throttled("m")

    assert p.decide(slow, 1, idempotent=True, elapsed=0.0) == (4.0, 0)
    assert p.decide(slow, 2, idempotent=True, elapsed=5.0) == (3.0, 0)  # 8 s, cut to 3
    assert p.decide(slow, 3, idempotent=True, elapsed=8.0) is None
    assert p.decide(slow, 3, idempotent=True, elapsed=9.5) is None


def test_a_refused_retry_takes_nothing_from_the_quota():
    """Out of attempts or out of time: the quota is not charged."""
    quota = RetryQuota()
    p = policy(max_attempts=2, budget=1.0)
    error = errors.ServerError("m")
    assert p.decide(error, 2, idempotent=True, quota=quota) is None
    assert p.decide(error, 1, idempotent=True, quota=quota, elapsed=1.0) is None
    assert quota.available == 500


def test_the_policy_is_frozen_settings():
    """One policy may configure many clients: it holds no state."""
    p = RetryPolicy()
    with pytest.raises(AttributeError):
        p.max_attempts = 9  # type: ignore[misc]


def test_max_attempts_must_be_positive():
    """Zero attempts would never send anything."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="budget"):
        RetryPolicy(budget=-1)
