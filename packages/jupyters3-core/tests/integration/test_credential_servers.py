"""Credential providers over real HTTP: container and STS servers on 127.0.0.1.

Small Tornado servers run inside each test, on a free port of 127.0.0.1; they
rotate credentials, expire them, fail (500, 404, 401), answer slowly, and count
what they receive. moto's STS stands in for AWS STS where it fits. The
credentials' lifetimes follow a fake clock shared by server and client, so a
test crosses several expiries in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from credential_fakes import FakeClock, creds_json, sts_error_xml, sts_xml
from tornado import gen
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from traitlets import Dict, Unicode
from traitlets.config import Config

from jupyters3 import (
    AwsCreds,
    JupyterS3,
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3ECSRoleAuthentication,
)
from jupyters3.credentials.http import FetchTimeout, TornadoFetcher
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.errors import BadConfiguration, CredentialsRejected, NetworkError, ServerError

ROLE = "arn:aws:iam::123456789012:role/notebooks"


class Behaviour:
    """What a test server does; tests change it between requests."""

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.serial = 0
        self.requests: list[dict[str, Any]] = []
        self.fail: list[int] = []  # statuses to answer, one per request, before succeeding
        self.always: int | None = None  # a status to answer every time
        self.delay = 0.0
        self.token: str | None = None  # the Authorization value required
        self.release = asyncio.Event()  # set at teardown: slow handlers finish at once

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    async def pause(self) -> None:
        if self.delay:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.release.wait(), self.delay)

    def failure(self) -> int | None:
        if self.always is not None:
            return self.always
        return self.fail.pop(0) if self.fail else None


class ContainerHandler(RequestHandler):
    def initialize(self, behaviour: Behaviour) -> None:
        self.b = behaviour

    async def get(self, path: str) -> None:
        b = self.b
        b.requests.append({"path": path, "headers": dict(self.request.headers)})
        await b.pause()
        if b.token is not None and self.request.headers.get("Authorization") != b.token:
            self.set_status(401)
            return
        status = b.failure()
        if status is not None:
            self.set_status(status)
            self.write("<html>broken</html>")
            return
        self.write(creds_json(b.next_serial(), b.clock() + b.lifetime))


class StsHandler(RequestHandler):
    def initialize(self, behaviour: Behaviour) -> None:
        self.b = behaviour

    async def post(self, path: str) -> None:
        b = self.b
        form = {k: v[0] for k, v in parse_qs(self.request.body.decode()).items()}
        b.requests.append({"form": form, "headers": dict(self.request.headers)})
        await b.pause()
        status = b.failure()
        if status is not None:
            self.set_status(status)
            code = {400: "InvalidIdentityToken", 503: "ServiceUnavailable"}.get(status, "X")
            self.write(sts_error_xml(code, "the token was not accepted"))
            return
        expiration = format_timestamp(b.clock() + b.lifetime)
        self.write(sts_xml(b.next_serial(), expiration))


class Server:
    """A Tornado app on 127.0.0.1 and a free port, in this test's event loop."""

    def __init__(self, behaviour: Behaviour) -> None:
        routes = [(r"/sts(.*)", StsHandler, {"behaviour": behaviour})]
        routes.append((r"(/.*)", ContainerHandler, {"behaviour": behaviour}))
        self.behaviour = behaviour
        self.http = HTTPServer(Application(routes))
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.http.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.behaviour.release.set()
        self.http.stop()
        await asyncio.wait_for(self.http.close_all_connections(), 5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[Server]:
    srv = Server(Behaviour(clock))
    yield srv
    await srv.stop()


def ecs(server: Server, clock: FakeClock, **traits: Any) -> JupyterS3ECSRoleAuthentication:
    """JupyterS3ECSRoleAuthentication on the test server's relative URI."""
    config = Config()
    config.JupyterS3ECSRoleAuthentication.container_host = server.url
    for name, value in traits.items():
        setattr(config.JupyterS3ECSRoleAuthentication, name, value)
    env = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-uuid"}
    return JupyterS3ECSRoleAuthentication(config=config, environ=env, clock=clock)


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- container (ECS relative URI, EKS Pod Identity full URI) -------------------------


async def test_ecs_rotation_across_both_windows(server: Server, clock: FakeClock) -> None:
    """Refreshed in the background in the advisory window, waited for in the mandatory one."""
    auth = ecs(server, clock)
    first = await auth.get_credentials()
    assert first.access_key_id == "ASIA0000000000000001"
    assert server.behaviour.requests[0]["path"] == "/v2/credentials/task-uuid"

    clock.advance(3600 - 900 + 1)  # advisory: the old ones at once, a refresh behind
    assert await auth.get_credentials() == first
    await until(lambda: server.behaviour.serial == 2 and not auth.cache.refreshing)
    second = await auth.get_credentials()
    assert second.access_key_id == "ASIA0000000000000002"

    clock.advance(3600 + 60)  # expired: callers wait for the third
    assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000003"
    assert len(server.behaviour.requests) == 3


async def test_pod_identity_rereads_the_token_file(
    server: Server, clock: FakeClock, tmp_path: Path
) -> None:
    token = tmp_path / "eks-pod-identity-token"
    token.write_text("token-A")
    server.behaviour.token = "token-A"
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{server.url}/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token),
    }
    auth = JupyterS3ECSRoleAuthentication(environ=env, clock=clock)
    assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000001"

    token.write_text("token-B")  # rotated by EKS; the old one is refused now
    server.behaviour.token = "token-B"
    clock.advance(3600)
    assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000002"
    sent = [r["headers"]["Authorization"] for r in server.behaviour.requests]
    assert sent == ["token-A", "token-B"]


