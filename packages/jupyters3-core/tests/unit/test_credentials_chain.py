"""The default chain: order, the first configured source wins and stays, logs, errors."""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import pytest
from credential_fakes import FakeClock, FakeFetcher, Sent, creds_json, sts_xml

from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.chain import (
    ENTRY_POINT_GROUP,
    CredentialChain,
    default_providers,
    entry_point_providers,
)
from jupyters3.credentials.types import ProviderContext
from jupyters3.errors import BadConfiguration

LOG = logging.getLogger("test.chain")


def handler(sent: Sent) -> tuple[int, bytes]:
    """STS answers POSTs, the container endpoint GETs."""
    return (200, sts_xml(1)) if sent.method == "POST" else (200, creds_json(1))


def context(env: dict[str, str], fetcher: FakeFetcher | None = None) -> ProviderContext:
    return ProviderContext(env, FakeClock(), fetcher or FakeFetcher(handler), LOG)


@pytest.fixture
def everything(tmp_path: Path) -> dict[str, str]:
    """An environment where every built-in source is configured."""
    token = tmp_path / "token"
    token.write_text("jwt")
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n"
    )
    return {
        "AWS_ACCESS_KEY_ID": "AKIDENV",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
    }


async def first_source(env: dict[str, str], **kwargs: Any) -> tuple[str, AwsCreds]:
    ctx = context(env)
    chain = CredentialChain(default_providers(ctx, entry_points=False, **kwargs), ctx)
    found = await chain.load()
    assert chain.chosen is not None
    return chain.chosen.name, found.creds


@pytest.mark.parametrize(
    ("removed", "expected", "key"),
    [
        ((), "environment", "AKIDENV"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "web-identity", "ASIASTS000000000001"),
        (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE"),
            "profile",
            "AKIDFILE",
        ),
        (
            (
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_SHARED_CREDENTIALS_FILE",
            ),
            "container",
            "ASIA0000000000000001",
        ),
    ],
)
async def test_chain_order(
    everything: dict[str, str], removed: tuple[str, ...], expected: str, key: str
) -> None:
    env = {k: v for k, v in everything.items() if k not in removed}
    if "AWS_SHARED_CREDENTIALS_FILE" in removed:
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
    name, creds = await first_source(env)
    assert (name, creds.access_key_id) == (expected, key)


async def test_a_profile_given_in_configuration_skips_the_environment(
    everything: dict[str, str],
) -> None:
    env = dict(everything)
    del env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    name, creds = await first_source(env, profile="default")
    assert (name, creds.access_key_id) == ("profile", "AKIDFILE")


async def test_a_broken_source_stops_the_chain(everything: dict[str, str]) -> None:
    env = dict(everything)
    del env["AWS_SECRET_ACCESS_KEY"]  # half a key pair must not fall through silently
    with pytest.raises(BadConfiguration, match="AWS_SECRET_ACCESS_KEY is not"):
        await first_source(env)


class Fake:
    """A provider that answers what it is told to and counts its loads."""

    def __init__(self, name: str, answer: TimedCreds | None, skip_reason: str = "") -> None:
        self.name = name
        self.description = f"the {name} fake"
        self.answer = answer
        self.skip_reason = skip_reason
        self.loads = 0

    async def load(self) -> TimedCreds | None:
        self.loads += 1
        return self.answer


async def test_the_chosen_source_sticks(caplog: pytest.LogCaptureFixture) -> None:
    a = Fake("a", None)
    b = Fake(
        "b", TimedCreds(AwsCreds("AKIDB", "b-secret", {"x-amz-security-token": "b-tok"}), 1e10)
    )
    c = Fake("c", TimedCreds(AwsCreds("AKIDC", "c-secret", {})))
    chain = CredentialChain([a, b, c], context({}))
    with caplog.at_level(logging.INFO, "test.chain"):
        for _ in range(3):
            assert (await chain.load()).creds.access_key_id == "AKIDB"
    assert (a.loads, b.loads, c.loads) == (1, 3, 0)
    assert "AWS credentials from b (the b fake); they expire at 2286-11-20T17:46:40Z" in caplog.text
    assert caplog.text.count("AWS credentials from") == 1
    for secret in ("b-secret", "b-tok", "AKIDB"):
        assert secret not in caplog.text

    b.answer = None  # the source disappeared
    with pytest.raises(BadConfiguration, match="no longer configured"):
        await chain.load()


async def test_nothing_found_lists_what_was_tried(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    ctx = context(env)
    chain = CredentialChain(default_providers(ctx, entry_points=False), ctx)
    with pytest.raises(BadConfiguration) as info:
        await chain.load()
    message = str(info.value)
    assert message.startswith("BadConfiguration: No AWS credentials found. Tried, in order: 1) ")
    for part in (
        "1) environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        "2) web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)",
        f"3) static keys of profile 'default' in {tmp_path}/.aws/credentials",
        "4) container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "5) EC2 instance role (not installed: pip install jupyters3-auth-ec2)",
        "c.JupyterS3.authentication_class",
    ):
        assert part in message


async def test_nothing_found_says_when_plugins_are_turned_off(tmp_path: Path) -> None:
    ctx = context({"HOME": str(tmp_path)})
    chain = CredentialChain(default_providers(ctx, entry_points=False), ctx, plugins_enabled=False)
    message = chain.nothing_found()
    assert "5) EC2 instance role (turned off: entry_point_providers = False)" in message
    assert "pip install" not in message


async def test_nothing_found_quotes_skip_reasons() -> None:
    chain = CredentialChain(
        [Fake("x", None), Fake("ec2-instance-role", None, "connection refused")], context({})
    )
    message = CredentialChain.nothing_found(chain)
    assert "1) the x fake; 2) the ec2-instance-role fake [connection refused]." in message
    assert "not installed" not in message


class FakeEntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self.target = target

    def load(self) -> Any:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


async def test_entry_point_providers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    made: list[ProviderContext] = []

    def factory(ctx: ProviderContext) -> Fake:
        made.append(ctx)
        return Fake("z-plugin", TimedCreds(AwsCreds("AKIDZ", "z", {})))

    entry_points = [
        FakeEntryPoint("zz", factory),
        FakeEntryPoint("aa-broken", ImportError("no module named nowhere")),
        FakeEntryPoint("mm-none", lambda ctx: None),
    ]

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        assert group == ENTRY_POINT_GROUP == "jupyters3.credential_providers"
        return entry_points

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    ctx = context({})
    with caplog.at_level(logging.WARNING, "test.chain"):
        providers = entry_point_providers(ctx)
    assert [p.name for p in providers] == ["z-plugin"]
    assert made == [ctx]
    assert (
        "'aa-broken' (fake:aa-broken) could not be loaded: no module named nowhere" in caplog.text
    )

    # After every built-in source, in the default chain.
    chain = CredentialChain(default_providers(ctx), ctx)
    assert [p.name for p in chain.providers] == [
        "environment",
        "web-identity",
        "profile",
        "container",
        "z-plugin",
    ]
    found = await chain.load()
    assert found.creds.access_key_id == "AKIDZ"
