"""IAM Identity Center (SSO) profiles: configuration, the token cache, GetRoleCredentials."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from credential_fakes import T0, FakeClock, FakeFetcher, Sent

from jupyters3 import JupyterS3DefaultAuthentication
from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.chain import CredentialChain, default_providers
from jupyters3.credentials.profiles import AssumeRoleSource, SsoSource, resolve_profile
from jupyters3.credentials.providers import SharedFiles
from jupyters3.credentials.sso import (
    SsoRole,
    parse_role_credentials,
    sso_cache_path,
    sso_portal_url,
)
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.credentials.types import ProviderContext
from jupyters3.errors import BadConfiguration, CredentialsRejected, ServerError

LOG = logging.getLogger("test.sso")
TOKEN = "sso-access-token-Vb4mQ9wE2rTy"
START = "https://corp.awsapps.com/start"

CONFIG = f"""\
[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Notebooks
region = eu-west-1

[profile legacy]
sso_start_url = {START}
sso_region = us-east-2
sso_account_id = 444455556666
sso_role_name = ReadOnly

[profile broken]
sso_session = nowhere
sso_account_id = 1
sso_role_name = R

[profile partial]
sso_account_id = 1

[profile clash]
sso_session = corp
sso_region = us-west-2
sso_account_id = 1
sso_role_name = R

[profile ops]
role_arn = arn:aws:iam::111122223333:role/ops
source_profile = dev

[sso-session corp]
sso_start_url = {START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "config").write_text(CONFIG)
    return {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }


def cache_token(home: str, name: str, expires: str, token: str = TOKEN) -> Path:
    digest = hashlib.sha1(name.encode()).hexdigest()
    path = Path(home) / ".aws" / "sso" / "cache" / f"{digest}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "startUrl": START,
                "region": "eu-west-1",
                "accessToken": token,
                "expiresAt": expires,
                "clientId": "c",
                "clientSecret": "client-secret-should-not-leak",
                "refreshToken": "refresh-token-should-not-leak",
            }
        )
    )
    return path


def resolve(env: dict[str, str], profile: str) -> Any:
    return resolve_profile(SharedFiles.read(env), profile, default_session="s-1")


# -- configuration -----------------------------------------------------------------


def test_sso_session_and_legacy_profiles(env: dict[str, str]) -> None:
    dev = resolve(env, "dev")
    assert dev == SsoSource(SsoRole("dev", START, "eu-west-1", "111122223333", "Notebooks", "corp"))
    assert dev.describe() == (
        "IAM Identity Center (SSO) of profile 'dev': role Notebooks in account 111122223333, "
        "sso-session 'corp'"
    )
    legacy = resolve(env, "legacy")
    assert legacy == SsoSource(SsoRole("legacy", START, "us-east-2", "444455556666", "ReadOnly"))
    assert legacy.describe().endswith(f"start URL {START}")
    ops = resolve(env, "ops")
    assert isinstance(ops, AssumeRoleSource) and ops.source == dev


@pytest.mark.parametrize(
    ("profile", "sentence"),
    [
        (
            "broken",
            "AWS profile 'broken' names sso_session 'nowhere', but {config} has no "
            "[sso-session nowhere] section.",
        ),
        (
            "partial",
            "AWS profile 'partial' uses IAM Identity Center (SSO) but lacks "
            "sso_start_url, sso_region, sso_role_name.",
        ),
        (
            "clash",
            "AWS profile 'clash' and its [sso-session corp] give different values of "
            "sso_region: keep one.",
        ),
    ],
)
def test_configuration_refusals(env: dict[str, str], profile: str, sentence: str) -> None:
    with pytest.raises(BadConfiguration) as info:
        resolve(env, profile)
    assert info.value.message == sentence.format(config=env["AWS_CONFIG_FILE"])


