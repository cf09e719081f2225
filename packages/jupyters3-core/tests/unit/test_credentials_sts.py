"""Web identity (IRSA): configuration, the STS request, the STS XML, the provider."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from credential_fakes import T0, FakeClock, FakeFetcher, answers, sts_error_xml, sts_xml

from jupyters3 import errors
from jupyters3.credentials.http import INSECURE_ENDPOINTS
from jupyters3.credentials.sso import sso_oidc_url, sso_portal_url
from jupyters3.credentials.web_identity import (
    WebIdentityConfig,
    WebIdentityProvider,
    parse_sts_response,
    sts_endpoint,
    sts_request_body,
    web_identity_config,
)
from jupyters3.errors import (
    BadConfiguration,
    CredentialsRejected,
    NetworkError,
    ServerError,
    Throttled,
)

ROLE = "arn:aws:iam::123456789012:role/notebook"

# -- configuration ---------------------------------------------------------------


def test_no_token_file_is_not_configured() -> None:
    assert web_identity_config({}) is None
    assert web_identity_config({"AWS_ROLE_ARN": ROLE}) is None


def test_environment_configuration() -> None:
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": ROLE, "AWS_ROLE_SESSION_NAME": "me"}
    assert web_identity_config(env) == WebIdentityConfig("/t", ROLE, "me")


def test_a_token_file_without_a_role_is_a_config_error() -> None:
    with pytest.raises(BadConfiguration, match="AWS_ROLE_ARN is not"):
        web_identity_config({"AWS_WEB_IDENTITY_TOKEN_FILE": "/t"})


@pytest.mark.parametrize("name", ["x", "a" * 65, "has space", "slash/name"])
def test_invalid_session_names_are_config_errors(name: str) -> None:
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": ROLE, "AWS_ROLE_SESSION_NAME": name}
    with pytest.raises(BadConfiguration, match="AWS_ROLE_SESSION_NAME"):
        web_identity_config(env)


def test_profile_keys_with_the_environment_winning_key_by_key() -> None:
    profile = {"web_identity_token_file": "/p", "role_arn": "arn:p", "role_session_name": "ps"}
    assert web_identity_config({}, profile) == WebIdentityConfig("/p", "arn:p", "ps")
    env = {"AWS_ROLE_ARN": ROLE}
    assert web_identity_config(env, profile) == WebIdentityConfig("/p", ROLE, "ps")


@pytest.mark.parametrize(
    ("env", "override", "expected"),
    [
        ({}, "", "https://sts.amazonaws.com/"),
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "", "https://sts.eu-west-1.amazonaws.com/"),
        (
            {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"},
            "",
            "https://sts.us-west-2.amazonaws.com/",
        ),
        ({"AWS_REGION": "cn-north-1"}, "", "https://sts.cn-north-1.amazonaws.com.cn/"),
        (
            {"AWS_REGION": "x", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"},
            "",
            "http://127.0.0.1:9/",
        ),
        ({"AWS_ENDPOINT_URL_STS": "http://a"}, "https://b:1/", "https://b:1/"),
        ({"AWS_ENDPOINT_URL_STS": "http://localhost:5/"}, "", "http://localhost:5/"),
        ({"AWS_ENDPOINT_URL_STS": "http://[::1]:5"}, "", "http://[::1]:5/"),
        (
            {"AWS_ENDPOINT_URL_STS": "http://sts.corp:80", INSECURE_ENDPOINTS: "true"},
            "",
            "http://sts.corp:80/",
        ),
    ],
)
def test_sts_endpoint(env: dict[str, str], override: str, expected: str) -> None:
    assert sts_endpoint(env, override) == expected


@pytest.mark.parametrize(
    ("env", "override", "setting"),
    [
        ({"AWS_ENDPOINT_URL_STS": "http://sts.corp"}, "", "AWS_ENDPOINT_URL_STS"),
        ({"AWS_ENDPOINT_URL_STS": "https://sts.corp"}, "http://10.0.0.1:1/", "sts_endpoint_url"),
        ({"AWS_ENDPOINT_URL_STS": "http://sts.corp", INSECURE_ENDPOINTS: "no"}, "", "AWS_END"),
        ({"AWS_ENDPOINT_URL_STS": "ftp://sts.corp"}, "", "must be an http(s) URL"),
    ],
)
def test_a_plain_http_sts_endpoint_off_loopback_is_refused(
    env: dict[str, str], override: str, setting: str
) -> None:
    with pytest.raises(BadConfiguration, match=re.escape(setting)) as refused:
        sts_endpoint(env, override)
    if "http(s)" not in setting:
        assert "clear text" in str(refused.value) and INSECURE_ENDPOINTS in str(refused.value)


@pytest.mark.parametrize(
    ("name", "url"),
    [("AWS_ENDPOINT_URL_SSO", sso_portal_url), ("AWS_ENDPOINT_URL_SSO_OIDC", sso_oidc_url)],
)
def test_plain_http_sso_endpoints_off_loopback_are_refused(name: str, url: Any) -> None:
    with pytest.raises(BadConfiguration, match=f"{name} is plain http"):
        url({name: "http://sso.corp:8080/"}, "eu-west-1")
    assert url({name: "http://127.0.0.1:8080/"}, "eu-west-1") == "http://127.0.0.1:8080"
    assert url({name: "http://sso.corp", INSECURE_ENDPOINTS: "1"}, "x") == "http://sso.corp"


def test_sts_errors_are_redacted_before_they_are_cut() -> None:
    """A token STS echoes near the 300th character is blanked whole, never
    left half-visible by the cut."""
    token = "eyJ" + "t" * 400
    body = sts_error_xml("InvalidIdentityToken", message="x" * 250 + token)
    with pytest.raises(errors.CredentialsRejected) as rejected:
        parse_sts_response(400, body, redact=(token,))
    assert "ttttt" not in str(rejected.value) and "***" in str(rejected.value)


def test_an_sts_answer_with_a_doctype_is_never_parsed() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        b"<AccessKeyId>&lol2;</AccessKeyId></Credentials>"
        b"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
    )
    with pytest.raises(errors.ServerError, match="not XML"):
        parse_sts_response(200, laughs)


def test_request_body_is_the_query_protocol_form() -> None:
    body = sts_request_body(WebIdentityConfig("/t", ROLE), "eyJ+token/=", "sess", 900)
    assert parse_qs(body.decode(), strict_parsing=True) == {
        "Action": ["AssumeRoleWithWebIdentity"],
        "Version": ["2011-06-15"],
        "RoleArn": [ROLE],
        "RoleSessionName": ["sess"],
        "WebIdentityToken": ["eyJ+token/="],
        "DurationSeconds": ["900"],
    }


# -- the XML ---------------------------------------------------------------------


def test_parse_success() -> None:
    found = parse_sts_response(200, sts_xml(7, "2027-01-15T09:00:00.893876Z"))
    assert found.creds.access_key_id == "ASIASTS000000000007"
    assert found.creds.secret_access_key == "sts-secret-7"
    assert found.creds.pre_auth_headers == {"x-amz-security-token": "sts-token-7"}
    assert found.expiration == pytest.approx(T0 + 3600.893876)


def test_parse_without_namespace() -> None:
    body = sts_xml(1).replace(b' xmlns="https://sts.amazonaws.com/doc/2011-06-15/"', b"")
    assert parse_sts_response(200, body).creds.access_key_id == "ASIASTS000000000001"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not xml", "not XML"),
        (sts_xml(1).replace(b"<SessionToken>sts-token-1</SessionToken>", b""), "SessionToken"),
        (sts_xml(1, "whenever"), "Expiration"),
    ],
)
def test_parse_broken_success_is_a_server_error(body: bytes, match: str) -> None:
    with pytest.raises(ServerError, match=match):
        parse_sts_response(200, body)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InvalidIdentityToken", CredentialsRejected),
        (400, "ExpiredTokenException", CredentialsRejected),
        (403, "IDPRejectedClaim", CredentialsRejected),
        (403, "AccessDenied", CredentialsRejected),
        (400, "IDPCommunicationError", ServerError),
        (400, "Throttling", Throttled),
        (503, "ServiceUnavailable", ServerError),
        (400, "ValidationError", BadConfiguration),
        (403, "RegionDisabledException", CredentialsRejected),
        (400, "RegionDisabledException", BadConfiguration),
    ],
)
def test_parse_errors(status: int, code: str, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        parse_sts_response(status, sts_error_xml(code, "why"), operation="role at sts")
    assert type(info.value) is cls
    assert code in str(info.value) and "why" in str(info.value) and "role at sts" in str(info.value)


def test_errors_never_quote_the_token() -> None:
    body = sts_error_xml("InvalidIdentityToken", "Token eyJsecret.jwt.value is not valid")
    with pytest.raises(CredentialsRejected) as info:
        parse_sts_response(400, body, redact=("eyJsecret.jwt.value",))
    assert "eyJsecret" not in str(info.value)
    assert "Token *** is not valid" in str(info.value)


def test_error_without_a_body() -> None:
    with pytest.raises(ServerError, match="HTTP500"):
        parse_sts_response(500, b"")


# -- the provider ----------------------------------------------------------------


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("jwt-1\n")
    return path


def rotate(path: Path, text: str) -> None:
    path.write_text(text)


def _env(token_file: Path, **extra: str) -> dict[str, str]:
    return {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": ROLE, **extra}


async def test_provider_posts_unsigned_and_rereads_the_token(token_file: Path) -> None:
    serial = iter(range(1, 100))
    fetcher = FakeFetcher(lambda sent: (200, sts_xml(next(serial))))
    clock = FakeClock()
    provider = WebIdentityProvider(
        _env(token_file, AWS_REGION="eu-west-1"), fetcher, clock, retry_delay=0
    )

    first = await provider.load()
    rotate(token_file, "jwt-2")  # the kubelet rotates it
    second = await provider.load()

    assert first is not None and second is not None
    assert first.creds.access_key_id != second.creds.access_key_id
    assert [s.method for s in fetcher.sent] == ["POST", "POST"]
    assert fetcher.sent[0].url == "https://sts.eu-west-1.amazonaws.com/"
    assert "Authorization" not in fetcher.sent[0].headers
    forms = [parse_qs((s.body or b"").decode()) for s in fetcher.sent]
    assert [f["WebIdentityToken"] for f in forms] == [["jwt-1"], ["jwt-2"]]
    assert forms[0]["RoleSessionName"] == [f"jupyters3-{int(T0)}"]


async def test_provider_not_configured(tmp_path: Path) -> None:
    config = tmp_path / "config"
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c")}
    fetcher = FakeFetcher(answers((500, b"")))
    assert await WebIdentityProvider(env, fetcher, FakeClock()).load() is None
    assert fetcher.sent == []


async def test_provider_from_profile_keys(tmp_path: Path, token_file: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        f"[profile eks]\nweb_identity_token_file = {token_file}\nrole_arn = {ROLE}\n"
        "role_session_name = from-profile\n"
    )
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c")}
    fetcher = FakeFetcher(answers((200, sts_xml(1))))
    provider = WebIdentityProvider(
        env, fetcher, FakeClock(), profile="eks", endpoint_url="http://127.0.0.1:9"
    )
    assert await provider.load() is not None
    assert parse_qs((fetcher.sent[0].body or b"").decode())["RoleSessionName"] == ["from-profile"]
    assert fetcher.sent[0].url == "http://127.0.0.1:9/"


async def test_provider_retries_transient_errors(token_file: Path) -> None:
    fetcher = FakeFetcher(
        answers(
            (500, b""),
            (400, sts_error_xml("IDPCommunicationError")),
            (200, sts_xml(3)),
        )
    )
    provider = WebIdentityProvider(_env(token_file), fetcher, FakeClock(), retry_delay=0)
    found = await provider.load()
    assert found is not None and found.creds.secret_access_key == "sts-secret-3"
    assert len(fetcher.sent) == 3


async def test_provider_does_not_retry_a_rejected_token(token_file: Path) -> None:
    fetcher = FakeFetcher(answers((400, sts_error_xml("InvalidIdentityToken", "jwt-1 bad"))))
    provider = WebIdentityProvider(_env(token_file), fetcher, FakeClock(), retry_delay=0)
    with pytest.raises(CredentialsRejected, match=ROLE) as info:
        await provider.load()
    assert len(fetcher.sent) == 1
    assert "jwt-1" not in str(info.value)


async def test_provider_network_failure_after_attempts(token_file: Path) -> None:
    fetcher = FakeFetcher(answers(NetworkError("refused", outcome_unknown=False)))
    provider = WebIdentityProvider(
        _env(token_file), fetcher, FakeClock(), attempts=2, retry_delay=0
    )
    with pytest.raises(NetworkError):
        await provider.load()
    assert len(fetcher.sent) == 2


@pytest.mark.parametrize("content", [None, ""])
async def test_missing_or_empty_token_file(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    fetcher = FakeFetcher(answers((200, sts_xml(1))))
    with pytest.raises(BadConfiguration, match="AWS_WEB_IDENTITY_TOKEN_FILE"):
        await WebIdentityProvider(_env(path), fetcher, FakeClock()).load()
    assert fetcher.sent == []
