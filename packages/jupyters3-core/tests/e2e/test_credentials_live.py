"""A live Jupyter server on ECS-style rotating credentials that really expire.

A container-credentials endpoint (a Tornado server on 127.0.0.1, in a thread)
hands out new keys on every GET, each valid for a few seconds. The fault proxy
in front of moto plays S3's part in enforcing them: a request signed with keys
past their expiry gets ``400 ExpiredToken``, as AWS answers. The Jupyter server
runs ``JupyterS3ECSRoleAuthentication`` with ``AWS_CONTAINER_CREDENTIALS_FULL_URI``
pointing at the endpoint, and the ``Authorization`` token of
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` (EKS Pod Identity), which the endpoint checks.

Every secret involved (the authorization token, each secret key and session
token handed out: long random strings) is watched: the server runs with debug
logging and its log is scanned for them when it stops (``JupyterServer.secrets``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyters3_testing import (
    Fault,
    FaultProxy,
    JupyterServerError,
    MotoServer,
    RequestInfo,
    merge_config,
)
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.leaks import random_secret
from jupyters3_testing.rest import ContentsClient


class CredentialsEndpoint:
    """Issues ``ASIAROT<n>`` keys valid for ``lifetime`` seconds from each GET
    that carries ``Authorization: <token>`` (401 otherwise)."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.token = random_secret(64)
        self.issued: dict[str, float] = {}  # key id -> expiry (epoch seconds)
        #: Every secret handed out, label -> value: the server's log must hold none.
        self.secrets: dict[str, str] = {}
        self.refused = 0
        self.fetched_at: list[float] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sockets,), daemon=True)
        self._thread.start()
        assert self._started.wait(10), "credentials endpoint did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/credentials"

    def issue(self) -> dict[str, str]:
        with self._lock:
            now = time.time()
            key = f"ASIAROT{len(self.issued) + 1:05d}"
            expires = now + self.lifetime
            self.issued[key] = expires
            self.fetched_at.append(now)
            secret, token = random_secret(40), random_secret(300)
            self.secrets[f"SecretAccessKey of {key}"] = secret
            self.secrets[f"Token of {key}"] = token
        stamp = datetime.fromtimestamp(expires, timezone.utc).isoformat(timespec="milliseconds")
        return {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": stamp.replace("+00:00", "Z"),
        }

    def expired(self, key: str, at: float) -> bool:
        with self._lock:
            return key in self.issued and at >= self.issued[key]

    def fetches(self) -> int:
        with self._lock:
            return len(self.fetched_at)

    def _run(self, sockets: list[Any]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        endpoint = self

        class Handler(RequestHandler):
            def get(self) -> None:
                if self.request.headers.get("Authorization") != endpoint.token:
                    endpoint.refused += 1
                    self.set_status(401)
                    return
                self.set_header("Content-Type", "application/json")
                self.write(json.dumps(endpoint.issue()))

        async def serve() -> None:
            server = HTTPServer(Application([(r"/v1/credentials", Handler)]))
            server.add_sockets(sockets)
            self._started.set()

        loop.run_until_complete(serve())
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def endpoint() -> Iterator[CredentialsEndpoint]:
    server = CredentialsEndpoint(lifetime=3.0)
    yield server
    server.stop()


def enforce_expiry(endpoint: CredentialsEndpoint) -> Any:
    """A proxy rule: S3's ExpiredToken for keys past their expiry."""

    def rule(info: RequestInfo) -> Fault | None:
        if endpoint.expired(info.access_key_id, time.time()):
            return Fault.error(400, "ExpiredToken", "The provided token has expired.")
        return None

    return rule


def start(
    factory: JupyterFactory,
    moto: MotoServer,
    proxy: FaultProxy,
    endpoint: CredentialsEndpoint,
    region: str,
    windows: tuple[float, float],
) -> tuple[ContentsClient, str]:
    bucket = f"rot-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket, region)
    advisory, mandatory = windows
    config = merge_config(
        jupyters3_config(bucket=bucket, endpoint_url=proxy.endpoint_url, region=region),
        {
            "JupyterS3": {"authentication_class": "jupyters3.JupyterS3ECSRoleAuthentication"},
            "JupyterS3ECSRoleAuthentication": {
                "advisory_refresh_seconds": advisory,
                "mandatory_refresh_seconds": mandatory,
            },
        },
    )
    env: dict[str, str | None] = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": endpoint.token,  # watched: it is in the env
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
    }
    # The endpoint's dict itself: the keys it hands out later are watched too.
    server = factory(config=config, env=env, secrets=endpoint.secrets)
    assert server.debug  # every log line that could hold a secret is written
    return ContentsClient(server.url, server.token), bucket


