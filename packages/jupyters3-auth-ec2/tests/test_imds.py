"""The EC2 instance role over real HTTP: an IMDS server on 127.0.0.1 (and moto's).

The server is a small Tornado app started inside each test on a free port. It
hands out IMDSv2 tokens, rotates and expires credentials on a fake clock it
shares with the client, fails (400, 401, 403, 404, 405, 500), and answers
slowly when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from traitlets.config import Config

import jupyters3_auth_ec2
from jupyters3 import JupyterS3DefaultAuthentication
from jupyters3.credentials.http import FetchTimeout
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.errors import BadConfiguration, ServerError
from jupyters3_auth_ec2 import JupyterS3EC2RoleAuthentication, chain_provider
from jupyters3_auth_ec2.imds import (
    ImdsProvider,
    imds_disabled,
    imds_endpoint,
    parse_imds_credentials,
    parse_role_name,
)

ROLE_PATH = "/latest/meta-data/iam/security-credentials/"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Imds:
    """The server's state and behaviour; tests change it between requests."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.role = "notebooks"
        self.lifetime = 6 * 3600.0
        self.serial = 0
        self.tokens: set[str] = set()
        self.v1 = True  # answer requests without a token
        self.put_status: int | None = None
        self.put_delay = 0.0
        self.creds_fail: list[int] = []
        self.creds_always: int | None = None
        self.creds_delay = 0.0
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.release = asyncio.Event()

    def paths(self, method: str) -> list[str]:
        return [path for m, path, _ in self.log if m == method]

    async def pause(self, seconds: float) -> None:
        if seconds:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.release.wait(), seconds)


class TokenHandler(RequestHandler):
    def initialize(self, imds: Imds) -> None:
        self.imds = imds

    async def put(self) -> None:
        imds = self.imds
        imds.log.append(("PUT", self.request.path, dict(self.request.headers)))
        await imds.pause(imds.put_delay)
        if imds.put_status is not None:
            self.set_status(imds.put_status)
            return
        if "X-Aws-Ec2-Metadata-Token-Ttl-Seconds" not in self.request.headers:
            self.set_status(400)
            return
        token = f"imds-token-{len(imds.tokens) + 1}"
        imds.tokens.add(token)
        self.write(token)


class CredentialsHandler(RequestHandler):
    def initialize(self, imds: Imds) -> None:
        self.imds = imds

    async def get(self, role: str) -> None:
        imds = self.imds
        imds.log.append(("GET", self.request.path, dict(self.request.headers)))
        token = self.request.headers.get("X-Aws-Ec2-Metadata-Token")
        if (token is None and not imds.v1) or (token is not None and token not in imds.tokens):
            self.set_status(401)
            return
        if not role:
            if not imds.role:
                self.set_status(404)
                return
            self.write(imds.role + "\n")
            return
        if role != imds.role:
            self.set_status(404)
            return
        await imds.pause(imds.creds_delay)
        status = imds.creds_always or (imds.creds_fail.pop(0) if imds.creds_fail else None)
        if status is not None:
            self.set_status(status)
            return
        imds.serial += 1
        n = imds.serial
        self.write(
            json.dumps(
                {
                    "Code": "Success",
                    "LastUpdated": format_timestamp(imds.clock()),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": f"ASIAEC2{n:013d}",
                    "SecretAccessKey": f"ec2-secret-{n}",
                    "Token": f"ec2-token-{n}",
                    "Expiration": format_timestamp(imds.clock() + imds.lifetime),
                }
            )
        )