def test_the_cache_file_is_named_as_the_cli_names_it(env: dict[str, str]) -> None:
    session = SsoRole("dev", START, "eu-west-1", "1", "R", "corp")
    legacy = SsoRole("legacy", START, "eu-west-1", "1", "R")
    cache = Path(env["HOME"]) / ".aws" / "sso" / "cache"
    # botocore's SSOTokenLoader: the SHA-1 hex of the session name, else of the start URL.
    assert sso_cache_path(env, session) == str(cache / f"{hashlib.sha1(b'corp').hexdigest()}.json")
    assert sso_cache_path(env, legacy) == str(
        cache / f"{hashlib.sha1(START.encode()).hexdigest()}.json"
    )


def test_the_portal_url() -> None:
    assert sso_portal_url({}, "eu-west-1") == "https://portal.sso.eu-west-1.amazonaws.com"
    assert sso_portal_url({}, "cn-north-1") == "https://portal.sso.cn-north-1.amazonaws.com.cn"
    assert sso_portal_url({"AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9/"}, "x") == (
        "http://127.0.0.1:9"
    )


def test_role_credentials_answer() -> None:
    body = json.dumps(
        {
            "roleCredentials": {
                "accessKeyId": "ASIASSO",
                "secretAccessKey": "s",
                "sessionToken": "t",
                "expiration": 1_800_003_600_000,
            }
        }
    ).encode()
    assert parse_role_credentials(body) == TimedCreds(
        AwsCreds("ASIASSO", "s", {"x-amz-security-token": "t"}), 1_800_003_600.0
    )
    with pytest.raises(ServerError, match="lacks sessionToken"):
        parse_role_credentials(b'{"roleCredentials": {"accessKeyId": "a", "secretAccessKey": "b"}}')
    with pytest.raises(ServerError, match="invalid JSON"):
        parse_role_credentials(b"<html>")


# -- GetRoleCredentials ---------------------------------------------------------------


class Portal:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.serial = 0
        self.status = 200

    def __call__(self, sent: Sent) -> tuple[int, bytes]:
        if self.status != 200:
            return self.status, b'{"message": "Session token not found or invalid"}'
        self.serial += 1
        creds = {
            "accessKeyId": f"ASIASSO{self.serial:013d}",
            "secretAccessKey": f"sso-secret-{self.serial}",
            "sessionToken": f"sso-token-{self.serial}",
            "expiration": int((self.clock() + 3600) * 1000),
        }
        return 200, json.dumps({"roleCredentials": creds}).encode()


async def test_role_credentials_for_the_cached_token(env: dict[str, str]) -> None:
    clock = FakeClock()
    cache_token(env["HOME"], "corp", format_timestamp(T0 + 8 * 3600))
    portal = Portal(clock)
    fetcher = FakeFetcher(portal)
    auth = JupyterS3DefaultAuthentication(
        environ={**env, "AWS_PROFILE": "dev"}, clock=clock, fetcher=fetcher
    )
    auth.entry_point_providers = False
    first = await auth.get_credentials()
    assert first == AwsCreds(
        "ASIASSO0000000000001", "sso-secret-1", {"x-amz-security-token": "sso-token-1"}
    )
    [sent] = fetcher.sent
    url = urlsplit(sent.url)
    assert (sent.method, url.netloc, url.path) == (
        "GET",
        "portal.sso.eu-west-1.amazonaws.com",
        "/federation/credentials",
    )
    assert parse_qs(url.query) == {"account_id": ["111122223333"], "role_name": ["Notebooks"]}
    assert sent.headers["x-amz-sso_bearer_token"] == TOKEN
    assert "sso-session 'corp'" in auth.chain.chosen.description  # type: ignore[union-attr]

    clock.advance(3600 - 600 + 1)  # refreshed in the mandatory window, token read again
    cache_token(env["HOME"], "corp", format_timestamp(T0 + 8 * 3600), "a-new-token")
    assert (await auth.get_credentials()).access_key_id == "ASIASSO0000000000002"
    assert fetcher.sent[-1].headers["x-amz-sso_bearer_token"] == "a-new-token"


