"""IAM Identity Center (SSO): role credentials for the token ``aws sso login`` cached.

The token is in ``~/.aws/sso/cache/<sha1>.json``: the SHA-1 (hex) of the
``sso_session`` name, or of the ``sso_start_url`` for a legacy profile (one
without ``sso_session``). It is read at every refresh, so a new
``aws sso login`` is picked up without a restart. ``GetRoleCredentials`` is
``GET <portal>/federation/credentials?account_id=..&role_name=..`` with the
token in ``x-amz-sso_bearer_token``; the portal is
``https://portal.sso.<sso_region>.amazonaws.com`` or ``AWS_ENDPOINT_URL_SSO``.

With ``sso_session`` (not for a legacy profile, as in botocore), a token that
expires within 15 minutes is refreshed first: ``CreateToken`` with the
cache's ``refreshToken`` at ``https://oidc.<sso_region>.amazonaws.com/token``
(or ``AWS_ENDPOINT_URL_SSO_OIDC``), and the new token is written back to the
cache file as the AWS CLI does. If that fails, the cached token is used while
it lasts; after that, the error says to run ``aws sso login``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jupyters3.credentials.http import (
    Fetcher,
    require_tls,
    safe_url,
    status_error,
    with_attempts,
)
from jupyters3.credentials.providers import env_value
from jupyters3.credentials.timestamps import format_timestamp, parse_timestamp
from jupyters3.credentials.types import Clock, TimedCreds, session_creds
from jupyters3.errors import BadConfiguration, CredentialsRejected, S3Error, ServerError

__all__ = [
    "TOKEN_REFRESH_SECONDS",
    "SsoRole",
    "current_token",
    "get_role_credentials",
    "parse_role_credentials",
    "read_sso_token",
    "sso_cache_path",
    "sso_oidc_url",
    "sso_portal_url",
]

#: A cached token expiring within this many seconds is refreshed (botocore's window).
TOKEN_REFRESH_SECONDS = 15 * 60.0

_log = logging.getLogger("jupyters3.credentials")


@dataclass(frozen=True)
class SsoRole:
    """One profile's IAM Identity Center role: where to log in, and which role of which account."""

    profile: str
    start_url: str
    region: str
    account_id: str
    role_name: str
    session_name: str = ""  # "" for a legacy profile (sso_start_url in the profile itself)

    @property
    def login_hint(self) -> str:
        """The command that gets a fresh token."""
        return f'run "aws sso login --profile {self.profile}"'


def sso_cache_path(environ: Mapping[str, str], role: SsoRole) -> str:
    """Where ``aws sso login`` cached the token of ``role``'s session (or start URL)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    name = role.session_name or role.start_url
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()  # noqa: S324 - a file name
    return os.path.join(home, ".aws", "sso", "cache", f"{digest}.json")


def _expiry(value: str) -> float:
    text = value.strip()
    if text.endswith("UTC"):  # older AWS CLI versions wrote 2024-01-01T00:00:00UTC
        text = text[:-3] + "Z"
    return parse_timestamp(text)


@dataclass(frozen=True)
class SsoToken:
    """The cached access token, when it expires, and the whole cache document."""

    access_token: str = field(repr=False)
    expires_at: float
    path: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _where(role: SsoRole) -> str:
    what = (
        f"sso-session {role.session_name!r}" if role.session_name else f"start URL {role.start_url}"
    )
    return f"AWS profile {role.profile!r} uses IAM Identity Center ({what})"


def _expired(role: SsoRole) -> BadConfiguration:
    return BadConfiguration(f"{_where(role)} and its login has expired: {role.login_hint}.")


def read_sso_token(
    environ: Mapping[str, str], role: SsoRole, clock: Clock, *, allow_expired: bool = False
) -> SsoToken:
    """The cached token; a sentence saying to log in when it is missing, broken or expired."""
    path = sso_cache_path(environ, role)
    where = _where(role)
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except FileNotFoundError:
        raise BadConfiguration(
            f"{where} but has no cached login ({path}): {role.login_hint}."
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BadConfiguration(
            f"{where} but its cached login {path} cannot be read ({type(exc).__name__}): "
            f"{role.login_hint}."
        ) from None
    token = data.get("accessToken") if isinstance(data, dict) else None
    expires = data.get("expiresAt") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token or not isinstance(expires, str):
        raise BadConfiguration(
            f"{where} but its cached login {path} lacks accessToken or expiresAt: "
            f"{role.login_hint}."
        )
    try:
        expires_at = _expiry(expires)
    except ValueError:
        raise BadConfiguration(
            f"{where} but its cached login {path} has no valid expiresAt: {role.login_hint}."
        ) from None
    if expires_at <= clock() and not allow_expired:
        raise _expired(role)
    return SsoToken(token, expires_at, path, data)


def sso_oidc_url(environ: Mapping[str, str], region: str) -> str:
    """``AWS_ENDPOINT_URL_SSO_OIDC`` (plain http on loopback only), else
    ``https://oidc.<region>.amazonaws.com``."""
    explicit = env_value(environ, "AWS_ENDPOINT_URL_SSO_OIDC")
    if explicit:
        return require_tls(explicit.rstrip("/"), "AWS_ENDPOINT_URL_SSO_OIDC", environ)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://oidc.{region}.{suffix}"


def _write_cache(path: str, document: Mapping[str, Any]) -> None:
    """Replace the cache file at once (readers never see half of it), readable by its owner only."""
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".jupyters3-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


