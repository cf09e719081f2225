"""No secret key or session token in a repr, a str, an error message or a log record.

Every object that holds credentials (or the environment and files they come
from) is built with distinctive random secrets, and its ``repr``, ``str`` and
format are searched for them (as they are, URL-encoded and base64-encoded);
so is every error raised on the way and every log record written at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from credential_fakes import FakeClock, FakeFetcher, Sent, answers, creds_json, sts_error_xml

from jupyters3 import (
    AwsCreds,
    JupyterS3,
    JupyterS3DefaultAuthentication,
    JupyterS3ECSRoleAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.credentials import TimedCreds
from jupyters3.credentials.chain import CredentialChain, default_providers
from jupyters3.credentials.container import (
    ContainerEndpoint,
    ContainerProvider,
    container_endpoint,
    parse_container_credentials,
)
from jupyters3.credentials.http import status_error
from jupyters3.credentials.providers import (
    EnvironmentProvider,
    SharedFiles,
    creds_from_environ,
)
from jupyters3.credentials.refresh import RefreshingCredentials
from jupyters3.credentials.types import ProviderContext, session_creds
from jupyters3.credentials.web_identity import (
    WebIdentityProvider,
    parse_sts_response,
    web_identity_config,
)
from jupyters3.errors import S3_ERROR_CODES, S3Error, ServerError, error_from_response
from jupyters3.s3.client import S3Client
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.signing import EMPTY_SHA256, sign_request, signing_key
from jupyters3.s3.transport import Request
from jupyters3.s3.xml import parse_error
from jupyters3_testing.leaks import find_secrets, random_secret

KEY_ID = "ASIAUNITTESTSECRETS1"
SECRET = random_secret(40)
TOKEN = random_secret(200)
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + random_secret(120)
CONTAINER_TOKEN = random_secret(64)
FILE_SECRET = random_secret(40)
SECRETS = {
    "secret key": SECRET,
    "session token": TOKEN,
    "web identity token": WEB_TOKEN,
    "container token": CONTAINER_TOKEN,
    "profile secret": FILE_SECRET,
}
LOG = logging.getLogger("jupyters3.test_secrets")


def shown(*objects: Any) -> str:
    """Everything a traceback, a log line or a debugger could show of ``objects``."""
    parts: list[str] = []
    for obj in objects:
        parts += [repr(obj), str(obj), f"{obj}", f"{obj!r}", "%s %r" % (obj, obj)]  # noqa: UP031
        if isinstance(obj, BaseException):
            parts += [repr(a) for a in obj.args]
            for linked in (obj.__cause__, obj.__context__):
                if linked is not None:
                    parts.append(shown(linked))
    return "\n".join(parts)


def assert_no_secret(*objects: Any) -> None:
    leaks = find_secrets(shown(*objects), SECRETS)
    assert not leaks, [(leak.label, leak.form) for leak in leaks]


def test_the_search_itself_finds_them() -> None:
    """The helper fails on a secret, so the passing tests below mean something."""
    with pytest.raises(AssertionError, match="secret key"):
        assert_no_secret({"k": SECRET})
    with pytest.raises(AssertionError, match="session token"):
        assert_no_secret(ValueError("x", {"x-amz-security-token": TOKEN}))


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment where every source holds a distinctive secret."""
    web = tmp_path / "web-identity-token"
    web.write_text(WEB_TOKEN)
    container = tmp_path / "container-token"
    container.write_text(CONTAINER_TOKEN)
    (tmp_path / "credentials").write_text(
        f"[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = {FILE_SECRET}\n"
        f"aws_session_token = {TOKEN}\n"
    )
    return {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(web),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(container),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN,
    }


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger at DEBUG; checked for secrets after the test."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    leaks = find_secrets(records, SECRETS)
    assert not leaks, [(leak.label, leak.form) for leak in leaks]


# ============================================================================
# Credential values
# ============================================================================


def test_aws_creds_and_timed_creds() -> None:
    creds = session_creds(KEY_ID, SECRET, TOKEN)
    assert creds.secret_access_key == SECRET  # still there, only not shown
    timed = TimedCreds(creds, 1_800_000_000.0)
    assert_no_secret(creds, timed, [creds], {"creds": creds}, (creds, timed))
    assert KEY_ID in repr(creds)  # an identifier, not a secret: shown