async def chain_load(env: dict[str, str], profile: str, fetcher: FakeFetcher) -> Any:
    ctx = ProviderContext(env, FakeClock(), fetcher, LOG)
    chain = CredentialChain(default_providers(ctx, profile=profile, entry_points=False), ctx)
    return await chain.load()


@pytest.mark.parametrize(
    ("cached", "says"),
    [
        (
            None,
            "AWS profile 'dev' uses IAM Identity Center (sso-session 'corp') but has no "
            'cached login ({path}): run "aws sso login --profile dev".',
        ),
        (
            format_timestamp(T0 - 1),
            "AWS profile 'dev' uses IAM Identity Center (sso-session "
            "'corp') and its login has expired: run \"aws sso login --profile dev\".",
        ),
        (
            "yesterday",
            "AWS profile 'dev' uses IAM Identity Center (sso-session 'corp') but its "
            'cached login {path} has no valid expiresAt: run "aws sso login --profile dev".',
        ),
    ],
)
async def test_a_missing_or_expired_login_says_to_log_in(
    env: dict[str, str], cached: str | None, says: str
) -> None:
    path = (
        Path(env["HOME"]) / ".aws" / "sso" / "cache" / f"{hashlib.sha1(b'corp').hexdigest()}.json"
    )
    if cached is not None:
        cache_token(env["HOME"], "corp", cached)
    fetcher = FakeFetcher(Portal(FakeClock()))
    with pytest.raises(BadConfiguration) as info:
        await chain_load(env, "dev", fetcher)
    assert info.value.message == says.format(path=path)
    assert fetcher.sent == []  # no request with an expired token
    for secret in (TOKEN, "client-secret-should-not-leak", "refresh-token-should-not-leak"):
        assert secret not in str(info.value)


async def test_the_legacy_cache_and_the_clis_old_time_format(env: dict[str, str]) -> None:
    cache_token(env["HOME"], START, "2027-01-15T16:00:00UTC")
    fetcher = FakeFetcher(Portal(FakeClock()))
    found = await chain_load(
        {**env, "AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9/sso"}, "legacy", fetcher
    )
    assert found.creds.access_key_id == "ASIASSO0000000000001"
    assert fetcher.sent[0].url.startswith("http://127.0.0.1:9/sso/federation/credentials?")


async def test_a_refused_token_says_to_log_in_again(env: dict[str, str]) -> None:
    cache_token(env["HOME"], "corp", format_timestamp(T0 + 3600))
    portal = Portal(FakeClock())
    portal.status = 401
    with pytest.raises(CredentialsRejected) as info:
        await chain_load(env, "dev", FakeFetcher(portal))
    assert info.value.message == (
        "The IAM Identity Center portal https://portal.sso.eu-west-1.amazonaws.com refused the "
        "login of AWS profile 'dev' (HTTP 401): run \"aws sso login --profile dev\"."
    )
    assert TOKEN not in str(info.value)


# -- refreshing the login (CreateToken) ----------------------------------------------


