"""The EC2 instance metadata service (IMDS): the instance role's credentials.

IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
gives a session token (reused until it expires), sent as
``X-aws-ec2-metadata-token`` with ``GET /latest/meta-data/iam/security-credentials/``
(the role name) and ``.../security-credentials/<role>`` (the credentials JSON).
When the token PUT answers 403, 404 or 405, or connects but times out (a
container behind a hop limit of 1), the same GETs are sent without a token
(IMDSv1), unless ``AWS_EC2_METADATA_V1_DISABLED=true``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from jupyters3.credentials.http import (
    Fetcher,
    FetchTimeout,
    HttpResponse,
    safe_url,
    status_error,
    with_attempts,
)
from jupyters3.credentials.providers import env_value
from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import Clock, TimedCreds, session_creds
from jupyters3.errors import BadConfiguration, S3Error, ServerError

__all__ = [
    "DEFAULT_ENDPOINT",
    "ImdsProvider",
    "imds_disabled",
    "imds_endpoint",
    "parse_imds_credentials",
    "parse_role_name",
]

DEFAULT_ENDPOINT = "http://169.254.169.254"
IPV6_ENDPOINT = "http://[fd00:ec2::254]"
TOKEN_PATH = "/latest/api/token"  # noqa: S105 - a URL path
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105 - a header name

_log = logging.getLogger("jupyters3.credentials")


def _true(environ: Mapping[str, str], name: str) -> bool:
    return env_value(environ, name).lower() == "true"


def imds_disabled(environ: Mapping[str, str]) -> bool:
    """``AWS_EC2_METADATA_DISABLED=true`` turns the IMDS off."""
    return _true(environ, "AWS_EC2_METADATA_DISABLED")


def imds_endpoint(environ: Mapping[str, str], override: str = "") -> str:
    """``override``, else ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, else the IPv4 (or IPv6) address."""
    explicit = override or env_value(environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if explicit:
        return explicit.rstrip("/")
    mode = env_value(environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").lower()
    return IPV6_ENDPOINT if mode == "ipv6" else DEFAULT_ENDPOINT


def parse_role_name(body: bytes) -> str:
    """The first role name of a ``security-credentials/`` listing ('' for none)."""
    for line in body.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def parse_imds_credentials(body: bytes) -> TimedCreds:
    """The credentials of an IMDS role document; :class:`ServerError` (retried) if it is not one."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ServerError("The instance metadata service answered with invalid JSON.") from None
    if not isinstance(data, dict):
        raise ServerError("The instance metadata service answered with a non-object JSON.")
    code = data.get("Code", "Success")
    fields = {
        name: data.get(name) if isinstance(data.get(name), str) else ""
        for name in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")
    }
    if code != "Success" or not all(fields.values()):
        missing = [name for name, value in fields.items() if not value]
        raise ServerError(
            f"The instance metadata service has no credentials (Code {code!r}"
            + (f", missing {', '.join(missing)})." if missing else ").")
        )
    try:
        expiration = parse_timestamp(str(fields["Expiration"]))
    except ValueError:
        raise ServerError("The instance role's credentials have an invalid Expiration.") from None
    creds = session_creds(
        str(fields["AccessKeyId"]), str(fields["SecretAccessKey"]), str(fields["Token"])
    )
    return TimedCreds(creds, expiration)