async def _refresh_token(
    environ: Mapping[str, str],
    fetcher: Fetcher,
    clock: Clock,
    role: SsoRole,
    cached: SsoToken,
    timeout: float,
) -> str | None:
    """``CreateToken`` with the cached refresh token; the new token, or ``None`` (why: logged)."""
    doc = cached.document
    needed = ("refreshToken", "clientId", "clientSecret", "registrationExpiresAt")
    if not all(isinstance(doc.get(k), str) and doc.get(k) for k in needed):
        return None
    try:
        if parse_timestamp(str(doc["registrationExpiresAt"]).replace("UTC", "Z")) <= clock():
            return None
    except ValueError:
        return None
    url = sso_oidc_url(environ, role.region) + "/token"
    body = json.dumps(
        {
            "grantType": "refresh_token",
            "clientId": doc["clientId"],
            "clientSecret": doc["clientSecret"],
            "refreshToken": doc["refreshToken"],
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    why = ""
    try:
        response = await fetcher("POST", url, headers, body, timeout)
    except S3Error as exc:
        response, why = None, exc.code
    answer: Any = None
    if response is not None and response.status == 200:
        try:
            answer = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            why = "invalid JSON"
    elif response is not None:
        why = f"HTTP {response.status}"
    token = answer.get("accessToken") if isinstance(answer, dict) else None
    lifetime = answer.get("expiresIn") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token or not isinstance(lifetime, int):
        _log.warning(
            "JupyterS3: refreshing the IAM Identity Center login of AWS profile %r at %s "
            "failed (%s).",
            role.profile,
            safe_url(url),
            why or "no accessToken or expiresIn in the answer",
        )
        return None
    updated = dict(doc)
    updated["accessToken"] = token
    updated["expiresAt"] = format_timestamp(clock() + lifetime)
    if isinstance(answer.get("refreshToken"), str) and answer["refreshToken"]:
        updated["refreshToken"] = answer["refreshToken"]
    try:
        _write_cache(cached.path, updated)
    except OSError as exc:
        _log.warning(
            "JupyterS3: the refreshed IAM Identity Center login of AWS profile %r could not be "
            "saved to %s (%s); it is used until the server stops.",
            role.profile,
            cached.path,
            type(exc).__name__,
        )
    _log.info("JupyterS3: refreshed the IAM Identity Center login of AWS profile %r.", role.profile)
    return token


async def current_token(
    environ: Mapping[str, str],
    fetcher: Fetcher,
    clock: Clock,
    role: SsoRole,
    *,
    timeout: float = 5.0,
) -> str:
    """The access token to send: the cached one, refreshed first when it expires soon."""
    cached = read_sso_token(environ, role, clock, allow_expired=True)
    remaining = cached.expires_at - clock()
    if remaining < TOKEN_REFRESH_SECONDS and role.session_name:
        refreshed = await _refresh_token(environ, fetcher, clock, role, cached, timeout)
        if refreshed is not None:
            return refreshed
    if remaining <= 0:
        raise _expired(role)
    return cached.access_token


def sso_portal_url(environ: Mapping[str, str], region: str) -> str:
    """``AWS_ENDPOINT_URL_SSO`` (plain http on loopback only), else
    ``https://portal.sso.<region>.amazonaws.com``."""
    explicit = env_value(environ, "AWS_ENDPOINT_URL_SSO")
    if explicit:
        return require_tls(explicit.rstrip("/"), "AWS_ENDPOINT_URL_SSO", environ)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://portal.sso.{region}.{suffix}"


def parse_role_credentials(body: bytes) -> TimedCreds:
    """The credentials of a ``GetRoleCredentials`` answer (``expiration`` in ms since the epoch)."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ServerError("The IAM Identity Center portal answered with invalid JSON.") from None
    role = data.get("roleCredentials") if isinstance(data, dict) else None
    if not isinstance(role, dict):
        raise ServerError("The IAM Identity Center answer lacks roleCredentials.")
    fields = {n: role.get(n) for n in ("accessKeyId", "secretAccessKey", "sessionToken")}
    missing = [n for n, v in fields.items() if not isinstance(v, str) or not v]
    if missing:
        raise ServerError(f"The IAM Identity Center answer lacks {', '.join(missing)}.")
    expiration = role.get("expiration")
    if not isinstance(expiration, (int, float)) or isinstance(expiration, bool):
        raise ServerError("The IAM Identity Center answer has no valid expiration.")
    key_id, secret, token = (str(fields[n]) for n in fields)
    return TimedCreds(session_creds(key_id, secret, token), expiration / 1000.0)


async def get_role_credentials(
    environ: Mapping[str, str],
    fetcher: Fetcher,
    clock: Clock,
    role: SsoRole,
    *,
    timeout: float = 5.0,
    attempts: int = 3,
    retry_delay: float = 0.2,
) -> TimedCreds:
    """The role's credentials for the cached token (read now, at every call)."""
    base = sso_portal_url(environ, role.region)
    query = urlencode([("account_id", role.account_id), ("role_name", role.role_name)])
    url = f"{base}/federation/credentials?{query}"
    where = f"The IAM Identity Center portal {safe_url(base)}"

    async def attempt() -> TimedCreds:
        token = await current_token(environ, fetcher, clock, role, timeout=timeout)
        headers = {"x-amz-sso_bearer_token": token, "Accept": "application/json"}
        response = await fetcher("GET", url, headers, None, timeout)
        if response.status in (401, 403):
            raise CredentialsRejected(
                f"{where} refused the login of AWS profile {role.profile!r} "
                f"(HTTP {response.status}): {role.login_hint}.",
                code=f"HTTP{response.status}",
                status=response.status,
            )
        if response.status != 200:
            detail = f" for role {role.role_name} in account {role.account_id}"
            raise status_error(response.status, where, detail)
        return parse_role_credentials(response.body)

    return await with_attempts(attempt, attempts=attempts, delay=retry_delay)
