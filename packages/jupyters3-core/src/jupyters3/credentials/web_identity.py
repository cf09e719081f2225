"""Web identity (EKS IRSA): an OIDC token file exchanged at STS for role credentials.

``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN`` (+ ``AWS_ROLE_SESSION_NAME``),
or the same keys of the profile (``web_identity_token_file``, ``role_arn``,
``role_session_name``); the environment wins key by key. The token file is
re-read at every refresh (the kubelet rotates it). ``AssumeRoleWithWebIdentity``
is unsigned: a form POST to the regional STS endpoint.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from jupyters3.credentials.http import Fetcher, require_tls, safe_url, with_attempts
from jupyters3.credentials.providers import SharedFiles, env_value, profile_name
from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import Clock, TimedCreds, session_creds
from jupyters3.errors import BadConfiguration, CredentialsRejected, S3Error, ServerError, Throttled
from jupyters3.s3.xml import DoctypeRefused, refuse_doctype

__all__ = [
    "WebIdentityConfig",
    "WebIdentityProvider",
    "parse_sts_response",
    "sts_endpoint",
    "sts_request_body",
    "web_identity_config",
]

_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_REJECTED = {
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "IDPRejectedClaim",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded"}
_TRANSIENT = {"IDPCommunicationError", "InternalFailure", "ServiceUnavailable", "InternalError"}


@dataclass(frozen=True)
class WebIdentityConfig:
    """The settings of one web identity: the token file, the role, the session name."""

    token_file: str
    role_arn: str
    session_name: str = ""


def web_identity_config(
    environ: Mapping[str, str], profile: Mapping[str, str] | None = None
) -> WebIdentityConfig | None:
    """The web identity ``environ`` (else ``profile``) configures; ``None`` without a token file.

    A token file without a role ARN is a :class:`BadConfiguration`.
    """
    profile = profile or {}
    token_file = (
        env_value(environ, "AWS_WEB_IDENTITY_TOKEN_FILE")
        or profile.get("web_identity_token_file", "").strip()
    )
    if not token_file:
        return None
    role_arn = env_value(environ, "AWS_ROLE_ARN") or profile.get("role_arn", "").strip()
    if not role_arn:
        raise BadConfiguration(
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: name the role to assume."
        )
    session = (
        env_value(environ, "AWS_ROLE_SESSION_NAME") or profile.get("role_session_name", "").strip()
    )
    if session and not _SESSION_NAME.fullmatch(session):
        raise BadConfiguration(
            "AWS_ROLE_SESSION_NAME must be 2 to 64 letters, digits or any of _+=,.@-."
        )
    return WebIdentityConfig(token_file, role_arn, session)


def sts_endpoint(environ: Mapping[str, str], override: str = "", region: str = "") -> str:
    """``override``, else ``AWS_ENDPOINT_URL_STS``, else the regional STS endpoint.
    A plain-http one must be on loopback (:func:`~jupyters3.credentials.http.require_tls`).

    The region is ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``region``
    (a profile's); without one the global ``https://sts.amazonaws.com``.
    """
    explicit = override or env_value(environ, "AWS_ENDPOINT_URL_STS")
    if explicit:
        setting = "sts_endpoint_url" if override else "AWS_ENDPOINT_URL_STS"
        return require_tls(explicit.rstrip("/") + "/", setting, environ)
    region = env_value(environ, "AWS_REGION", "AWS_DEFAULT_REGION") or region.strip()
    if not region:
        return "https://sts.amazonaws.com/"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}/"


def sts_request_body(
    config: WebIdentityConfig, token: str, session_name: str, duration_seconds: int = 0
) -> bytes:
    """The form body of ``AssumeRoleWithWebIdentity``."""
    params = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", config.role_arn),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", token),
    ]
    if duration_seconds:
        params.append(("DurationSeconds", str(duration_seconds)))
    return urlencode(params).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem: ET.Element, *path: str) -> ET.Element | None:
    for name in path:
        found = next((c for c in elem if _local(c.tag) == name), None)
        if found is None:
            return None
        elem = found
    return elem


def _text(elem: ET.Element | None, name: str) -> str:
    child = _find(elem, name) if elem is not None else None
    return (child.text or "").strip() if child is not None else ""


def parse_sts_response(
    status: int,
    body: bytes,
    *,
    redact: tuple[str, ...] = (),
    operation: str = "",
    action: str = "AssumeRoleWithWebIdentity",
) -> TimedCreds:
    """The credentials of an STS ``action`` answer (``AssumeRoleWithWebIdentity``,
    ``AssumeRole``), or its error raised.

    Errors: :class:`CredentialsRejected` (the token or role was refused),
    :class:`Throttled`/:class:`ServerError` (retried) and :class:`BadConfiguration`
    (anything else STS refuses). STS's message is quoted with the strings in
    ``redact`` (the token) blanked out; ``operation`` says where (role, endpoint).
    """
    try:
        refuse_doctype(body)  # no DTD, so no entity, is ever parsed
        root: ET.Element | None = ET.fromstring(body)  # noqa: S314 - no DOCTYPE: no entities
    except (ET.ParseError, DoctypeRefused):
        root = None
    if status == 200 and root is not None:
        creds = _find(root, f"{action}Result", "Credentials")
        fields = {n: _text(creds, n) for n in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
        missing = [n for n, v in fields.items() if not v]
        if missing:
            raise ServerError(f"The STS answer lacks {', '.join(missing)}.", operation=operation)
        try:
            expiration = parse_timestamp(_text(creds, "Expiration"))
        except ValueError:
            raise ServerError(
                "The STS answer has no valid Expiration.", operation=operation
            ) from None
        key_id, secret, token = (
            fields["AccessKeyId"],
            fields["SecretAccessKey"],
            fields["SessionToken"],
        )
        return TimedCreds(session_creds(key_id, secret, token), expiration)
    error = _find(root, "Error") if root is not None else None
    code = _text(error, "Code") or f"HTTP{status}"
    message = _text(error, "Message")
    for secret in redact:  # before the message is cut: a cut secret is still a secret
        if secret:
            message = message.replace(secret, "***")
    message = message[:300]
    text = f"STS {action} failed ({code}): {message or f'HTTP {status}'}"
    cls: type[S3Error]
    if status == 200:
        cls, text = ServerError, "STS answered 200 with a body that is not XML."
    elif code in _THROTTLED or status == 429:
        cls = Throttled
    elif code in _TRANSIENT or status >= 500:
        cls = ServerError
    elif code in _REJECTED or status in (401, 403):
        cls = CredentialsRejected
    else:
        cls = BadConfiguration
    raise cls(text, code=code, status=status, operation=operation)


class WebIdentityProvider:
    """``AssumeRoleWithWebIdentity`` at STS with the token file's current token."""

    name = "web-identity"
    description = "web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)"

    def __init__(
        self,
        environ: Mapping[str, str],
        fetcher: Fetcher,
        clock: Clock,
        *,
        profile: str = "",
        endpoint_url: str = "",
        timeout: float = 5.0,
        attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self.environ = environ
        self.fetcher = fetcher
        self.clock = clock
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay

    def _config(self) -> WebIdentityConfig | None:
        env_only = web_identity_config(self.environ)
        if env_only is not None:
            return env_only
        files = SharedFiles.read(self.environ)
        return web_identity_config(
            self.environ, files.config.get(self.profile or profile_name(self.environ), {})
        )

    async def load(self) -> TimedCreds | None:
        """Fresh role credentials; ``None`` when no token file is configured."""
        config = self._config()
        if config is None:
            return None
        url = sts_endpoint(self.environ, self.endpoint_url)
        session = config.session_name or f"jupyters3-{int(self.clock())}"

        async def attempt() -> TimedCreds:
            token = _read_token(config.token_file)
            body = sts_request_body(config, token, session)
            headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
            response = await self.fetcher("POST", url, headers, body, self.timeout)
            return parse_sts_response(
                response.status,
                response.body,
                redact=(token,),
                operation=f"{config.role_arn} at {safe_url(url)}",
            )

        return await with_attempts(attempt, attempts=self.attempts, delay=self.retry_delay)


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadConfiguration(
            f"Cannot read AWS_WEB_IDENTITY_TOKEN_FILE {path}: {type(exc).__name__}."
        ) from None
    if not token:
        raise BadConfiguration(f"AWS_WEB_IDENTITY_TOKEN_FILE {path} is empty.")
    return token