class ImdsProvider:
    """The EC2 instance role's credentials from the IMDS (1 s timeout, 2 attempts by default).

    ``strict=False`` (in the default chain): until it has delivered once,
    every failure means "not on EC2" and :meth:`load` returns ``None`` with
    the reason in :attr:`skip_reason`. ``strict=True`` raises instead.
    """

    name = "ec2-instance-role"

    def __init__(
        self,
        environ: Mapping[str, str],
        fetcher: Fetcher,
        clock: Clock,
        *,
        endpoint: str = "",
        role_name: str = "",
        timeout: float = 1.0,
        attempts: int = 2,
        token_ttl: int = 21600,
        retry_delay: float = 0.1,
        strict: bool = False,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.environ = environ
        self.fetcher = fetcher
        self.clock = clock
        self.endpoint = imds_endpoint(environ, endpoint)
        self.role_name = role_name
        self.timeout = timeout
        self.attempts = attempts
        self.token_ttl = token_ttl
        self.retry_delay = retry_delay
        self.strict = strict
        self.log = log or _log
        self.skip_reason = ""
        self.delivered = False
        self._token = ""
        self._token_expires = 0.0

    @property
    def description(self) -> str:
        """What this provider looks for."""
        return f"EC2 instance role (instance metadata service at {safe_url(self.endpoint)})"

    async def load(self) -> TimedCreds | None:
        """The role's current credentials (see the class for ``None``)."""
        if imds_disabled(self.environ):
            if self.strict:
                raise BadConfiguration(
                    "AWS_EC2_METADATA_DISABLED=true turns off the EC2 instance metadata service "
                    "that JupyterS3EC2RoleAuthentication gets credentials from."
                )
            self.skip_reason = "disabled by AWS_EC2_METADATA_DISABLED"
            return None
        try:
            found = await with_attempts(self._fetch, attempts=self.attempts, delay=self.retry_delay)
        except S3Error as exc:
            if self.strict or self.delivered:
                raise
            self.skip_reason = exc.message
            self.log.debug("JupyterS3: no EC2 instance role: %s", exc.message)
            return None
        self.delivered = True
        return found

    # -- one attempt ---------------------------------------------------------

    async def _get(self, path: str, token: str) -> HttpResponse:
        headers = {TOKEN_HEADER: token} if token else {}
        return await self.fetcher("GET", self.endpoint + path, headers, None, self.timeout)

    async def _fetch(self) -> TimedCreds:
        token = await self._session_token()
        role = self.role_name
        if not role:
            response = self._checked(await self._get(ROLE_PATH, token), "")
            role = parse_role_name(response.body)
            if not role:
                raise BadConfiguration("The instance metadata service lists no IAM role.")
        response = await self._get(ROLE_PATH + quote(role, safe=""), token)
        response = self._checked(response, role)
        return parse_imds_credentials(response.body)

    def _checked(self, response: HttpResponse, role: str) -> HttpResponse:
        """``response`` if it is a 200 with a body, else the error it means."""
        if response.status == 200 and response.body.strip():
            return response
        what = f"role {role!r}" if role else "the role listing"
        where = f"The instance metadata service at {safe_url(self.endpoint)} ({what})"
        if response.status == 401 and self._token:
            self._token = ""  # expired or revoked: a new one on the retry
            raise ServerError(f"{where} refused the session token (HTTP 401).")
        if response.status == 404:
            raise BadConfiguration(
                f"{where} answered HTTP 404: "
                + (
                    "no IAM role of that name is attached to this instance "
                    "(check c.JupyterS3EC2RoleAuthentication.role_name)."
                    if role
                    else "no IAM role is attached to this instance."
                )
            )
        if response.status == 200:
            raise ServerError(f"{where} answered with an empty body.")
        raise status_error(response.status, where)

    async def _session_token(self) -> str:
        """The IMDSv2 token (cached until it expires), or '' for IMDSv1."""
        now = self.clock()
        if self._token and now < self._token_expires:
            return self._token
        self._token = ""
        url = self.endpoint + TOKEN_PATH
        headers = {TTL_HEADER: str(self.token_ttl)}
        try:
            response = await self.fetcher("PUT", url, headers, None, self.timeout)
        except FetchTimeout as exc:
            if not exc.connected:
                raise
            return self._v1("the token request timed out")
        if response.status == 200 and response.body.strip():
            self._token = response.body.decode("ascii", "replace").strip()
            # Renew a minute early (or halfway for short TTLs): never send a stale token.
            self._token_expires = now + max(self.token_ttl - 60, self.token_ttl / 2)
            return self._token
        if response.status in (403, 404, 405):
            return self._v1(f"the token request answered HTTP {response.status}")
        if response.status == 400:
            raise BadConfiguration(
                f"The instance metadata service at {safe_url(self.endpoint)} refused the token "
                f"request (HTTP 400): check the token TTL ({self.token_ttl} s, 1 to 21600)."
            )
        raise status_error(response.status, f"The IMDSv2 token request to {safe_url(url)}")

    def _v1(self, why: str) -> str:
        if _true(self.environ, "AWS_EC2_METADATA_V1_DISABLED"):
            raise BadConfiguration(
                f"IMDSv2 is unavailable ({why}) and AWS_EC2_METADATA_V1_DISABLED=true "
                "forbids IMDSv1."
            )
        self.log.debug("JupyterS3: IMDSv2 unavailable (%s); using IMDSv1.", why)
        return ""