@pytest.mark.js3_no_chaos
def test_serves_across_several_expiries_without_a_failed_request(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    endpoint: CredentialsEndpoint,
) -> None:
    js3_fault_proxy.configure(rule=enforce_expiry(endpoint))
    api, _ = start(
        js3_jupyter_factory, js3_moto_server, js3_fault_proxy, endpoint, js3_region, (1.5, 0.75)
    )
    failures = []
    operations = 0
    deadline = time.monotonic() + 11  # about four lifetimes of 3 s
    while time.monotonic() < deadline and operations < 2000:
        name = f"f{operations % 7}.txt"
        for response in (api.save_text(name, str(operations)), api.get(name), api.get("")):
            operations += 1
            if not response.ok:
                failures.append((response.status, response.body[:200]))
        time.sleep(0.05)

    assert not failures, failures[:5]
    assert operations > 100
    assert endpoint.fetches() >= 4  # refreshed ahead of every expiry
    assert endpoint.refused == 0  # the authorization token was sent every time
    log = js3_jupyter_factory.servers[-1].log_text()
    assert log.count("refreshed; they expire at") >= 4  # DEBUG lines are written
    assert "jupyters3.s3] PutObject PUT" in log  # and the jupyters3 loggers' DEBUG lines
    # Refreshed ahead of expiry: S3 never saw an expired key.
    assert js3_fault_proxy.count(fault="ExpiredToken") == 0
    used = {r.access_key_id for r in js3_fault_proxy.records()}
    assert len(used) >= 4


@pytest.mark.js3_no_chaos
def test_200_concurrent_requests_at_expiry_cause_one_refresh(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    endpoint: CredentialsEndpoint,
) -> None:
    """No refresh window at all: keys are used up to their expiry, and the burst
    straddles it (some requests signed before, checked by S3 after)."""
    js3_fault_proxy.configure(rule=enforce_expiry(endpoint))
    api, _ = start(
        js3_jupyter_factory, js3_moto_server, js3_fault_proxy, endpoint, js3_region, (0.0, 0.0)
    )
    for i in range(5):
        api.save_text(f"n{i}.txt", "x").expect(201)

    api.get("n0.txt").expect(200)  # makes sure the server holds current keys
    current = max(endpoint.issued, key=endpoint.issued.__getitem__)
    expiry = endpoint.issued[current]
    if expiry - time.time() < 0.5:  # too close to aim: let it roll over once
        time.sleep(max(0.0, expiry - time.time()) + 0.1)
        api.get("n0.txt").expect(200)
        current = max(endpoint.issued, key=endpoint.issued.__getitem__)
        expiry = endpoint.issued[current]
    before = endpoint.fetches()
    time.sleep(max(0.0, expiry - time.time() - 0.05))

    with ThreadPoolExecutor(max_workers=64) as pool:
        responses = list(pool.map(lambda i: api.get(f"n{i % 5}.txt"), range(200)))

    assert [r.status for r in responses] == [200] * 200
    assert endpoint.fetches() - before == 1
    # Typically 15-20 of the 200 were signed with the old keys and refused by
    # "S3" as expired; each was retried once with the new keys, and the
    # refresh they asked for was the one already done (not asserted: timing).


def test_a_refused_authorization_token_stops_the_server(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    endpoint: CredentialsEndpoint,
) -> None:
    """The endpoint answers 401: the server stops at start with a sentence that
    names the endpoint, never the token (the log is scanned for it at teardown)."""
    wrong = random_secret(64)
    endpoint.token = random_secret(64)  # not the one the server sends
    config = merge_config(
        jupyters3_config(
            bucket="unused-bucket", endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
        ),
        {"JupyterS3": {"authentication_class": "jupyters3.JupyterS3ECSRoleAuthentication"}},
    )
    env: dict[str, str | None] = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": wrong,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
    }
    with pytest.raises(JupyterServerError, match=r"exited with code 1") as info:
        js3_jupyter_factory(
            config=config, env=env, secrets={"the endpoint's token": endpoint.token}
        )
    assert endpoint.refused >= 1
    assert f"127.0.0.1:{endpoint.port}" in str(info.value) and "401" in str(info.value)
    assert wrong not in str(info.value)
    server = js3_jupyter_factory.servers[-1]
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN (env)" in server.watched_secrets()
    assert server.find_leaks() == []