@pytest.mark.parametrize(
    ("fail", "always", "error", "requests"),
    [
        ([500, 503], None, None, 3),
        ([], 500, ServerError, 3),
        ([], 404, BadConfiguration, 1),
        ([], 401, CredentialsRejected, 1),
    ],
)
async def test_container_failures(
    server: Server,
    clock: FakeClock,
    fail: list[int],
    always: int | None,
    error: type[Exception] | None,
    requests: int,
) -> None:
    server.behaviour.fail, server.behaviour.always = list(fail), always
    auth = ecs(server, clock)
    if error is None:
        assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000001"
    else:
        with pytest.raises(error) as info:
            await auth.get_credentials()
        assert "task-uuid" not in str(info.value)
    assert len(server.behaviour.requests) == requests


async def test_a_slow_container_endpoint_times_out(server: Server, clock: FakeClock) -> None:
    server.behaviour.delay = 3.0
    auth = ecs(server, clock, timeout=0.2, attempts=2)
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"timed out after 0\.2s") as info:
        await auth.get_credentials()
    assert info.value.connected
    assert "task-uuid" not in str(info.value)
    assert time.monotonic() - started < 2.0
    assert len(server.behaviour.requests) == 2


async def test_a_slow_but_timely_endpoint_is_waited_for(server: Server, clock: FakeClock) -> None:
    server.behaviour.delay = 0.3
    auth = ecs(server, clock, timeout=2.0)
    assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000001"


async def test_a_closed_port_is_a_network_error(clock: FakeClock) -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    sockets[0].close()  # nothing listens there now
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{port}/c"}
    auth = JupyterS3ECSRoleAuthentication(environ=env, clock=clock, attempts=2)
    with pytest.raises(NetworkError):
        await auth.get_credentials()


async def test_advisory_failure_keeps_the_credentials_over_http(
    server: Server, clock: FakeClock
) -> None:
    auth = ecs(server, clock)
    first = await auth.get_credentials()
    server.behaviour.always = 500
    clock.advance(3600 - 900 + 1)
    assert await auth.get_credentials() == first
    await until(lambda: len(server.behaviour.requests) == 4 and not auth.cache.refreshing)
    assert await auth.get_credentials() == first  # kept despite three failed attempts
    server.behaviour.always = None
    clock.advance(3600 - 600 + 1 - (3600 - 900 + 1))  # the mandatory window
    assert (await auth.get_credentials()).access_key_id == "ASIA0000000000000002"


