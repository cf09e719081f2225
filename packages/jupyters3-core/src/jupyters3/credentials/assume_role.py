"""STS ``AssumeRole``: role credentials, asked for with (and signed by) source credentials.

The Query API: a form POST to the regional STS endpoint (or
``AWS_ENDPOINT_URL_STS``) signed with SigV4 for service ``sts``; the answer is
the XML :func:`~jupyters3.credentials.web_identity.parse_sts_response` reads.

A scoped session (the JupyterHub service's) also sends a session ``Policy``,
managed ``PolicyArns``, session ``Tags`` with ``TransitiveTagKeys`` and a
``SourceIdentity``; :func:`session_name` and :func:`tag_value` turn a user
name into what STS accepts, and :func:`assume_role` warns when the answer's
``PackedPolicySize`` passes 90 % of what STS allows.
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from jupyters3.credentials.http import Fetcher, safe_url, with_attempts
from jupyters3.credentials.types import AwsCreds, Clock, TimedCreds
from jupyters3.credentials.web_identity import parse_sts_response
from jupyters3.errors import BadConfiguration
from jupyters3.s3.signing import encode_path, sign_request
from jupyters3.s3.xml import DoctypeRefused, refuse_doctype

__all__ = [
    "PACKED_POLICY_WARNING",
    "RoleRequest",
    "assume_role",
    "assume_role_body",
    "is_tag_value",
    "packed_policy_size",
    "session_name",
    "signing_region",
    "tag_value",
]

_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"

#: ``PackedPolicySize`` (percent of STS's limit) from which :func:`assume_role` warns.
PACKED_POLICY_WARNING = 90

_NAME_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)
_NAME_OK = re.compile(r"[\w+=,.@-]{2,64}")  # as profiles.py checks a role_session_name
_TAG_VALUE_CHARS = re.compile(r"[^\w .:/=+\-@]", re.ASCII)
_TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}", re.ASCII)
_log = logging.getLogger("jupyters3.credentials")


@dataclass(frozen=True)
class RoleRequest:
    """What ``AssumeRole`` is asked for.

    ``policy`` is an inline session policy (JSON text, at most 2,048
    characters with ``policy_arns``); ``policy_arns`` are managed session
    policies (at most 10); ``tags`` are session tags ``(key, value)`` (at most
    50; the role's trust policy must allow ``sts:TagSession``), of which
    ``transitive_tag_keys`` survive role chaining; ``source_identity`` stays
    with the session and every role chained from it (``sts:SetSourceIdentity``).
    """

    role_arn: str
    session_name: str
    external_id: str = ""
    duration_seconds: int = 0
    policy: str = field(default="", repr=False)
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str = ""

    def __post_init__(self) -> None:
        problem = _request_problem(self)
        if problem:
            raise BadConfiguration(problem)


def _request_problem(request: RoleRequest) -> str:
    """The sentence that says why STS would refuse ``request`` ('' when it would not)."""
    if not _NAME_OK.fullmatch(request.session_name):
        return "RoleSessionName must be 2 to 64 letters, digits or any of _+=,.@-."
    if request.source_identity and not _NAME_OK.fullmatch(request.source_identity):
        return "SourceIdentity must be 2 to 64 letters, digits or any of _+=,.@-."
    if len(request.policy_arns) > 10:
        return f"STS takes at most 10 PolicyArns, not {len(request.policy_arns)}."
    if len(request.tags) > 50:
        return f"STS takes at most 50 session tags, not {len(request.tags)}."
    keys = [key for key, _ in request.tags]
    if len({k.lower() for k in keys}) != len(keys):
        return "Session tag keys must differ (case does not count)."
    for key, value in request.tags:
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            return (
                f"The session tag key {key!r} is not valid: 1 to 128 letters, digits, spaces "
                "or any of _.:/=+-@, not starting with aws:."
            )
        if len(value) > 256 or _TAG_VALUE_CHARS.search(value):
            return f"The value of session tag {key!r} is not valid: use tag_value() on it."
    unknown = [k for k in request.transitive_tag_keys if k not in keys]
    if unknown:
        return f"TransitiveTagKeys {unknown} are not among the session tags."
    return ""


def session_name(raw: str, prefix: str = "") -> str:
    """A ``RoleSessionName`` (or ``SourceIdentity``) for ``raw``: ``prefix + raw`` with every
    character STS refuses replaced by ``-``, cut to 64.

    When anything was replaced or cut, the last 9 characters are ``-`` and 8 hex
    digits of the SHA-256 of ``raw``, so two names that differ only in refused
    characters (``team/alice``, ``team.alice``...) still get different session
    names. It is a label for CloudTrail, never what grants access.
    """
    wanted = prefix + raw
    clean = _NAME_CHARS.sub("-", wanted)
    if clean == wanted and 2 <= len(clean) <= 64:
        return clean
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{clean[:55]}-{digest}".lstrip("-")[-64:].rjust(2, "x")


def tag_value(raw: str) -> str:
    """A session tag value for ``raw``: characters STS refuses become ``_``, at most 256.

    Not injective: use it for labels. A tag that grants access (the ABAC
    variant's) must carry a value STS takes as it is (:func:`is_tag_value`).
    """
    return _TAG_VALUE_CHARS.sub("_", raw)[:256]


def is_tag_value(raw: str) -> bool:
    """Whether STS takes ``raw`` as a session tag value unchanged."""
    return len(raw) <= 256 and not _TAG_VALUE_CHARS.search(raw)


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
    if request.policy:
        params.append(("Policy", request.policy))
    for number, arn in enumerate(request.policy_arns, 1):
        params.append((f"PolicyArns.member.{number}.arn", arn))
    for number, (key, value) in enumerate(request.tags, 1):
        params += [(f"Tags.member.{number}.Key", key), (f"Tags.member.{number}.Value", value)]
    for number, key in enumerate(request.transitive_tag_keys, 1):
        params.append((f"TransitiveTagKeys.member.{number}", key))
    if request.source_identity:
        params.append(("SourceIdentity", request.source_identity))
    return urlencode(params).encode()


def packed_policy_size(body: bytes) -> int | None:
    """``PackedPolicySize`` of an ``AssumeRole`` answer (percent of STS's limit), if any."""
    try:
        refuse_doctype(body)  # as every parser: no DTD, so no entity, is ever parsed
        root = ET.fromstring(body)  # noqa: S314 - no DOCTYPE: no entities
    except (ET.ParseError, DoctypeRefused):
        return None
    for elem in root.iter():
        if elem.tag.rsplit("}", 1)[-1] == "PackedPolicySize":
            try:
                return int((elem.text or "").strip())
            except ValueError:
                return None
    return None


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
    log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> TimedCreds:
    """The role's credentials from STS at ``url``, the request signed with ``source``.

    Logs a warning (to ``log``) when the answer's ``PackedPolicySize`` is
    :data:`PACKED_POLICY_WARNING` percent or more: the session policy and tags
    are close to what STS accepts.
    """
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
        found = parse_sts_response(
            response.status,
            response.body,
            redact=(source.secret_access_key, *source.pre_auth_headers.values()),
            operation=operation,
            action="AssumeRole",
        )
        _warn_packed(packed_policy_size(response.body), request, log or _log)
        return found

    return await with_attempts(attempt, attempts=attempts, delay=retry_delay)


def _warn_packed(
    size: int | None,
    request: RoleRequest,
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    if size is not None and size >= PACKED_POLICY_WARNING:
        log.warning(
            "STS AssumeRole of %s: the session policy and tags use %d%% of what STS accepts "
            "(PackedPolicySize); a few more mounts or tags will be refused "
            "(PackedPolicyTooLarge): move statements to the role policy or to PolicyArns.",
            request.role_arn,
            size,
        )
