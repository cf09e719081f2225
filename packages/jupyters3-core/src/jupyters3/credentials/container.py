"""Container credentials: ECS task roles and EKS Pod Identity.

``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` is a path on ``http://169.254.170.2``
(ECS); ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` is a whole URL (EKS Pod Identity
uses ``http://169.254.170.23/v1/credentials``), sent with an ``Authorization``
header from ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (re-read at every
fetch, it rotates) or ``AWS_CONTAINER_AUTHORIZATION_TOKEN``. The relative URI
wins when both are set, as in the AWS SDKs.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jupyters3.credentials.http import Fetcher, safe_url, status_error, with_attempts
from jupyters3.credentials.providers import env_value
from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import TimedCreds, session_creds
from jupyters3.errors import BadConfiguration, ServerError

__all__ = [
    "ALLOWED_HTTP_HOSTS",
    "ECS_CONTAINER_HOST",
    "ContainerEndpoint",
    "ContainerProvider",
    "container_endpoint",
    "is_allowed_full_uri",
    "parse_container_credentials",
]

#: Where ECS serves ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``.
ECS_CONTAINER_HOST = "http://169.254.170.2"

#: The hosts (besides any loopback address) a plain-http full URI may name.
ALLOWED_HTTP_HOSTS = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"})

_RELATIVE = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
_FULL = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 - a variable's name
_TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105 - a variable's name


def is_allowed_full_uri(url: str) -> bool:
    """Whether a full URI may be used: any ``https`` URL; ``http`` only to a local agent.

    Plain http must name a loopback address (127.0.0.0/8, ::1), ``localhost``,
    or an AWS container agent: 169.254.170.2, 169.254.170.23, fd00:ec2::23.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    if parts.scheme != "http" or not host:
        return False
    if host in ALLOWED_HTTP_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ContainerEndpoint:
    """Where to fetch container credentials, and where the Authorization token comes from."""

    url: str = field(repr=False)  # ECS's relative URI is a per-task capability
    token: str = field(default="", repr=False)
    token_file: str = ""

    def authorization(self) -> str:
        """The Authorization header value ('' for none); the file is read now, every time."""
        if self.token_file:
            try:
                with open(self.token_file, encoding="utf-8") as fh:
                    token = fh.read().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise BadConfiguration(
                    f"Cannot read {_TOKEN_FILE} {self.token_file}: {type(exc).__name__}."
                ) from None
            source = _TOKEN_FILE
        else:
            token, source = self.token, _TOKEN
        if "\r" in token or "\n" in token:
            raise BadConfiguration(
                f"The container authorization token ({source}) has a line break."
            )
        return token


def container_endpoint(
    environ: Mapping[str, str], relative_base: str = ECS_CONTAINER_HOST
) -> ContainerEndpoint | None:
    """The endpoint ``environ`` configures, ``None`` when neither URI variable is set.

    A full URI that :func:`is_allowed_full_uri` refuses is a :class:`BadConfiguration`.
    """
    token_file = env_value(environ, _TOKEN_FILE)
    token = "" if token_file else env_value(environ, _TOKEN)
    relative = env_value(environ, _RELATIVE)
    if relative:
        if not relative.startswith("/"):
            relative = "/" + relative
        return ContainerEndpoint(relative_base.rstrip("/") + relative, token, token_file)
    full = env_value(environ, _FULL)
    if not full:
        return None
    if not is_allowed_full_uri(full):
        raise BadConfiguration(
            f"{_FULL} {safe_url(full)} is not allowed: over plain http it must name a loopback "
            f"address or one of {', '.join(sorted(ALLOWED_HTTP_HOSTS))}; any https URL is allowed."
        )
    return ContainerEndpoint(full, token, token_file)


def parse_container_credentials(body: bytes) -> TimedCreds:
    """The credentials of a container endpoint's JSON answer.

    ``AccessKeyId`` and ``SecretAccessKey`` are required; ``Token`` and
    ``Expiration`` are optional. A body that is not such JSON is a
    :class:`ServerError` (retried), whose message names fields, never values.
    """
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ServerError(
            "The container credentials endpoint answered with invalid JSON."
        ) from None
    if not isinstance(data, dict):
        raise ServerError("The container credentials endpoint answered with a non-object JSON.")
    missing = [f for f in ("AccessKeyId", "SecretAccessKey") if not _str(data, f)]
    if missing:
        raise ServerError(
            f"The container credentials answer lacks {' and '.join(missing)}"
            + (f" (Code {_str(data, 'Code')!r})." if _str(data, "Code") else ".")
        )
    expiration: float | None = None
    if _str(data, "Expiration"):
        try:
            expiration = parse_timestamp(_str(data, "Expiration"))
        except ValueError:
            raise ServerError(
                "The container credentials answer has an invalid Expiration."
            ) from None
    creds = session_creds(
        _str(data, "AccessKeyId"), _str(data, "SecretAccessKey"), _str(data, "Token")
    )
    return TimedCreds(creds, expiration)


def _str(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    return value.strip() if isinstance(value, str) else ""


class ContainerProvider:
    """Fetches container credentials with a GET (2 s timeout, 3 attempts by default)."""

    name = "container"
    description = f"container credentials ({_RELATIVE} or {_FULL})"

    def __init__(
        self,
        environ: Mapping[str, str],
        fetcher: Fetcher,
        *,
        relative_base: str = ECS_CONTAINER_HOST,
        timeout: float = 2.0,
        attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self.environ = environ
        self.fetcher = fetcher
        self.relative_base = relative_base
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay

    async def load(self) -> TimedCreds | None:
        """Fresh credentials from the endpoint; ``None`` when no endpoint is configured."""
        endpoint = container_endpoint(self.environ, self.relative_base)
        if endpoint is None:
            return None

        async def attempt() -> TimedCreds:
            authorization = endpoint.authorization()
            headers = {"Accept": "application/json"}
            if authorization:
                headers["Authorization"] = authorization
            # The path is left out: ECS's relative URI is a per-task capability.
            where = f"The container credentials endpoint {safe_url(endpoint.url, with_path=False)}"
            response = await self.fetcher("GET", endpoint.url, headers, None, self.timeout)
            if response.status != 200:
                raise status_error(response.status, where)
            return parse_container_credentials(response.body)

        return await with_attempts(attempt, attempts=self.attempts, delay=self.retry_delay)