class PortalAndOidc(Portal):
    """The portal, plus the OIDC service's CreateToken at /token."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.oidc_status = 200
        self.created: list[dict[str, Any]] = []

    def __call__(self, sent: Sent) -> tuple[int, bytes]:
        if sent.url.endswith("/token"):
            self.created.append(json.loads(sent.body or b"{}"))
            if self.oidc_status != 200:
                return self.oidc_status, b'{"error": "invalid_grant"}'
            answer = {"accessToken": "fresh-token", "expiresIn": 28800, "refreshToken": "rot-2"}
            return 200, json.dumps(answer).encode()
        return super().__call__(sent)


def refreshable_cache(home: str, expires: float, registration: float = T0 + 86400) -> Path:
    path = cache_token(home, "corp", format_timestamp(expires))
    doc = json.loads(path.read_text())
    doc["registrationExpiresAt"] = format_timestamp(registration)
    path.write_text(json.dumps(doc))
    return path


async def test_a_login_about_to_expire_is_refreshed_and_saved(env: dict[str, str]) -> None:
    path = refreshable_cache(env["HOME"], T0 + 300)
    service = PortalAndOidc(FakeClock())
    fetcher = FakeFetcher(service)
    found = await chain_load(
        {**env, "AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:9"}, "dev", fetcher
    )
    assert found.creds.access_key_id == "ASIASSO0000000000001"
    assert fetcher.sent[0].url == "http://127.0.0.1:9/token"
    assert service.created == [
        {
            "grantType": "refresh_token",
            "clientId": "c",
            "clientSecret": "client-secret-should-not-leak",
            "refreshToken": "refresh-token-should-not-leak",
        }
    ]
    assert fetcher.sent[1].headers["x-amz-sso_bearer_token"] == "fresh-token"
    saved = json.loads(path.read_text())
    assert saved["accessToken"] == "fresh-token"
    assert saved["refreshToken"] == "rot-2"
    assert saved["expiresAt"] == format_timestamp(T0 + 28800)
    assert saved["startUrl"] == START and saved["clientId"] == "c"  # the rest is kept
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


async def test_the_default_oidc_endpoint_is_regional(env: dict[str, str]) -> None:
    refreshable_cache(env["HOME"], T0 + 300)
    fetcher = FakeFetcher(PortalAndOidc(FakeClock()))
    await chain_load(env, "dev", fetcher)
    assert fetcher.sent[0].url == "https://oidc.eu-west-1.amazonaws.com/token"


async def test_a_failed_refresh_uses_the_token_while_it_lasts(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    refreshable_cache(env["HOME"], T0 + 300)
    service = PortalAndOidc(FakeClock())
    service.oidc_status = 400
    fetcher = FakeFetcher(service)
    with caplog.at_level(logging.INFO, "jupyters3.credentials"):
        await chain_load(env, "dev", fetcher)
    assert fetcher.sent[1].headers["x-amz-sso_bearer_token"] == TOKEN
    assert "refreshing the IAM Identity Center login of AWS profile 'dev'" in caplog.text
    assert "(HTTP 400)" in caplog.text
    for secret in (TOKEN, "client-secret-should-not-leak", "refresh-token-should-not-leak"):
        assert secret not in caplog.text


async def test_an_expired_login_that_cannot_be_refreshed_says_to_log_in(
    env: dict[str, str],
) -> None:
    refreshable_cache(env["HOME"], T0 - 60)
    service = PortalAndOidc(FakeClock())
    service.oidc_status = 400
    with pytest.raises(BadConfiguration, match=r"login has expired: run .aws sso login --prof"):
        await chain_load(env, "dev", FakeFetcher(service))
    assert len(service.created) == 1
    # An expired registration is not even tried.
    refreshable_cache(env["HOME"], T0 - 60, registration=T0 - 1)
    with pytest.raises(BadConfiguration, match=r"login has expired"):
        await chain_load(env, "dev", FakeFetcher(service))
    assert len(service.created) == 1


async def test_an_expired_login_is_refreshed(env: dict[str, str]) -> None:
    refreshable_cache(env["HOME"], T0 - 60)
    fetcher = FakeFetcher(PortalAndOidc(FakeClock()))
    found = await chain_load(env, "dev", fetcher)
    assert found.creds.access_key_id == "ASIASSO0000000000001"
    assert fetcher.sent[1].headers["x-amz-sso_bearer_token"] == "fresh-token"


async def test_legacy_profiles_are_not_refreshed(env: dict[str, str]) -> None:
    path = cache_token(env["HOME"], START, format_timestamp(T0 + 300))
    doc = json.loads(path.read_text())
    doc["registrationExpiresAt"] = format_timestamp(T0 + 86400)
    path.write_text(json.dumps(doc))
    fetcher = FakeFetcher(PortalAndOidc(FakeClock()))
    await chain_load(env, "legacy", fetcher)
    assert [s.url.split("?")[0] for s in fetcher.sent] == [
        "https://portal.sso.us-east-2.amazonaws.com/federation/credentials"
    ]
