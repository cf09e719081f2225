"""What S3 objects look like on the wire: metadata from response headers, the
headers of a write, ETag quoting, byte ranges. Pure functions and types."""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

from tornado import httputil

__all__ = [
    "DELETE_BATCH",
    "CopySource",
    "ObjectMeta",
    "PutResult",
    "check_part_number",
    "copy_source",
    "file_md5",
    "meta_from_headers",
    "multipart_etag",
    "put_headers",
    "quote_etag",
    "range_header",
    "range_problem",
    "unquote_etag",
]

#: DeleteObjects accepts at most this many keys per request.
DELETE_BATCH = 1000


@dataclass(frozen=True)
class ObjectMeta:
    """What HeadObject / GetObject say about an object. ``etag`` is unquoted."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    version_id: str | None = None


@dataclass(frozen=True)
class CopySource:
    """What a copy reads, for every copy function (server-side or streamed):
    ``key`` of ``bucket`` (None: the target's bucket), ``size`` bytes (0 when
    not known), only while it is the version with ETag ``etag`` (None: any),
    or the S3 version ``version_id`` of it."""

    key: str
    size: int = 0
    etag: str | None = None
    version_id: str | None = None
    bucket: str | None = None


@dataclass(frozen=True)
class PutResult:
    """The result of PutObject or CompleteMultipartUpload. ``etag`` is unquoted."""

    etag: str
    version_id: str | None = None


def unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


def quote_etag(etag: str) -> str:
    return etag if etag.startswith('"') or etag == "*" else f'"{etag}"'


def _http_date(value: str) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    parsed = email.utils.parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def meta_from_headers(key: str, headers: httputil.HTTPHeaders) -> ObjectMeta:
    size = headers.get("Content-Length", "0")
    content_range = headers.get("Content-Range", "")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            size = total
    return ObjectMeta(
        key=key,
        size=int(size or 0),
        etag=unquote_etag(headers.get("ETag", "")),
        last_modified=_http_date(headers.get("Last-Modified", "")),
        content_type=headers.get("Content-Type", ""),
        metadata={
            name[len("x-amz-meta-") :].lower(): value
            for name, value in headers.get_all()
            if name.lower().startswith("x-amz-meta-")
        },
        version_id=headers.get("x-amz-version-id"),
    )


def copy_source(bucket: str, key: str, version_id: str | None = None) -> str:
    """The ``x-amz-copy-source`` value: ``bucket/key`` URL-encoded as botocore
    does, and ``?versionId=`` for one version of it."""
    source = quote(f"{bucket}/{key}", safe="-._~/")
    return f"{source}?versionId={quote(version_id, safe='')}" if version_id else source


def put_headers(
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    if_match: str | None,
    if_none_match: bool,
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    for name, value in (metadata or {}).items():
        if not (name + value).isascii() or not (name + value).isprintable():
            # S3 stores user metadata as US-ASCII; callers encode anything else.
            raise ValueError(f"metadata {name!r} must be printable ASCII")
        headers[f"x-amz-meta-{name.lower()}"] = value
    if if_match:
        headers["if-match"] = quote_etag(if_match)
    if if_none_match:
        headers["if-none-match"] = "*"
    return headers


def range_header(first: int, last: int | None) -> str:
    if first < 0 or (last is not None and last < first):
        raise ValueError(f"invalid byte range {first}-{last}")
    return f"bytes={first}-{'' if last is None else last}"


def range_problem(
    status: int, headers: httputil.HTTPHeaders, first: int, last: int | None, length: int | None
) -> str | None:
    """What is wrong with the answer to a GET of bytes ``first..last``
    (``last`` None: to the end), or None when it is exactly those bytes: a
    206 whose ``Content-Range`` is ``bytes first-end/total`` (``end`` the
    last byte asked for, or the object's last), and, when the body's
    ``length`` is known, that many bytes."""
    content_range = headers.get("Content-Range", "")
    where = f"HTTP {status} with Content-Range {content_range or '(none)'}"
    if status != 206:
        return where
    unit, _, rest = content_range.partition(" ")
    span, _, total = rest.partition("/")
    start, _, end = span.partition("-")
    if unit != "bytes" or not start.isdigit() or not end.isdigit():
        return where
    begin, stop = int(start), int(end)
    expected = last if last is not None else stop
    if total.isdigit() and last is not None:
        expected = min(last, int(total) - 1)
    if begin != first or stop != expected:
        return where
    if length is not None and length != stop - begin + 1:
        return f"{where} and {length:,} bytes"
    return None


def check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= 10_000:
        raise ValueError(f"part number {part_number} is outside 1..10000")


def multipart_etag(part_etags: Sequence[str]) -> str | None:
    """The ETag S3 gives a completed multipart upload of parts with these
    (MD5) ETags: MD5 of their concatenated digests, ``-`` the part count.
    None when a part ETag is not an MD5 (SSE-KMS, other stores)."""
    try:
        digests = b"".join(bytes.fromhex(etag.strip('"')) for etag in part_etags)
    except ValueError:
        return None
    if len(digests) != 16 * len(part_etags):
        return None
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(part_etags)}"


def file_md5(path: str, offset: int, length: int) -> str:
    """Hex MD5 of ``length`` bytes of a file from ``offset`` (blocking: run it
    in a worker thread)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        fh.seek(offset)
        remaining = length
        while remaining > 0:
            block = fh.read(min(1 << 20, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()