def test_provider_context_and_shared_files(environ: dict[str, str]) -> None:
    context = ProviderContext(environ, FakeClock(), FakeFetcher(answers((200, b""))), LOG)
    assert_no_secret(context)
    files = SharedFiles.read(environ)
    assert files.credentials["default"]["aws_secret_access_key"] == FILE_SECRET
    assert_no_secret(files)
    assert_no_secret(creds_from_environ(environ))


def test_container_endpoint_and_web_identity_config(environ: dict[str, str]) -> None:
    endpoint = container_endpoint(environ)
    assert endpoint is not None and endpoint.authorization() == CONTAINER_TOKEN
    direct = ContainerEndpoint("http://127.0.0.1/x", token=CONTAINER_TOKEN)
    assert_no_secret(endpoint, direct, web_identity_config(environ))


async def test_providers_and_the_chain(
    environ: dict[str, str], debug_log: pytest.LogCaptureFixture
) -> None:
    fetcher = FakeFetcher(answers((200, creds_json(1))))
    context = ProviderContext(environ, FakeClock(), fetcher, LOG)
    providers = default_providers(context, entry_points=False)
    chain = CredentialChain(providers, context)
    found = await chain.load()
    assert found.creds.secret_access_key == SECRET
    assert_no_secret(
        chain,
        *providers,
        EnvironmentProvider(environ),
        WebIdentityProvider(environ, fetcher, FakeClock()),
        ContainerProvider(environ, fetcher),
        found,
        chain.nothing_found(),
        *(p.description for p in providers),
    )


# ============================================================================
# Authentication classes
# ============================================================================


async def test_secret_access_key_authentication_with_its_traits_set() -> None:
    auth = JupyterS3SecretAccessKeyAuthentication(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN
    )
    creds = await auth.get_credentials()
    assert creds.pre_auth_headers == {"x-amz-security-token": TOKEN}
    assert_no_secret(auth, creds, auth.log)


async def test_refreshing_authentications(
    environ: dict[str, str], debug_log: pytest.LogCaptureFixture
) -> None:
    fetcher = FakeFetcher(answers((200, creds_json(1))))
    clock = FakeClock()
    default = JupyterS3DefaultAuthentication(
        environ=environ, clock=clock, fetcher=fetcher, entry_point_providers=False
    )
    ecs = JupyterS3ECSRoleAuthentication(environ=environ, clock=clock, fetcher=fetcher)
    for auth in (default, ecs):
        creds = await auth.get_credentials()
        await auth.invalidate(creds)
        await auth.get_credentials()
        assert_no_secret(auth, auth.cache, auth.provider_context(), auth.source_name())
    assert_no_secret(default.chain)
    # The container endpoint got the token (so it went through the code above).
    assert {s.headers.get("Authorization") for s in fetcher.sent} == {CONTAINER_TOKEN}


async def test_the_manager_and_its_client(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    cm = JupyterS3(aws_s3_bucket="b", check_on_start=False)
    try:
        assert (await cm.authentication.get_credentials()).secret_access_key == SECRET
        assert_no_secret(cm, cm.authentication, cm.store.client)
    finally:
        cm.store.client.close()

    async def credentials() -> AwsCreds:
        return session_creds(KEY_ID, SECRET, TOKEN)

    config = ClientConfig(bucket="b", endpoint_url="http://127.0.0.1:9")
    client = S3Client(config, credentials=credentials)
    try:
        assert_no_secret(client, client._transport, Request("GetObject", "GET", "k"))
    finally:
        client.close()


# ============================================================================
# Signing
# ============================================================================

NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc)


def sign(creds: AwsCreds, headers: dict[str, str] | None = None) -> dict[str, str]:
    return sign_request(
        method="GET",
        host="s3.amazonaws.com",
        path="/b/k",
        query=[],
        headers=headers or {},
        payload_hash=EMPTY_SHA256,
        credentials=creds,
        region="us-east-1",
        timestamp=NOW,
    )


def test_signed_headers_carry_the_token_and_never_the_secret() -> None:
    signed = sign(session_creds(KEY_ID, SECRET, TOKEN))
    assert signed["x-amz-security-token"] == TOKEN  # it must be sent
    del signed["x-amz-security-token"]
    assert_no_secret(signed)
    assert_no_secret(signing_key(SECRET, "20270115", "us-east-1", "s3").hex())