class Server:
    def __init__(self, imds: Imds) -> None:
        app = Application(
            [
                (r"/latest/api/token", TokenHandler, {"imds": imds}),
                (ROLE_PATH + r"([^/]*)", CredentialsHandler, {"imds": imds}),
            ]
        )
        self.imds = imds
        self.http = HTTPServer(app)
        sockets = bind_sockets(0, "127.0.0.1")
        self.http.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.imds.release.set()
        self.http.stop()
        await asyncio.wait_for(self.http.close_all_connections(), 5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[Server]:
    srv = Server(Imds(clock))
    yield srv
    await srv.stop()


def ec2(server: Server, clock: Clock, env: dict[str, str] | None = None, **traits: Any) -> Any:
    config = Config()
    config.JupyterS3EC2RoleAuthentication.metadata_endpoint = server.url
    for name, value in traits.items():
        setattr(config.JupyterS3EC2RoleAuthentication, name, value)
    return JupyterS3EC2RoleAuthentication(config=config, environ=env or {}, clock=clock)


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- IMDSv2 ----------------------------------------------------------------------


async def test_imdsv2_discovers_the_role_and_reuses_the_token(server: Server, clock: Clock) -> None:
    server.imds.lifetime = 3600
    auth = ec2(server, clock)
    for n in range(1, 4):
        creds = await auth.get_credentials()
        assert creds.access_key_id == f"ASIAEC2{n:013d}"
        assert creds.pre_auth_headers == {"x-amz-security-token": f"ec2-token-{n}"}
        clock.advance(3600 - 600 + 1)  # the mandatory window of these credentials
    imds = server.imds
    puts = [h for m, _, h in imds.log if m == "PUT"]
    assert len(puts) == 1  # one token (TTL 6 h) for the three fetches, 50 min apart
    assert puts[0]["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] == "21600"
    gets = [(p, h.get("X-Aws-Ec2-Metadata-Token")) for m, p, h in imds.log if m == "GET"]
    assert gets[:2] == [(ROLE_PATH, "imds-token-1"), (ROLE_PATH + "notebooks", "imds-token-1")]
    assert len(gets) == 6


async def test_the_token_is_renewed_when_it_expires(server: Server, clock: Clock) -> None:
    auth = ec2(server, clock, token_ttl_seconds=600, role_name="notebooks")
    await auth.get_credentials()
    clock.advance(6 * 3600)
    await auth.get_credentials()
    assert len(server.imds.paths("PUT")) == 2


async def test_a_token_the_server_no_longer_knows_is_replaced(server: Server, clock: Clock) -> None:
    auth = ec2(server, clock, role_name="notebooks")
    await auth.get_credentials()
    server.imds.tokens.clear()  # e.g. the instance was stopped and started
    clock.advance(6 * 3600)
    assert (await auth.get_credentials()).access_key_id == "ASIAEC20000000000002"
    assert len(server.imds.paths("PUT")) == 2


async def test_a_configured_role_skips_discovery(server: Server, clock: Clock) -> None:
    auth = ec2(server, clock, role_name="notebooks")
    await auth.get_credentials()
    assert server.imds.paths("GET") == [ROLE_PATH + "notebooks"]


async def test_a_wrong_role_name_or_no_role_is_a_clear_error(server: Server, clock: Clock) -> None:
    with pytest.raises(BadConfiguration, match="no IAM role of that name"):
        await ec2(server, clock, role_name="other").get_credentials()
    server.imds.role = ""
    with pytest.raises(BadConfiguration, match="no IAM role is attached"):
        await ec2(server, clock).get_credentials()


# -- IMDSv1 fallback -------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 405])
async def test_falls_back_to_imdsv1(server: Server, clock: Clock, status: int) -> None:
    server.imds.put_status = status
    creds = await ec2(server, clock).get_credentials()
    assert creds.access_key_id == "ASIAEC20000000000001"
    assert all("X-Aws-Ec2-Metadata-Token" not in h for m, _, h in server.imds.log if m == "GET")


async def test_falls_back_to_imdsv1_when_the_token_request_times_out(
    server: Server, clock: Clock
) -> None:
    """A hop limit of 1 drops the PUT's answer inside containers: it looks like this."""
    server.imds.put_delay = 5.0
    started = time.monotonic()
    creds = await ec2(server, clock, timeout=0.3).get_credentials()
    assert creds.access_key_id == "ASIAEC20000000000001"
    assert time.monotonic() - started < 2.0
    assert server.imds.paths("GET") == [ROLE_PATH, ROLE_PATH + "notebooks"]


async def test_no_fallback_when_imdsv1_is_disabled(server: Server, clock: Clock) -> None:
    server.imds.put_status = 403
    auth = ec2(server, clock, {"AWS_EC2_METADATA_V1_DISABLED": "true"})
    with pytest.raises(BadConfiguration, match="AWS_EC2_METADATA_V1_DISABLED"):
        await auth.get_credentials()
    assert server.imds.paths("GET") == []


async def test_a_400_on_the_token_request_is_a_config_error(server: Server, clock: Clock) -> None:
    server.imds.put_status = 400
    with pytest.raises(BadConfiguration, match="HTTP 400"):
        await ec2(server, clock).get_credentials()


# -- failures, slowness, refresh --------------------------------------------------


async def test_one_failed_attempt_is_retried(server: Server, clock: Clock) -> None:
    server.imds.creds_fail = [500]
    assert (await ec2(server, clock).get_credentials()).access_key_id == "ASIAEC20000000000001"


async def test_persistent_failure_is_raised_after_two_attempts(
    server: Server, clock: Clock
) -> None:
    server.imds.creds_always = 500
    with pytest.raises(ServerError, match="HTTP 500"):
        await ec2(server, clock, role_name="notebooks").get_credentials()
    assert len(server.imds.paths("GET")) == 2


async def test_a_slow_answer_times_out(server: Server, clock: Clock) -> None:
    server.imds.creds_delay = 5.0
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        await ec2(server, clock, timeout=0.2, role_name="notebooks").get_credentials()
    assert time.monotonic() - started < 2.0


async def test_advisory_failure_keeps_the_credentials(server: Server, clock: Clock) -> None:
    auth = ec2(server, clock, role_name="notebooks")
    first = await auth.get_credentials()
    server.imds.creds_always = 500
    clock.advance(6 * 3600 - 900 + 1)
    assert await auth.get_credentials() == first
    await until(lambda: len(server.imds.paths("GET")) == 3 and not auth.cache.refreshing)
    assert await auth.get_credentials() == first


async def test_200_concurrent_callers_at_expiry_make_one_fetch(
    server: Server, clock: Clock
) -> None:
    auth = ec2(server, clock, role_name="notebooks")
    await auth.get_credentials()
    server.imds.creds_delay = 0.2
    clock.advance(6 * 3600)
    got = await asyncio.wait_for(asyncio.gather(*(auth.get_credentials() for _ in range(200))), 10)
    assert len(server.imds.paths("GET")) == 2
    assert {c.access_key_id for c in got} == {"ASIAEC20000000000002"}


async def test_disabled_by_the_environment(server: Server, clock: Clock) -> None:
    auth = ec2(server, clock, {"AWS_EC2_METADATA_DISABLED": "TRUE"})
    with pytest.raises(BadConfiguration, match="AWS_EC2_METADATA_DISABLED"):
        await auth.get_credentials()
    assert server.imds.log == []


async def test_endpoint_from_the_environment(server: Server, clock: Clock) -> None:
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url + "/"}
    auth = JupyterS3EC2RoleAuthentication(environ=env, clock=clock)
    assert (await auth.get_credentials()).access_key_id == "ASIAEC20000000000001"


async def test_against_motos_instance_metadata(js3_moto_server: Any) -> None:
    auth = JupyterS3EC2RoleAuthentication(
        metadata_endpoint=js3_moto_server.endpoint_url, environ={}
    )
    creds = await auth.get_credentials()
    assert creds.access_key_id == "test-key"
    assert creds.pre_auth_headers == {"x-amz-security-token": "test-session-token"}


# -- in the default chain ---------------------------------------------------------


def test_the_entry_point_is_registered() -> None:
    entries = importlib.metadata.entry_points(group="jupyters3.credential_providers")
    ec2_entry = next(e for e in entries if e.name == "ec2")
    assert ec2_entry.load() is chain_provider is jupyters3_auth_ec2.chain_provider


async def test_the_default_chain_ends_with_the_instance_role(
    server: Server, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"HOME": str(tmp_path), "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url}
    config = Config()
    config.JupyterS3EC2RoleAuthentication.role_name = "notebooks"  # applies inside the chain
    auth = JupyterS3DefaultAuthentication(
        config=config, environ=env, clock=clock, log=logging.getLogger("test.ec2")
    )
    with caplog.at_level(logging.INFO, "test.ec2"):
        creds = await auth.get_credentials()
    assert creds.access_key_id == "ASIAEC20000000000001"
    assert [p.name for p in auth.chain.providers][-1] == "ec2-instance-role"
    assert "AWS credentials from ec2-instance-role" in caplog.text
    assert "ec2-secret-1" not in caplog.text and "ec2-token-1" not in caplog.text
    assert server.imds.paths("GET") == [ROLE_PATH + "notebooks"]
    clock.advance(6 * 3600)
    assert (await auth.get_credentials()).access_key_id == "ASIAEC20000000000002"


async def test_the_chain_says_why_the_instance_role_was_skipped(
    clock: Clock, tmp_path: Path
) -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    sockets[0].close()  # nothing listens: not on EC2
    env = {"HOME": str(tmp_path), "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{port}"}
    auth = JupyterS3DefaultAuthentication(environ=env, clock=clock)
    with pytest.raises(BadConfiguration) as info:
        await auth.get_credentials()
    message = str(info.value)
    assert f"5) EC2 instance role (instance metadata service at http://127.0.0.1:{port})" in message
    assert "connection refused" in message
    assert "not installed" not in message


async def test_the_chain_skips_a_disabled_imds(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.raises(BadConfiguration, match=r"\[disabled by AWS_EC2_METADATA_DISABLED\]"):
        await JupyterS3DefaultAuthentication(environ=env).get_credentials()


# -- pure parts -----------------------------------------------------------------


def test_endpoint_and_switches() -> None:
    assert imds_endpoint({}) == "http://169.254.169.254"
    assert (
        imds_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"})
        == "http://[fd00:ec2::254]"
    )
    assert imds_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://x:1/"}) == "http://x:1"
    assert (
        imds_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://x"}, "http://y") == "http://y"
    )
    assert imds_disabled({"AWS_EC2_METADATA_DISABLED": "true"})
    assert not imds_disabled({"AWS_EC2_METADATA_DISABLED": "false"})
    assert not imds_disabled({})


def test_parse_role_name() -> None:
    assert parse_role_name(b"\nnotebooks\nother\n") == "notebooks"
    assert parse_role_name(b"") == ""


def test_parse_credentials_document() -> None:
    body = json.dumps(
        {
            "Code": "Success",
            "AccessKeyId": "ASIA1",
            "SecretAccessKey": "s",
            "Token": "t",
            "Expiration": "2027-01-15T08:00:00Z",
        }
    ).encode()
    found = parse_imds_credentials(body)
    assert found.creds.pre_auth_headers == {"x-amz-security-token": "t"}
    assert found.expiration == 1_800_000_000.0


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"nope", "invalid JSON"),
        (
            b'{"Code": "AssumeRoleUnauthorizedAccess", "Message": "x"}',
            "AssumeRoleUnauthorizedAccess",
        ),
        (b'{"Code": "Success", "AccessKeyId": "A", "SecretAccessKey": "very-secret"}', "Token"),
    ],
)
def test_parse_refuses_other_documents(body: bytes, match: str) -> None:
    with pytest.raises(ServerError, match=match) as info:
        parse_imds_credentials(body)
    assert "very-secret" not in str(info.value)


async def test_provider_before_and_after_it_delivered(server: Server, clock: Clock) -> None:
    """In the chain: failures before the first success mean "not on EC2"; after, they count."""
    provider = ImdsProvider(
        {}, JupyterS3EC2RoleAuthentication().fetcher, clock, endpoint=server.url
    )
    server.imds.creds_always = 500
    assert await provider.load() is None
    assert "HTTP 500" in provider.skip_reason
    server.imds.creds_always = None
    assert await provider.load() is not None
    server.imds.creds_always = 500
    with pytest.raises(ServerError):
        await provider.load()
