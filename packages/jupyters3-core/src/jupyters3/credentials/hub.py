"""Credentials from the JupyterHub credentials service (jupyters3-hub).

Under JupyterHub with per-user scoping, each single-user server asks the hub's
credentials service for its user's credentials: ``GET`` on
``JUPYTERS3_HUB_CREDENTIALS_URL`` with ``Authorization: token
<JUPYTERHUB_API_TOKEN>`` (the server's own hub token, which the service checks
with the hub). The answer is the container-credentials JSON
(:func:`container_credentials_json`, read by
:func:`~jupyters3.credentials.container.parse_container_credentials`), scoped
by a session policy to the user's prefix and the shared mounts.

The URL is trusted because the administrator names it
(``c.JupyterS3HubAuthentication.url`` or the variable, which the hub sets):
plain http to any host is allowed here, as it is for JupyterHub's own
internal API. The container provider's rule (plain http only to loopback and
the AWS agents) is unchanged: this source is used only through
:class:`jupyters3.hub.JupyterS3HubAuthentication`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jupyters3.credentials.container import parse_container_credentials
from jupyters3.credentials.http import Fetcher, safe_url, status_error, with_attempts
from jupyters3.credentials.providers import env_value
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.credentials.types import TimedCreds
from jupyters3.errors import BadConfiguration

__all__ = [
    "HUB_TOKEN_ENV",
    "HUB_URL_ENV",
    "HubCredentialsProvider",
    "container_credentials_json",
]

#: Where the credentials service answers (the hub's spawner sets it).
HUB_URL_ENV = "JUPYTERS3_HUB_CREDENTIALS_URL"
#: The server's own hub API token (JupyterHub sets it for every single-user server).
HUB_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - a variable's name


def container_credentials_json(creds: TimedCreds, *, now: float, role_arn: str = "") -> bytes:
    """``creds`` as an ECS/EKS container credentials endpoint answers them.

    ``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration`` (ISO 8601,
    UTC), ``Code: Success``, ``Type: AWS-HMAC``, ``LastUpdated``, and
    ``RoleArn`` when given: what botocore, the other AWS SDKs and jupyters3's
    own container provider read.
    """
    body: dict[str, Any] = {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "LastUpdated": format_timestamp(now),
        "AccessKeyId": creds.creds.access_key_id,
        "SecretAccessKey": creds.creds.secret_access_key,
        "Token": creds.creds.pre_auth_headers.get("x-amz-security-token", ""),
    }
    if creds.expiration is not None:
        body["Expiration"] = format_timestamp(creds.expiration)
    if role_arn:
        body["RoleArn"] = role_arn
    return json.dumps(body).encode()


class HubCredentialsProvider:
    """Fetches the user's scoped credentials from the hub's credentials service."""

    name = "jupyterhub"
    description = f"the JupyterHub credentials service ({HUB_URL_ENV} and {HUB_TOKEN_ENV})"

    def __init__(
        self,
        url: str,
        token: str,
        fetcher: Fetcher,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self.url = url
        self._token = token
        self.fetcher = fetcher
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], fetcher: Fetcher, *, url: str = "", **options: Any
    ) -> HubCredentialsProvider:
        """The provider ``url`` (else ``JUPYTERS3_HUB_CREDENTIALS_URL``) and
        ``JUPYTERHUB_API_TOKEN`` describe; :class:`BadConfiguration` when one is missing."""
        url = url or env_value(environ, HUB_URL_ENV)
        token = env_value(environ, HUB_TOKEN_ENV)
        if not url:
            raise BadConfiguration(
                "JupyterS3HubAuthentication needs the credentials service's URL: set "
                f"{HUB_URL_ENV} (jupyters3_hub.configure() in jupyterhub_config.py does) or "
                "c.JupyterS3HubAuthentication.url."
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadConfiguration(
                f"The credentials service URL {safe_url(url)} is not an http(s) URL."
            )
        if not token:
            raise BadConfiguration(
                f"{HUB_TOKEN_ENV} is not set: JupyterS3HubAuthentication runs in a single-user "
                "server that JupyterHub started, which sets it."
            )
        return cls(url, token, fetcher, **options)

    async def load(self) -> TimedCreds:
        """Fresh scoped credentials (the service may answer cached ones that last long enough)."""
        where = f"The JupyterHub credentials service at {safe_url(self.url)}"

        async def attempt() -> TimedCreds:
            headers = {"Accept": "application/json", "Authorization": f"token {self._token}"}
            response = await self.fetcher("GET", self.url, headers, None, self.timeout)
            if response.status != 200:
                raise status_error(response.status, where, _reason(response.body))
            return parse_container_credentials(response.body)

        return await with_attempts(attempt, attempts=self.attempts, delay=self.retry_delay)


def _reason(body: bytes) -> str:
    """The service's own sentence (its JSON ``message``: never a secret), if any."""
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    return f": {str(message)[:300]}" if message else ""