@pytest.mark.parametrize(
    ("creds", "headers"),
    [
        (session_creds(KEY_ID, SECRET, TOKEN + "\n"), {}),  # a token that cannot be sent
        (session_creds(KEY_ID, SECRET, TOKEN), {"x-amz-security-token": TOKEN}),  # twice
        (session_creds(KEY_ID, SECRET, TOKEN), {"x-custom": SECRET + "\r\n"}),
        (session_creds(f"{KEY_ID}/{SECRET}", SECRET, TOKEN), {}),  # a malformed key id
        (session_creds(KEY_ID, SECRET + "\ud800", TOKEN), {}),  # a secret that is not UTF-8
    ],
)
def test_signing_errors(creds: AwsCreds, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError) as info:
        sign(creds, headers)
    assert_no_secret(info.value, info.getrepr())


# ============================================================================
# Errors
# ============================================================================


def signature_error_body() -> bytes:
    """What S3 answers a bad signature: it echoes the canonical request (with the token)."""
    canonical = f"GET\n/b/k\n\nhost:s3.amazonaws.com\nx-amz-security-token:{TOKEN}\n"
    return (
        "<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match.</Message>"
        f"<AWSAccessKeyId>{KEY_ID}</AWSAccessKeyId>"
        f"<StringToSign>AWS4-HMAC-SHA256\n20270115T080000Z\n{TOKEN}</StringToSign>"
        f"<CanonicalRequest>{canonical}</CanonicalRequest>"
        "<RequestId>REQ1</RequestId></Error>"
    ).encode()


def test_s3_errors_quote_only_the_message() -> None:
    info = parse_error(signature_error_body())
    assert info is not None and info.code == "SignatureDoesNotMatch"
    error = error_from_response(
        status=403,
        code=info.code,
        message=info.message,
        request_id=info.request_id,
        bucket="b",
        key="k",
        operation="GetObject",
    )
    assert "does not match" in str(error)
    assert_no_secret(info, error)


@pytest.mark.parametrize("code", sorted(S3_ERROR_CODES))
def test_every_s3_error_class(code: str) -> None:
    error = error_from_response(status=400, code=code, message="m", bucket="b", key="k")
    assert isinstance(error, S3Error)
    assert_no_secret(error)


def test_credential_service_errors() -> None:
    # A container endpoint that answers garbage, or JSON without the secret.
    for body in (b"{" + SECRET.encode(), f'{{"Code": "x", "Token": "{TOKEN}"}}'.encode()):
        with pytest.raises(ServerError) as info:
            parse_container_credentials(body)
        assert_no_secret(info.value)
    assert_no_secret(status_error(401, "The container credentials endpoint"))
    # STS quoting the web identity token back: blanked out.
    body = sts_error_xml("InvalidIdentityToken", f"token {WEB_TOKEN} is not valid")
    with pytest.raises(S3Error) as sts:
        parse_sts_response(400, body, redact=(WEB_TOKEN,), operation="role at sts")
    assert "is not valid" in str(sts.value)
    assert_no_secret(sts.value)


async def test_a_failing_refresh_logs_no_secret(debug_log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    calls = 0

    async def fetch() -> TimedCreds:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ServerError(f"the endpoint failed (HTTP 500) {len(TOKEN)}")
        return TimedCreds(session_creds(KEY_ID, SECRET, TOKEN), clock() + 3600)

    cache = RefreshingCredentials(fetch, clock=clock, advisory=900, mandatory=600, log=LOG)
    first = await cache.get()
    clock.advance(3600 - 700)  # advisory window: a background refresh, which fails
    assert await cache.get() == first
    task = cache._task
    assert task is not None
    with pytest.raises(ServerError):
        await task
    clock.advance(200)  # mandatory window: callers wait, and get the error
    with pytest.raises(ServerError) as info:
        await cache.get()
    assert_no_secret(cache, info.value)
    assert any("failed" in r.getMessage() for r in debug_log.records)


async def test_the_web_identity_exchange_logs_no_token(
    environ: dict[str, str], debug_log: pytest.LogCaptureFixture
) -> None:
    def sts(sent: Sent) -> tuple[int, bytes]:
        assert sent.body is not None and WEB_TOKEN.encode() in sent.body.replace(
            b"%2B", b"+"
        ).replace(b"%2F", b"/")
        return 400, sts_error_xml("InvalidIdentityToken", f"bad token {WEB_TOKEN}")

    provider = WebIdentityProvider(environ, FakeFetcher(sts), FakeClock(), attempts=1)
    with pytest.raises(S3Error) as info:
        await provider.load()
    assert_no_secret(info.value, provider)
