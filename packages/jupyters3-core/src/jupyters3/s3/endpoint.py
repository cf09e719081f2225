"""Pure: where a request for a bucket and key goes (endpoint and addressing style).

Two addressing styles exist (S3 user guide, "Virtual hosting of buckets"):

* virtual-hosted: ``https://<bucket>.s3.<region>.amazonaws.com/<key>``
* path: ``https://s3.<region>.amazonaws.com/<bucket>/<key>``

``auto`` picks virtual-hosted for AWS endpoints when the bucket name is
DNS-compatible and has no dot (a dot breaks the TLS wildcard certificate, as
botocore's ``check_dns_name`` rule says), and path style for custom endpoints
(MinIO, moto, Ceph), which rarely have wildcard DNS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from jupyters3.errors import BadConfiguration
from jupyters3.s3.signing import encode_path

__all__ = [
    "AddressingStyle",
    "Endpoint",
    "Target",
    "aws_endpoint",
    "parse_endpoint",
    "same_service_key",
]

AddressingStyle = Literal["auto", "path", "virtual"]

# A bucket name usable as a DNS label; ``auto`` also refuses dots (TLS wildcard).
_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Endpoint:
    """A parsed S3 endpoint: ``scheme://host[:port][/base_path]``."""

    scheme: str
    host: str
    port: int | None
    base_path: str = ""
    is_aws: bool = False

    @property
    def netloc(self) -> str:
        """``host[:port]``, the port left out when it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        if self.port is None or self.port == default:
            return host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL to fetch and the exact Host and path signed."""

    url: str
    host: str
    path: str


def parse_endpoint(url: str) -> Endpoint:
    """Parse a configured endpoint URL, e.g. ``http://127.0.0.1:9000``.

    A bare ``host[:port]`` means https. Raises :class:`BadConfiguration` for
    anything that is not an http(s) URL without query or fragment.
    """
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadConfiguration(f"The S3 endpoint {url!r} is not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadConfiguration(
            f"The S3 endpoint {url!r} must be an http:// or https:// URL with a host name."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BadConfiguration(
            f"The S3 endpoint {url!r} must not carry credentials, a query or a fragment."
        )
    host = parts.hostname.lower()
    return Endpoint(
        scheme=parts.scheme,
        host=host,
        port=port,
        base_path=parts.path.rstrip("/"),
        is_aws=host.endswith((".amazonaws.com", ".amazonaws.com.cn")),
    )


_AWS_S3_HOST = re.compile(r"^s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")


def same_service_key(endpoint_url: str) -> str:
    """What an endpoint setting names, for comparing two of them: ``"aws"``
    (or ``"aws-cn"``) for the default (``""``) and every AWS S3 endpoint
    (``https://s3.amazonaws.com``, ``https://s3.us-east-1.amazonaws.com``, FIPS
    and dual-stack forms: one service whatever the region); else
    ``scheme://host[:port][/path]`` normalised: lower case, the scheme's
    default port and any trailing slash left out (``http://minio:9000/`` and
    ``HTTP://MinIO:9000`` are one). A URL that does not parse is returned as given."""
    if not endpoint_url.strip():
        return "aws"
    try:
        parsed = parse_endpoint(endpoint_url)
    except BadConfiguration:
        return endpoint_url
    if _AWS_S3_HOST.match(parsed.host) and parsed.scheme == "https" and not parsed.base_path:
        return "aws-cn" if parsed.host.endswith(".cn") else "aws"
    return f"{parsed.scheme}://{parsed.netloc}{parsed.base_path}"


def aws_endpoint(region: str) -> Endpoint:
    """The regional AWS S3 endpoint for ``region``."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return Endpoint(scheme="https", host=f"s3.{region}.{suffix}", port=None, is_aws=True)


def uses_virtual_host(endpoint: Endpoint, bucket: str, style: AddressingStyle) -> bool:
    """Whether requests for ``bucket`` use virtual-hosted addressing."""
    if style == "path":
        return False
    dns_ok = bool(_DNS_BUCKET.match(bucket)) and ".." not in bucket
    if style == "virtual":
        if not dns_ok:
            raise BadConfiguration(
                f"Bucket {bucket!r} cannot be addressed virtual-hosted style; "
                "set addressing_style to 'path'."
            )
        return True
    return endpoint.is_aws and dns_ok and "." not in bucket


def target(
    endpoint: Endpoint,
    bucket: str,
    key: str | None,
    *,
    style: AddressingStyle,
    query: str = "",
) -> Target:
    """The target of a request on ``bucket`` (``key=None``: the bucket itself).

    ``key`` is the raw S3 key; it is encoded once, never normalised.
    """
    if uses_virtual_host(endpoint, bucket, style):
        host = f"{bucket}.{endpoint.netloc}"
        raw_path = endpoint.base_path + "/" + (key or "")
    else:
        host = endpoint.netloc
        raw_path = f"{endpoint.base_path}/{bucket}"
        if key is not None:
            raw_path += "/" + key
    path = encode_path(raw_path)
    url = f"{endpoint.scheme}://{host}{path}"
    if query:
        url += "?" + query
    return Target(url=url, host=host, path=path)
