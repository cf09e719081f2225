"""Fixtures around jupyters3's own S3 client (re-exported by :mod:`plugin`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyters3.credentials import AwsCreds
from jupyters3.s3.client import S3Client
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.retry import RetryPolicy
from jupyters3_testing.leaks import random_secret
from jupyters3_testing.s3server import MotoServer

__all__ = ["client_config", "js3_client_options", "js3_credentials", "js3_make_client"]

#: What moto accepts (it does not check signatures unless told to); the secret
#: is random per process, so a test can look for it where it must not be.
TEST_CREDENTIALS = AwsCreds("AKIAJS3TESTING000000", random_secret(40), {})


@pytest.fixture
def js3_credentials() -> AwsCreds:
    """The credentials clients sign with (override point)."""
    return TEST_CREDENTIALS


@pytest.fixture
def js3_client_options() -> dict[str, Any]:
    """Default keyword arguments for :func:`js3_make_client` (override point).

    Retries keep the default attempt count and time budget but wait
    milliseconds, not seconds, so fault tests stay fast.
    """
    return {"retry_base_delay": 0.01, "retry_throttle_base_delay": 0.02}


#: The keyword arguments of :func:`js3_make_client` that go to S3Client itself;
#: every other one is a :class:`ClientConfig` field (or a ``retry_*`` shortcut).
_CLIENT_ARGUMENTS = ("credentials", "on_credentials_rejected", "clock", "sender")


def client_config(options: dict[str, Any]) -> ClientConfig:
    """A :class:`ClientConfig` from ``ClientConfig`` fields plus the shortcuts
    ``max_attempts``, ``retry_base_delay``, ``retry_throttle_base_delay`` and
    ``retry_budget`` (used when ``retry`` is not given)."""
    options = dict(options)
    defaults = RetryPolicy()
    shortcuts = {
        "max_attempts": options.pop("max_attempts", defaults.max_attempts),
        "base_delay": options.pop("retry_base_delay", defaults.base_delay),
        "throttle_base_delay": options.pop(
            "retry_throttle_base_delay", defaults.throttle_base_delay
        ),
        "budget": options.pop("retry_budget", defaults.budget),
    }
    options.setdefault("retry", RetryPolicy(**shortcuts))
    return ClientConfig(**options)


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

    Keyword arguments override the defaults: any :class:`ClientConfig` field
    (``bucket``, ``endpoint_url``, ``request_timeout``, ``retry``, ...), the
    retry shortcuts ``max_attempts``, ``retry_base_delay``,
    ``retry_throttle_base_delay`` and ``retry_budget``, and S3Client's own
    ``credentials``, ``on_credentials_rejected``, ``clock`` and ``sender``.
    Clients are closed after the test.
    """
    made: list[S3Client] = []

    async def credentials() -> AwsCreds:
        return js3_credentials

    def make(**overrides: Any) -> S3Client:
        options = {**js3_client_options, **overrides}
        arguments = {name: options.pop(name) for name in _CLIENT_ARGUMENTS if name in options}
        arguments.setdefault("credentials", credentials)
        options.setdefault("bucket", js3_bucket)
        options.setdefault("endpoint_url", js3_moto_server.endpoint_url)
        options.setdefault("region", js3_region)
        client = S3Client(client_config(options), **arguments)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
