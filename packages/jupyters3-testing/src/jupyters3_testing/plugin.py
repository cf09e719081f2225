"""pytest plugin: a real moto S3 server, a fault proxy and an independent S3 inspector.

Loaded automatically (``pytest11`` entry point) wherever jupyters3-testing is
installed, so everything here is opt-in: no autouse fixtures, no hooks, and
every fixture is prefixed ``js3_``. Override any fixture by defining one with
the same name in your ``conftest.py``.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

from jupyters3_testing.proxy import FaultProxy
from jupyters3_testing.raw import RawS3
from jupyters3_testing.s3server import MotoServer

__all__ = [
    "js3_bucket",
    "js3_bucket_name",
    "js3_fault_proxy",
    "js3_fault_proxy_server",
    "js3_moto_env",
    "js3_moto_server",
    "js3_raw",
    "js3_region",
]


# -- S3 server ---------------------------------------------------------------


@pytest.fixture(scope="session")
def js3_moto_env() -> dict[str, str]:
    """Extra environment variables for the moto server subprocess (override point)."""
    return {}


@pytest.fixture(scope="session")
def js3_moto_server(js3_moto_env: dict[str, str]) -> Iterator[MotoServer]:
    """A moto S3 server subprocess on 127.0.0.1, one per session (per xdist worker)."""
    server = MotoServer(js3_moto_env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def js3_region() -> str:
    """The AWS region used for buckets and clients."""
    return "us-east-1"


@pytest.fixture
def js3_bucket_name() -> str:
    """A unique, valid S3 bucket name for this test (not created)."""
    return f"js3-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def js3_bucket(js3_moto_server: MotoServer, js3_bucket_name: str, js3_region: str) -> Iterator[str]:
    """A fresh empty bucket in the moto server, deleted (best effort) after the test."""
    js3_moto_server.create_bucket(js3_bucket_name, js3_region)
    yield js3_bucket_name
    if not js3_moto_server.running:
        return
    try:
        RawS3(js3_moto_server.endpoint_url, js3_region).delete_bucket(js3_bucket_name)
    except Exception as exc:  # cleanup must never fail the test
        warnings.warn(
            f"js3_bucket: could not delete {js3_bucket_name}: {exc!r}",
            RuntimeWarning,
            stacklevel=1,
        )


# -- fault proxy ---------------------------------------------------------------


@pytest.fixture(scope="session")
def js3_fault_proxy_server(js3_moto_server: MotoServer) -> Iterator[FaultProxy]:
    """One FaultProxy in front of js3_moto_server for the whole session."""
    proxy = FaultProxy(js3_moto_server.endpoint_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def js3_fault_proxy(js3_fault_proxy_server: FaultProxy) -> Iterator[FaultProxy]:
    """The session FaultProxy, reset (transparent, empty log) before and after the test."""
    js3_fault_proxy_server.reset()
    yield js3_fault_proxy_server
    js3_fault_proxy_server.reset()


# -- independent inspector -----------------------------------------------------


@pytest.fixture
def js3_raw(js3_moto_server: MotoServer, js3_region: str) -> RawS3:
    """A boto3-based view of the moto server, independent of jupyters3's client."""
    return RawS3(js3_moto_server.endpoint_url, js3_region)


# ============================================================================
# jupyters3 client fixtures
#
# Reserved for the fixtures around jupyters3's own S3 client (jupyters3-core),
# added by the jupyters3-core maintainers. Keep them js3_-prefixed, not
# autouse, and build them on js3_moto_server / js3_fault_proxy / js3_bucket.
# ============================================================================

from jupyters3_testing.clients import (  # noqa: E402  (fixtures re-exported for pytest)
    js3_client_options,
    js3_credentials,
    js3_make_client,
)

__all__ += ["js3_client_options", "js3_credentials", "js3_make_client"]


# ============================================================================
# live Jupyter server fixtures (jupyter_fixtures.py)
# ============================================================================

from jupyters3_testing.jupyter_fixtures import (  # noqa: E402  (fixtures re-exported for pytest)
    js3_contents,
    js3_jupyter,
    js3_jupyter_config,
    js3_jupyter_debug,
    js3_jupyter_env,
    js3_jupyter_factory,
    js3_jupyter_session_factory,
)

__all__ += [
    "js3_contents",
    "js3_jupyter",
    "js3_jupyter_config",
    "js3_jupyter_debug",
    "js3_jupyter_env",
    "js3_jupyter_factory",
    "js3_jupyter_session_factory",
]