async def test_200_concurrent_callers_at_expiry_make_one_http_request(
    server: Server, clock: FakeClock, tmp_path: Path
) -> None:
    env = {
        "HOME": str(tmp_path),
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{server.url}/v1/credentials",
    }
    auth = JupyterS3DefaultAuthentication(environ=env, clock=clock)
    await auth.get_credentials()
    server.behaviour.delay = 0.2  # all 200 arrive while the refresh is in flight
    clock.advance(3600)
    got = await asyncio.wait_for(asyncio.gather(*(auth.get_credentials() for _ in range(200))), 10)
    assert len(server.behaviour.requests) == 2
    assert {c.access_key_id for c in got} == {"ASIA0000000000000002"}


# -- web identity (IRSA) ---------------------------------------------------------


def irsa_env(token: Path, home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ROLE_SESSION_NAME": "notebook-session",
        "AWS_REGION": "eu-west-1",
    }


async def test_web_identity_rotation_rereads_the_token(
    server: Server, clock: FakeClock, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("jwt-1")
    config = Config()
    config.JupyterS3DefaultAuthentication.sts_endpoint_url = f"{server.url}/sts"
    auth = JupyterS3DefaultAuthentication(
        config=config, environ=irsa_env(token, tmp_path), clock=clock
    )
    for n in range(1, 4):
        token.write_text(f"jwt-{n}")
        creds = await auth.get_credentials()
        assert creds.pre_auth_headers == {"x-amz-security-token": f"sts-token-{n}"}
        clock.advance(3600 - 600 + 1)
    forms = [r["form"] for r in server.behaviour.requests]
    assert [f["WebIdentityToken"] for f in forms] == ["jwt-1", "jwt-2", "jwt-3"]
    assert {f["RoleArn"] for f in forms} == {ROLE}
    assert {f["RoleSessionName"] for f in forms} == {"notebook-session"}
    assert all("Authorization" not in r["headers"] for r in server.behaviour.requests)


@pytest.mark.parametrize(
    ("fail", "always", "error", "requests"),
    [
        ([503], None, None, 2),
        ([], 400, CredentialsRejected, 1),
        ([], 503, ServerError, 3),
    ],
)
async def test_web_identity_failures(
    server: Server,
    clock: FakeClock,
    tmp_path: Path,
    fail: list[int],
    always: int | None,
    error: type[Exception] | None,
    requests: int,
) -> None:
    token = tmp_path / "token"
    token.write_text("jwt-secret-value")
    server.behaviour.fail, server.behaviour.always = list(fail), always
    auth = JupyterS3DefaultAuthentication(
        environ=irsa_env(token, tmp_path), clock=clock, sts_endpoint_url=f"{server.url}/sts"
    )
    if error is None:
        assert (await auth.get_credentials()).secret_access_key == "sts-secret-1"
    else:
        with pytest.raises(error) as info:
            await auth.get_credentials()
        assert "jwt-secret-value" not in str(info.value)
    assert len(server.behaviour.requests) == requests


async def test_web_identity_with_moto_sts(js3_moto_server: Any, tmp_path: Path) -> None:
    """moto's STS answers the unsigned call; its microsecond Expiration parses."""
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln")
    clock = FakeClock(time.time())
    auth = JupyterS3DefaultAuthentication(
        environ=irsa_env(token, tmp_path),
        clock=clock,
        sts_endpoint_url=js3_moto_server.endpoint_url,
        entry_point_providers=False,
    )
    first = await auth.get_credentials()
    assert first.access_key_id.startswith("ASIA")
    assert set(first.pre_auth_headers) == {"x-amz-security-token"}
    current = auth.cache.current
    assert current is not None and current.expiration is not None
    assert 0 < current.expiration - clock() <= 12 * 3600
    clock.advance(current.expiration - clock() - 599)
    second = await auth.get_credentials()
    assert second.access_key_id != first.access_key_id


# -- through S3 and JupyterS3 ----------------------------------------------------


async def test_s3_requests_keep_working_across_expiries(
    server: Server, clock: FakeClock, js3_make_client: Any, js3_raw: Any, js3_bucket: str
) -> None:
    """Signed S3 requests (with the session token) succeed across five expiries."""
    auth = ecs(server, clock)
    client = js3_make_client(credentials=auth.get_credentials)
    for n in range(5):
        await client.put_object(f"k{n}.txt", f"v{n}".encode())
        assert (await client.get_object(f"k{n}.txt"))[1] == f"v{n}".encode()
        clock.advance(3600 + 1)
    assert js3_raw.keys(js3_bucket) == [f"k{n}.txt" for n in range(5)]
    assert server.behaviour.serial == 5


class OriginalEC2Example(JupyterS3Authentication):
    """Like the original design's EC2 example (only its metadata URL points at the test)."""

    metadata_url = "http://169.254.169.254"
    role_name = Unicode(config=True)
    aws_access_key_id = Unicode()
    aws_secret_access_key = Unicode()
    pre_auth_headers = Dict()
    expiration = None
    fetches = 0

    @gen.coroutine
    def get_credentials(self):  # type: ignore[no-untyped-def]
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if self.expiration is None or now > self.expiration - datetime.timedelta(minutes=10):
            url = self.metadata_url + "/latest/meta-data/iam/security-credentials/" + self.role_name
            response = yield AsyncHTTPClient().fetch(url, method="GET")
            creds = json.loads(response.body.decode("utf-8"))
            self.aws_access_key_id = creds["AccessKeyId"]
            self.aws_secret_access_key = creds["SecretAccessKey"]
            self.pre_auth_headers = {"x-amz-security-token": creds["Token"]}
            self.expiration = datetime.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
            self.fetches += 1
        return AwsCreds(
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            pre_auth_headers=self.pre_auth_headers,
        )


async def test_the_original_ec2_example_serves_contents(
    server: Server, js3_moto_server: Any, js3_bucket: str, js3_raw: Any
) -> None:
    """A gen.coroutine subclass works unchanged as JupyterS3's authentication_class."""
    server.behaviour.clock = FakeClock(time.time())
    OriginalEC2Example.metadata_url = server.url
    config = Config()
    config.JupyterS3.authentication_class = f"{__name__}.OriginalEC2Example"
    config.OriginalEC2Example.role_name = "notebooks"
    cm = JupyterS3(
        aws_s3_bucket=js3_bucket,
        endpoint_url=js3_moto_server.endpoint_url,
        check_on_start=False,
        config=config,
    )
    try:
        model = {"type": "file", "format": "text", "content": "hello"}
        await cm.save(model, "hello.txt")
        assert (await cm.get("hello.txt"))["content"] == "hello"
        assert js3_raw.get(js3_bucket, "hello.txt") == b"hello"
        cm.authentication.expiration = datetime.datetime(2000, 1, 1)  # as if an hour passed
        await cm.get("hello.txt", content=False)
    finally:
        cm.store.client.close()
    assert (
        server.behaviour.requests[0]["path"]
        == "/latest/meta-data/iam/security-credentials/notebooks"
    )
    assert cm.authentication.fetches == 2


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


class Redirect(RequestHandler):
    def get(self) -> None:
        self.redirect("http://169.254.169.254/elsewhere")


async def test_tornado_fetcher_verifies_tls_and_follows_no_redirects(tmp_path: Path) -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    http = HTTPServer(Application([(r"/", Redirect)]), ssl_options=self_signed_tls(tmp_path))
    http.add_sockets(sockets)
    url = f"https://127.0.0.1:{port}/"
    try:
        with pytest.raises(NetworkError) as info:  # an untrusted certificate is refused
            await TornadoFetcher()("GET", url, {}, None, 5.0)
        assert not isinstance(info.value, FetchTimeout)
        answer = await TornadoFetcher(validate_cert=False)("GET", url, {}, None, 5.0)
        assert answer.status == 302  # returned, not followed
        assert answer.headers["Location"] == "http://169.254.169.254/elsewhere"
    finally:
        http.stop()
        await asyncio.wait_for(http.close_all_connections(), 5)
