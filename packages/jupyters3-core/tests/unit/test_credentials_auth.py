"""The authentication classes: the extension point, invalidate, ECS and the default chain."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from credential_fakes import T0, FakeClock, FakeFetcher, Sent, answers, creds_json
from tornado import gen
from traitlets import Dict, Unicode
from traitlets.config import Config

import jupyters3
from jupyters3 import (
    AwsCreds,
    JupyterS3,
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3ECSRoleAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.auth import JupyterS3RefreshingAuthentication
from jupyters3.credentials import TimedCreds
from jupyters3.errors import BadConfiguration, CredentialsRejected


def test_new_names_are_public() -> None:
    assert {"JupyterS3ECSRoleAuthentication", "JupyterS3DefaultAuthentication"} <= set(
        jupyters3.__all__
    )
    for cls in (JupyterS3ECSRoleAuthentication, JupyterS3DefaultAuthentication):
        assert issubclass(cls, JupyterS3Authentication)


async def test_base_class_invalidate_is_an_awaitable_no_op() -> None:
    auth = JupyterS3SecretAccessKeyAuthentication(
        aws_access_key_id="AKID", aws_secret_access_key="sec"
    )
    before = await auth.get_credentials()
    await auth.invalidate(before)
    await auth.invalidate()
    assert await auth.get_credentials() == before
    with pytest.raises(NotImplementedError):
        JupyterS3Authentication().get_credentials()


class OriginalEC2Example(JupyterS3Authentication):
    """Written like the original design's EC2 example, kept unchanged on purpose.

    A ``tornado.gen`` coroutine; fills ``pre_auth_headers`` and tracks the
    expiration itself. Here its HTTP call is a plain attribute for the test.
    """

    role_name = Unicode(config=True)
    aws_access_key_id = Unicode()
    aws_secret_access_key = Unicode()
    pre_auth_headers = Dict()
    expiration = None

    fetch_role: Any = None
    now: Any = None

    @gen.coroutine
    def get_credentials(self):  # type: ignore[no-untyped-def]
        now = self.now()
        if self.expiration is None or now > self.expiration:
            body = yield self.fetch_role(self.role_name)
            creds = json.loads(body.decode("utf-8"))
            self.aws_access_key_id = creds["AccessKeyId"]
            self.aws_secret_access_key = creds["SecretAccessKey"]
            self.pre_auth_headers = {"x-amz-security-token": creds["Token"]}
            self.expiration = datetime.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        return AwsCreds(
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            pre_auth_headers=self.pre_auth_headers,
        )


async def test_the_original_gen_coroutine_example_works_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    clock = [datetime.datetime(2027, 1, 15, 8, 0, 0)]

    async def fetch_role(role: str) -> bytes:
        calls.append(role)
        return creds_json(len(calls), T0 + 3600 * len(calls))

    config = Config()
    config.JupyterS3.authentication_class = f"{__name__}.OriginalEC2Example"
    config.OriginalEC2Example.role_name = "notebooks"
    monkeypatch.setattr(OriginalEC2Example, "fetch_role", staticmethod(fetch_role))
    monkeypatch.setattr(OriginalEC2Example, "now", staticmethod(lambda: clock[0]))
    cm = JupyterS3(aws_s3_bucket="b", check_on_start=False, config=config)

    first = await cm.authentication.get_credentials()
    assert first.pre_auth_headers == {"x-amz-security-token": "token-1"}
    assert await cm.authentication.get_credentials() == first and calls == ["notebooks"]
    clock[0] += datetime.timedelta(hours=1, seconds=1)
    second = await cm.authentication.get_credentials()
    assert second.access_key_id == "ASIA0000000000000002" and len(calls) == 2
    await cm.authentication.invalidate(second)  # the inherited no-op
    assert await cm.authentication.get_credentials() == second


class CountingAuth(JupyterS3RefreshingAuthentication):
    """A custom source with the built-in caching: only fetch_credentials is written."""

    calls = 0

    async def fetch_credentials(self) -> TimedCreds:
        self.calls += 1
        return TimedCreds(AwsCreds(f"AKID{self.calls}", "s", {}), self.clock() + 3600)


async def test_refreshing_base_class_traits_and_invalidate() -> None:
    config = Config()
    config.CountingAuth.advisory_refresh_seconds = 60.0
    config.CountingAuth.mandatory_refresh_seconds = 30.0
    clock = FakeClock()
    auth = CountingAuth(config=config, clock=clock)
    assert (auth.cache.advisory, auth.cache.mandatory) == (60.0, 30.0)
    first = await auth.get_credentials()
    clock.advance(3600 - 61)
    assert await auth.get_credentials() == first and auth.calls == 1
    await auth.invalidate(AwsCreds("other", "x", {}))
    assert await auth.get_credentials() == first and auth.calls == 1
    await auth.invalidate(first)
    assert (await auth.get_credentials()).access_key_id == "AKID2"


# -- ECS / Pod Identity --------------------------------------------------------


async def test_ecs_authentication_refreshes_ahead_of_expiry() -> None:
    clock = FakeClock()
    serial = iter(range(1, 100))
    fetcher = FakeFetcher(lambda sent: (200, creds_json(next(serial), clock() + 3600)))
    config = Config()
    config.JupyterS3ECSRoleAuthentication.container_host = "http://127.0.0.1:1"
    auth = JupyterS3ECSRoleAuthentication(
        config=config,
        environ={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/t"},
        clock=clock,
        fetcher=fetcher,
    )
    first = await auth.get_credentials()
    assert first.pre_auth_headers == {"x-amz-security-token": "token-1"}
    assert fetcher.sent[0].url == "http://127.0.0.1:1/v2/credentials/t"
    clock.advance(3600 - 600 + 1)  # the mandatory window
    second = await auth.get_credentials()
    assert second.access_key_id == "ASIA0000000000000002"
    assert len(fetcher.sent) == 2


async def test_ecs_authentication_without_variables_is_a_clear_error() -> None:
    auth = JupyterS3ECSRoleAuthentication(environ={}, fetcher=FakeFetcher(answers((500, b""))))
    with pytest.raises(BadConfiguration, match="AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        await auth.get_credentials()


async def test_ecs_authentication_rejected() -> None:
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"}
    auth = JupyterS3ECSRoleAuthentication(environ=env, fetcher=FakeFetcher(answers((403, b""))))
    with pytest.raises(CredentialsRejected, match="HTTP 403"):
        await auth.get_credentials()


# -- the default chain ---------------------------------------------------------


async def test_default_authentication_uses_the_chain_and_logs_the_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"HOME": str(tmp_path), "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c"}
    clock = FakeClock()
    fetcher = FakeFetcher(lambda sent: (200, creds_json(len(fetcher.sent), clock() + 3600)))
    auth = JupyterS3DefaultAuthentication(
        environ=env, clock=clock, fetcher=fetcher, log=logging.getLogger("test.auth")
    )
    with caplog.at_level(logging.INFO, "test.auth"):
        creds = await auth.get_credentials()
        clock.advance(3000)
        await auth.get_credentials()
    assert creds.access_key_id == "ASIA0000000000000001"
    assert "AWS credentials from container" in caplog.text
    assert "secret-1" not in caplog.text and "token-1" not in caplog.text
    assert auth.cache.source == "the container source"
    assert len(fetcher.sent) == 2


async def test_default_authentication_configuration(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = d\n"
        "[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = t\n"
    )
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_ACCESS_KEY_ID": "AKIDENV",
        "AWS_SECRET_ACCESS_KEY": "e",
    }
    config = Config()
    config.JupyterS3DefaultAuthentication.profile = "team"
    config.JupyterS3DefaultAuthentication.entry_point_providers = False
    auth = JupyterS3DefaultAuthentication(config=config, environ=env)
    assert (await auth.get_credentials()).access_key_id == "AKIDTEAM"
    assert [p.name for p in auth.chain.providers] == ["web-identity", "profile", "container"]


async def test_default_authentication_as_the_manager_class(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDMGR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "mgr-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    config = Config()
    config.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
    cm = JupyterS3(aws_s3_bucket="b", check_on_start=False, config=config)
    assert isinstance(cm.authentication, JupyterS3DefaultAuthentication)
    assert await cm.authentication.get_credentials() == AwsCreds("AKIDMGR", "mgr-secret", {})


async def test_default_authentication_one_fetch_for_200_callers(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c"}
    clock = FakeClock()

    async def slow(sent: Sent) -> tuple[int, bytes]:
        await asyncio.sleep(0.05)
        return 200, creds_json(len(fetcher.sent), clock() + 3600)

    fetcher = FakeFetcher(slow)
    auth = JupyterS3DefaultAuthentication(environ=env, clock=clock, fetcher=fetcher)
    await auth.get_credentials()
    clock.advance(3600)
    got = await asyncio.gather(*(auth.get_credentials() for _ in range(200)))
    assert len(fetcher.sent) == 2
    assert {c.access_key_id for c in got} == {"ASIA0000000000000002"}
