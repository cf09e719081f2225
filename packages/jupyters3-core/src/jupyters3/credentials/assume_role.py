"""STS ``AssumeRole``: role credentials, asked for with (and signed by) source credentials.

The Query API: a form POST to the regional STS endpoint (or
``AWS_ENDPOINT_URL_STS``) signed with SigV4 for service ``sts``; the answer is
the XML :func:`~jupyters3.credentials.web_identity.parse_sts_response` reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote, urlencode, urlsplit

from jupyters3.credentials.http import Fetcher, safe_url, with_attempts
from jupyters3.credentials.types import AwsCreds, Clock, TimedCreds
from jupyters3.credentials.web_identity import parse_sts_response
from jupyters3.errors import BadConfiguration
from jupyters3.s3.signing import encode_path, sign_request

__all__ = ["RoleRequest", "assume_role", "assume_role_body", "signing_region"]

_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


@dataclass(frozen=True)
class RoleRequest:
    """What ``AssumeRole`` is asked for."""

    role_arn: str
    session_name: str
    external_id: str = ""
    duration_seconds: int = 0


def assume_role_body(request: RoleRequest) -> bytes:
    """The form body of ``AssumeRole``."""
    params = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", request.role_arn),
        ("RoleSessionName", request.session_name),
    ]
    if request.external_id:
        params.append(("ExternalId", request.external_id))
    if request.duration_seconds:
        params.append(("DurationSeconds", str(request.duration_seconds)))
    return urlencode(params).encode()


def signing_region(url: str, region: str) -> str:
    """The region to sign for: ``region``, else the one in ``sts.<region>.amazonaws.com``,
    else ``us-east-1`` (the global endpoint's)."""
    if region:
        return region
    host = urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0] == "sts" and parts[2] == "amazonaws":
        return parts[1]
    return "us-east-1"


async def assume_role(
    fetcher: Fetcher,
    url: str,
    source: AwsCreds,
    request: RoleRequest,
    *,
    region: str,
    clock: Clock,
    timeout: float = 5.0,
    attempts: int = 3,
    retry_delay: float = 0.2,
) -> TimedCreds:
    """The role's credentials from STS at ``url``, the request signed with ``source``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadConfiguration(f"The STS endpoint {safe_url(url)} is not an http(s) URL.")
    path = encode_path(unquote(parts.path or "/"))
    body = assume_role_body(request)
    payload_hash = hashlib.sha256(body).hexdigest()
    sign_region = signing_region(url, region)
    operation = f"{request.role_arn} at {safe_url(url)}"

    async def attempt() -> TimedCreds:
        headers = sign_request(
            method="POST",
            host=parts.netloc.rsplit("@", 1)[-1],
            path=path,
            query=[],
            headers={"Content-Type": _CONTENT_TYPE},
            payload_hash=payload_hash,
            credentials=source,
            region=sign_region,
            timestamp=datetime.fromtimestamp(clock(), tz=timezone.utc),
            service="sts",
        )
        response = await fetcher("POST", url, headers, body, timeout)
        return parse_sts_response(
            response.status,
            response.body,
            redact=(source.secret_access_key, *source.pre_auth_headers.values()),
            operation=operation,
            action="AssumeRole",
        )

    return await with_attempts(attempt, attempts=attempts, delay=retry_delay)
