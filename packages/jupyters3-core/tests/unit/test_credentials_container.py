"""Container credentials (ECS, EKS Pod Identity): the URI rules, the JSON, the provider."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from credential_fakes import T0, FakeFetcher, answers, creds_json
from hypothesis import given
from hypothesis import strategies as st

from jupyters3.credentials.container import (
    ContainerEndpoint,
    ContainerProvider,
    container_endpoint,
    is_allowed_full_uri,
    parse_container_credentials,
)
from jupyters3.credentials.http import FetchTimeout
from jupyters3.errors import BadConfiguration, CredentialsRejected, NetworkError, ServerError

# -- which full URIs are allowed ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://creds.example.com/x",
        "https://10.0.0.1:8443/",
        "http://127.0.0.1/creds",
        "http://127.250.3.4:8080/creds",
        "http://[::1]:80/creds",
        "http://localhost:9000/creds",
        "http://169.254.170.2/v2/credentials/abc",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
    ],
)
def test_allowed_full_uris(url: str) -> None:
    assert is_allowed_full_uri(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/creds",
        "http://10.0.0.1/creds",
        "http://169.254.169.254/latest/meta-data/",  # the IMDS is not a container agent
        "http://169.254.170.3/",
        "http://[fd00:ec2::254]/",
        "http://localhost.evil.com/",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http:///nohost",
        "https://",
        "http://[::1/broken",
        "169.254.170.2/v1",
    ],
)
def test_refused_full_uris(url: str) -> None:
    assert not is_allowed_full_uri(url)


@given(st.ip_addresses(v=4))
def test_plain_http_ipv4_is_allowed_only_for_loopback_and_agents(ip: ipaddress.IPv4Address) -> None:
    expected = ip.is_loopback or str(ip) in {"169.254.170.2", "169.254.170.23"}
    assert is_allowed_full_uri(f"http://{ip}:1234/creds") is expected
    assert is_allowed_full_uri(f"https://{ip}/creds")


@given(st.ip_addresses(v=6))
def test_plain_http_ipv6_is_allowed_only_for_loopback_and_agents(ip: ipaddress.IPv6Address) -> None:
    expected = ip.is_loopback or ip == ipaddress.ip_address("fd00:ec2::23")
    assert is_allowed_full_uri(f"http://[{ip}]/creds") is expected


# -- the endpoint from the environment ---------------------------------------------


def test_no_variables_is_not_configured() -> None:
    assert container_endpoint({}) is None


def test_relative_uri_wins_and_is_on_the_ecs_host() -> None:
    env = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/uuid",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/x",
    }
    assert container_endpoint(env) == ContainerEndpoint("http://169.254.170.2/v2/credentials/uuid")
    env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "v2/c"
    assert container_endpoint(env, "http://127.0.0.1:5/").url == "http://127.0.0.1:5/v2/c"  # type: ignore[union-attr]


def test_full_uri_with_token_or_token_file() -> None:
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "static",
    }
    assert container_endpoint(env) == ContainerEndpoint(
        "http://169.254.170.23/v1/credentials", token="static"
    )
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/token"  # the file wins
    assert container_endpoint(env) == ContainerEndpoint(
        "http://169.254.170.23/v1/credentials", token_file="/var/run/token"
    )


def test_a_refused_full_uri_is_a_config_error_without_secrets() -> None:
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://user:pw@example.com/c?sig=abc"}
    with pytest.raises(BadConfiguration, match=r"169\.254\.170\.23") as info:
        container_endpoint(env)
    message = str(info.value)
    assert "http://example.com/c" in message
    assert "pw" not in message and "sig=abc" not in message


def test_tokens_with_line_breaks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadConfiguration, match="line break"):
        ContainerEndpoint("http://127.0.0.1/", token="a\r\nX-Injected: 1").authorization()
    path = tmp_path / "token"
    path.write_text("a\nb")
    with pytest.raises(BadConfiguration, match="AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
        ContainerEndpoint("http://127.0.0.1/", token_file=str(path)).authorization()
    path.write_text("tok-123\n")  # a trailing newline is trimmed
    assert ContainerEndpoint("http://127.0.0.1/", token_file=str(path)).authorization() == "tok-123"


# -- the JSON ----------------------------------------------------------------------


def test_parse_credentials() -> None:
    found = parse_container_credentials(creds_json(4, RoleArn="arn:r", AccountId="1"))
    assert found.creds.access_key_id == "ASIA0000000000000004"
    assert found.creds.secret_access_key == "secret-4"
    assert found.creds.pre_auth_headers == {"x-amz-security-token": "token-4"}
    assert found.expiration == T0 + 3600


def test_parse_credentials_without_token_or_expiration() -> None:
    found = parse_container_credentials(creds_json(1, None, token=False))
    assert found.creds.pre_auth_headers == {}
    assert found.expiration is None


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>", "invalid JSON"),
        (b"[1]", "non-object"),
        (b'{"AccessKeyId": "AKID", "Code": "Fail"}', "lacks SecretAccessKey .Code 'Fail'"),
        (b'{"SecretAccessKey": "very-secret"}', "lacks AccessKeyId"),
        (creds_json(1).replace(b"2027-01-15", b"someday  "), "Expiration"),
    ],
)
def test_parse_refuses_other_bodies(body: bytes, match: str) -> None:
    with pytest.raises(ServerError, match=match) as info:
        parse_container_credentials(body)
    assert "very-secret" not in str(info.value)


# -- the provider ------------------------------------------------------------------


async def test_provider_not_configured_sends_nothing() -> None:
    fetcher = FakeFetcher(answers((200, creds_json())))
    assert await ContainerProvider({}, fetcher).load() is None
    assert fetcher.sent == []


async def test_provider_rereads_the_token_file_at_every_load(tmp_path: Path) -> None:
    token = tmp_path / "eks-pod-identity-token"
    token.write_text("first")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token),
    }
    fetcher = FakeFetcher(answers((200, creds_json(1)), (200, creds_json(2))))
    provider = ContainerProvider(env, fetcher)
    first = await provider.load()
    token.write_text("second")
    second = await provider.load()
    assert [s.headers["Authorization"] for s in fetcher.sent] == ["first", "second"]
    assert [s.method for s in fetcher.sent] == ["GET", "GET"]
    assert fetcher.sent[0].url == "http://169.254.170.23/v1/credentials"
    assert fetcher.sent[0].timeout == 2.0
    assert first is not None and second is not None
    assert (first.creds.access_key_id, second.creds.access_key_id) == (
        "ASIA0000000000000001",
        "ASIA0000000000000002",
    )


async def test_relative_uri_sends_no_authorization_without_a_token() -> None:
    env = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/uuid"}
    fetcher = FakeFetcher(answers((200, creds_json())))
    assert await ContainerProvider(env, fetcher).load() is not None
    assert fetcher.sent[0].url == "http://169.254.170.2/v2/credentials/uuid"
    assert "Authorization" not in fetcher.sent[0].headers


ENV = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-secret-uuid"}


@pytest.mark.parametrize(
    ("queue", "sent", "outcome"),
    [
        ([(500, b""), (503, b""), (200, creds_json(9))], 3, "ASIA0000000000000009"),
        ([(200, b"{"), (200, creds_json(9))], 2, "ASIA0000000000000009"),
        ([(500, b"")], 3, ServerError),
        ([(401, b"")], 1, CredentialsRejected),
        ([(403, b"")], 1, CredentialsRejected),
        ([(404, b"")], 1, BadConfiguration),
        ([FetchTimeout("t", connected=True)], 3, NetworkError),
        ([NetworkError("refused"), (200, creds_json(9))], 2, "ASIA0000000000000009"),
    ],
)
async def test_provider_retries_what_may_pass_and_stops_on_the_rest(
    queue: list[object], sent: int, outcome: object
) -> None:
    fetcher = FakeFetcher(answers(*queue))
    provider = ContainerProvider(ENV, fetcher, retry_delay=0)
    if isinstance(outcome, str):
        found = await provider.load()
        assert found is not None and found.creds.access_key_id == outcome
    else:
        assert isinstance(outcome, type)
        with pytest.raises(outcome) as info:
            await provider.load()
        assert "task-secret-uuid" not in str(info.value)  # the path is a capability
    assert len(fetcher.sent) == sent
