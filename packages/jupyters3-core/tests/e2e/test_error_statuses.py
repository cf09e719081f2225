"""``/api/contents`` and ``/files/`` answer the same status for the same S3 error.

Both map S3's answers through ``jupyters3.http_errors``, the one place where
domain errors become HTTP answers. A fault proxy answers the GetObject of one
file with each S3 error code of ``jupyters3.errors.S3_ERROR_CODES`` in turn
(the HEAD that ``/files/`` sends first goes through); a live server is asked
for the file's content through both endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from jupyters3 import errors
from jupyters3_testing import Fault, FaultProxy, MotoServer, RequestInfo
from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.js3_no_chaos  # the proxy's answers are the test's own

#: The HTTP status S3 sends with an error of each class.
_STATUS_OF: dict[type[errors.S3Error], int] = {
    errors.NoSuchBucket: 404,
    errors.NotFound: 404,
    errors.CredentialsRejected: 403,
    errors.AccessDenied: 403,
    errors.PreconditionFailed: 412,
    errors.ConcurrentWrite: 409,
    errors.Conflict: 409,
    errors.NotSupported: 501,
    errors.InvalidRequest: 400,
    errors.WrongRegion: 301,
    errors.BadConfiguration: 400,
    errors.Throttled: 503,
    errors.ServerError: 500,
}

CODES = sorted(errors.S3_ERROR_CODES)


@dataclass
class Env:
    api: ContentsClient
    proxy: FaultProxy


@pytest.fixture(scope="module")
def env(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Iterator[Env]:
    bucket = f"statuses-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    proxy = FaultProxy(js3_moto_server.endpoint_url).start()
    config = merge_config(
        jupyters3_config(bucket=bucket, endpoint_url=proxy.endpoint_url, region=js3_region),
        {"JupyterS3": {"max_attempts": 2}},
    )
    server = js3_jupyter_session_factory(config=config)
    api = ContentsClient(server.url, server.token)
    api.save_text("x.txt", "the file").expect(201)
    try:
        yield Env(api, proxy)
    finally:
        proxy.stop()


def _status(code: str) -> int:
    kind = errors.S3_ERROR_CODES[code]
    return next(status for cls, status in _STATUS_OF.items() if issubclass(kind, cls))


@pytest.mark.parametrize("code", CODES)
def test_the_same_s3_error_gets_the_same_status_from_both_endpoints(env: Env, code: str) -> None:
    status = _status(code)

    def rule(info: RequestInfo) -> Fault | None:
        if info.method == "GET" and info.key == "x.txt":
            return Fault.error(status, code, f"{code} (injected)")
        return None

    env.proxy.configure(rule=rule)
    try:
        contents = env.api.get("x.txt")
        files = env.api.files("x.txt")
    finally:
        env.proxy.configure()
    assert 400 <= contents.status < 600 and contents.status != 500, contents.body[:300]
    assert (files.status, code) == (contents.status, code), (contents.body[:300], files.body[:300])
