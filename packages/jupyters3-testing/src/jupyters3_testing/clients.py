"""Fixtures around jupyters3's own S3 client (re-exported by :mod:`plugin`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyters3.credentials import AwsCreds
from jupyters3.s3.client import S3Client
from jupyters3.s3.retry import RetryPolicy
from jupyters3_testing.leaks import random_secret
from jupyters3_testing.s3server import MotoServer

__all__ = ["js3_client_options", "js3_credentials", "js3_make_client"]

#: What moto accepts (it does not check signatures unless told to); the secret
#: is random per process, so a test can look for it where it must not be.
TEST_CREDENTIALS = AwsCreds("AKIAJS3TESTING000000", random_secret(40), {})


@pytest.fixture
def js3_credentials() -> AwsCreds:
    """The credentials clients sign with (override point)."""
    return TEST_CREDENTIALS


@pytest.fixture
def js3_client_options() -> dict[str, Any]:
    """Default keyword arguments for S3Client in tests (override point).

    Retries keep the SDK's attempt count but wait milliseconds, not seconds,
    so fault tests stay fast.
    """
    return {"retry_base_delay": 0.01, "retry_throttle_base_delay": 0.02}


@pytest.fixture
def js3_make_client(
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_region: str,
    js3_credentials: AwsCreds,
    js3_client_options: dict[str, Any],
) -> Iterator[Callable[..., S3Client]]:
    """Factory for S3Client on the test's bucket; call it inside the async test.

    Example::

        async def test_put(js3_make_client, js3_fault_proxy):
            client = js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)
            await client.put_object("a.txt", b"hello")

    Keyword arguments override the defaults (``bucket``, ``endpoint_url``,
    ``max_attempts``, ``request_timeout``, ...). Clients are closed after the test.
    """
    made: list[S3Client] = []

    async def credentials() -> AwsCreds:
        return js3_credentials

    def make(**overrides: Any) -> S3Client:
        options = {**js3_client_options, **overrides}
        base = options.pop("retry_base_delay", 0.05)
        throttle = options.pop("retry_throttle_base_delay", 1.0)
        attempts = options.pop("max_attempts", 3)
        options.setdefault(
            "retry",
            RetryPolicy(max_attempts=attempts, base_delay=base, throttle_base_delay=throttle),
        )
        options.setdefault("bucket", js3_bucket)
        options.setdefault("endpoint_url", js3_moto_server.endpoint_url)
        options.setdefault("region", js3_region)
        options.setdefault("credentials", credentials)
        client = S3Client(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
