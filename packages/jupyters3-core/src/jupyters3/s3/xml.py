"""Pure parsers and builders for the XML bodies of the S3 REST API.

No I/O here: every function takes bytes and returns plain values, so each can
be tested against real S3 response bodies. Namespaces are ignored (S3 uses
``http://s3.amazonaws.com/doc/2006-03-01/``, other stores sometimes none).

A body with a document type declaration is refused before any parsing
(:func:`refuse_doctype`, :class:`DoctypeRefused`): S3 and STS never send one,
and a DTD is how entities get declared ("billion laughs", entities expanded
into keys). Every parser here, and the STS parser, checks it first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple
from urllib.parse import unquote
from xml.parsers import expat
from xml.sax.saxutils import escape

__all__ = [
    "CopyResult",
    "DeleteError",
    "DeleteResult",
    "DoctypeRefused",
    "ErrorInfo",
    "ListPage",
    "ListedObject",
    "MultipartUploadInfo",
    "ObjectVersion",
    "XMLError",
    "build_complete_multipart",
    "build_delete",
    "parse_copy_result",
    "parse_delete_result",
    "parse_error",
    "parse_initiate_multipart",
    "parse_iso8601",
    "parse_list_multipart_uploads",
    "parse_list_objects_v2",
    "parse_list_versions",
    "parse_versioning",
    "refuse_doctype",
    "xml_safe",
]


class XMLError(ValueError):
    """A body that is not the XML document the S3 API promises."""


class DoctypeRefused(XMLError):
    """A body with a document type declaration: refused unparsed."""


_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)


def refuse_doctype(body: bytes) -> None:
    """:class:`DoctypeRefused` if ``body`` declares a document type (a DTD, with
    or without entities), before anything parses it."""
    if b"<!" in body and _DOCTYPE.search(body):
        raise DoctypeRefused(
            "the answer declares a document type (<!DOCTYPE ...>), which S3 and STS never "
            "send: refused without parsing it"
        )


def _no_doctype(*_args: object) -> None:
    raise DoctypeRefused("the answer declares a document type: refused")


@dataclass(frozen=True)
class ErrorInfo:
    """The fields of an S3 ``<Error>`` document."""

    code: str
    message: str
    request_id: str = ""
    key: str | None = None
    region: str = ""


class ListedObject(NamedTuple):
    """One ``<Contents>`` entry of a listing (key already URL-decoded).

    A named tuple of atomic values, which Python's garbage collector stops
    tracking: holding a listing of thousands adds nothing to the full
    collections that would stall the event loop.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class ListPage:
    """One page of ListObjectsV2."""

    objects: list[ListedObject] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_continuation_token: str | None = None


@dataclass(frozen=True)
class CopyResult:
    """The result of CopyObject or UploadPartCopy."""

    etag: str
    last_modified: datetime | None


@dataclass(frozen=True)
class DeleteError:
    """One key that DeleteObjects failed to delete."""

    key: str
    code: str
    message: str


@dataclass(frozen=True)
class DeleteResult:
    """The result of one or more DeleteObjects calls."""

    deleted: list[str] = field(default_factory=list)
    errors: list[DeleteError] = field(default_factory=list)


@dataclass(frozen=True)
class MultipartUploadInfo:
    """One in-progress multipart upload."""

    key: str
    upload_id: str
    initiated: datetime | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


#: Big bodies are fed to the parser in pieces, so a parse in a worker thread
#: lets go of the GIL between them (one large feed() holds it throughout).
_FEED = 16 * 1024


def _root(body: bytes) -> ET.Element:
    refuse_doctype(body)
    try:
        if len(body) <= _FEED:
            return ET.fromstring(body)  # noqa: S314 - refuse_doctype above: no entities
        parser = ET.XMLParser()  # noqa: S314 - as above
        for start in range(0, len(body), _FEED):
            parser.feed(body[start : start + _FEED])
        return parser.close()
    except ET.ParseError as exc:
        raise XMLError(f"malformed XML from S3: {exc}") from None


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _text(elem: ET.Element, name: str, default: str = "") -> str:
    for child in elem:
        if _local(child.tag) == name:
            return child.text or ""
    return default


def parse_iso8601(value: str) -> datetime:
    """Parse S3's ``2009-10-12T17:50:30.000Z`` timestamps (fraction optional) as UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise XMLError(f"not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_error(body: bytes) -> ErrorInfo | None:
    """Parse an ``<Error>`` document; ``None`` when ``body`` is not one.

    Only ``Code``, ``Message``, ``RequestId``, ``Key`` and ``Region`` are kept:
    S3 also echoes ``StringToSign`` and ``CanonicalRequest`` for signature
    errors, which must never reach a log.
    """
    if not body or b"<Error" not in body:
        return None
    try:
        root = _root(body)
    except XMLError:
        return None
    if _local(root.tag) != "Error":
        return None
    key_elem = [c for c in root if _local(c.tag) == "Key"]
    return ErrorInfo(
        code=_text(root, "Code"),
        message=_text(root, "Message"),
        request_id=_text(root, "RequestId"),
        key=(key_elem[0].text or "") if key_elem else None,
        region=_text(root, "Region"),
    )


def parse_list_objects_v2(body: bytes) -> ListPage:
    """Parse a ``ListBucketResult`` (ListObjectsV2), URL-decoding keys when
    the response says ``EncodingType=url``.

    A streaming (expat) parse: no element tree is built, so a page of 1,000
    entries allocates little more than its strings.
    """
    refuse_doctype(body)
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.EntityDeclHandler = _no_doctype
    stack: list[str] = []
    text: list[str] = []
    top: dict[str, str] = {}
    entry: dict[str, str] = {}
    raw: list[tuple[str, str, str, str]] = []
    prefixes: list[str] = []

    def start(name: str, _attrs: object) -> None:
        local = name.rpartition(":")[2]
        if not stack and local != "ListBucketResult":
            raise XMLError(f"expected ListBucketResult, got {local}")
        stack.append(local)
        text.clear()
        if stack == ["ListBucketResult", "Contents"]:
            entry.clear()

    def end(_name: str) -> None:
        value = "".join(text)
        text.clear()
        depth = len(stack)
        if depth == 3 and stack[1] == "Contents":
            entry[stack[2]] = value
        elif depth == 2 and stack[1] == "Contents":
            raw.append(
                (
                    entry.get("Key", ""),
                    entry.get("Size", "0"),
                    entry.get("ETag", ""),
                    entry.get("LastModified", ""),
                )
            )
        elif depth == 3 and stack[1] == "CommonPrefixes" and stack[2] == "Prefix":
            prefixes.append(value)
        elif depth == 2:
            top[stack[1]] = value
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        for offset in range(0, max(len(body), 1), _FEED):  # pieces: a worker thread yields the GIL
            parser.Parse(body[offset : offset + _FEED], False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise XMLError(f"malformed XML from S3: {exc}") from None

    url_encoded = top.get("EncodingType", "").lower() == "url"

    def decode(value: str) -> str:
        return unquote(value) if url_encoded else value

    try:
        objects = [
            ListedObject(decode(key), int(size or 0), etag.strip('"'), parse_iso8601(when))
            for key, size, etag, when in raw
        ]
    except XMLError:
        raise
    except ValueError:
        raise XMLError("a listing entry has a Size that is not a number") from None
    return ListPage(
        objects=objects,
        common_prefixes=[decode(p) for p in prefixes],
        is_truncated=top.get("IsTruncated", "").lower() == "true",
        next_continuation_token=top.get("NextContinuationToken") or None,
    )


def parse_copy_result(body: bytes) -> CopyResult:
    """Parse ``CopyObjectResult`` or ``CopyPartResult``.

    The caller must first check for an embedded ``<Error>``: S3 may answer
    200 and report the failure in the body.
    """
    root = _root(body)
    if _local(root.tag) not in ("CopyObjectResult", "CopyPartResult"):
        raise XMLError(f"expected CopyObjectResult, got {_local(root.tag)}")
    modified = _text(root, "LastModified")
    return CopyResult(
        etag=_text(root, "ETag"),
        last_modified=parse_iso8601(modified) if modified else None,
    )


def parse_initiate_multipart(body: bytes) -> str:
    """The ``UploadId`` of an ``InitiateMultipartUploadResult``."""
    root = _root(body)
    upload_id = _text(root, "UploadId")
    if not upload_id:
        raise XMLError("InitiateMultipartUploadResult without UploadId")
    return upload_id


def parse_complete_multipart(body: bytes) -> str:
    """The ``ETag`` of a ``CompleteMultipartUploadResult`` (check for ``<Error>`` first)."""
    root = _root(body)
    if _local(root.tag) != "CompleteMultipartUploadResult":
        raise XMLError(f"expected CompleteMultipartUploadResult, got {_local(root.tag)}")
    return _text(root, "ETag")


def parse_delete_result(body: bytes) -> DeleteResult:
    """Parse a ``DeleteResult``: S3 answers 200 even when some keys failed."""
    root = _root(body)
    if _local(root.tag) != "DeleteResult":
        raise XMLError(f"expected DeleteResult, got {_local(root.tag)}")
    return DeleteResult(
        deleted=[_text(d, "Key") for d in _children(root, "Deleted")],
        errors=[
            DeleteError(key=_text(e, "Key"), code=_text(e, "Code"), message=_text(e, "Message"))
            for e in _children(root, "Error")
        ],
    )


class ObjectVersion(NamedTuple):
    """One ``<Version>`` or ``<DeleteMarker>`` of ListObjectVersions (key URL-decoded)."""

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: datetime


def parse_versioning(body: bytes) -> str:
    """The ``Status`` of a ``VersioningConfiguration``: ``"Enabled"``,
    ``"Suspended"``, or ``""`` for a bucket that never had versioning."""
    root = _root(body)
    if _local(root.tag) != "VersioningConfiguration":
        raise XMLError(f"expected VersioningConfiguration, got {_local(root.tag)}")
    return _text(root, "Status")


def parse_list_versions(body: bytes) -> tuple[list[ObjectVersion], bool, str, str]:
    """Parse ``ListVersionsResult``: ``(versions, is_truncated, next_key_marker,
    next_version_id_marker)``, versions and delete markers in the answer's order
    (by key, newest first)."""
    root = _root(body)
    if _local(root.tag) != "ListVersionsResult":
        raise XMLError(f"expected ListVersionsResult, got {_local(root.tag)}")
    url_encoded = _text(root, "EncodingType").lower() == "url"
    found = []
    for entry in root:
        kind = _local(entry.tag)
        if kind not in ("Version", "DeleteMarker"):
            continue
        key = _text(entry, "Key")
        try:
            size = int(_text(entry, "Size", "0") or 0)
        except ValueError:
            raise XMLError("a version's Size is not a number") from None
        found.append(
            ObjectVersion(
                key=unquote(key) if url_encoded else key,
                version_id=_text(entry, "VersionId"),
                is_latest=_text(entry, "IsLatest").lower() == "true",
                delete_marker=kind == "DeleteMarker",
                size=size,
                etag=_text(entry, "ETag").strip('"'),
                last_modified=parse_iso8601(_text(entry, "LastModified")),
            )
        )
    next_key = _text(root, "NextKeyMarker")
    next_version = _text(root, "NextVersionIdMarker")
    if url_encoded:
        next_key = unquote(next_key)
    return found, _text(root, "IsTruncated").lower() == "true", next_key, next_version


def parse_list_multipart_uploads(body: bytes) -> tuple[list[MultipartUploadInfo], bool, str, str]:
    """Parse ``ListMultipartUploadsResult``.

    Returns ``(uploads, is_truncated, next_key_marker, next_upload_id_marker)``.
    """
    root = _root(body)
    url_encoded = _text(root, "EncodingType").lower() == "url"
    uploads = []
    for u in _children(root, "Upload"):
        initiated = _text(u, "Initiated")
        key = _text(u, "Key")
        uploads.append(
            MultipartUploadInfo(
                key=unquote(key) if url_encoded else key,
                upload_id=_text(u, "UploadId"),
                initiated=parse_iso8601(initiated) if initiated else None,
            )
        )
    next_key = _text(root, "NextKeyMarker")
    return (
        uploads,
        _text(root, "IsTruncated").lower() == "true",
        unquote(next_key) if url_encoded else next_key,
        _text(root, "NextUploadIdMarker"),
    )


def _xml_text(value: str) -> str:
    # Character references for CR, LF and TAB: a parser would normalise a raw
    # CR (and, in attributes, LF/TAB), silently changing the key.
    return escape(value, {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def build_complete_multipart(parts: Sequence[tuple[int, str]]) -> bytes:
    """The ``CompleteMultipartUpload`` body for ``(part_number, etag)`` pairs,
    sorted ascending as S3 requires."""
    body = ["<CompleteMultipartUpload>"]
    for number, etag in sorted(parts):
        body.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{_xml_text(etag)}</ETag></Part>")
    body.append("</CompleteMultipartUpload>")
    return "".join(body).encode()


def xml_safe(value: str) -> bool:
    """Whether XML 1.0 can carry ``value`` (no C0 controls but TAB/LF/CR,
    no surrogates, no U+FFFE/U+FFFF)."""
    return not any(
        (ord(ch) < 0x20 and ch not in "\t\n\r")
        or 0xD800 <= ord(ch) <= 0xDFFF
        or ch in "\ufffe\uffff"
        for ch in value
    )


def build_delete(
    keys: Iterable[str],
    *,
    quiet: bool = True,
    etags: Mapping[str, str | None] | None = None,
    versions: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The DeleteObjects body. Keys are XML-escaped; characters XML 1.0 cannot
    carry (most control characters) raise ``XMLError``. A key with an ETag in
    ``etags`` is deleted only while it has that ETag (``<ETag>``: a per-key 412
    ``PreconditionFailed`` otherwise)."""
    body = ['<?xml version="1.0" encoding="UTF-8"?><Delete>']
    if quiet:
        body.append("<Quiet>true</Quiet>")
    for key in keys:
        if not xml_safe(key):
            raise XMLError(f"key {key!r} cannot be sent in an XML body")
        etag = (etags or {}).get(key)
        condition = f"<ETag>&quot;{_xml_text(etag.strip(chr(34)))}&quot;</ETag>" if etag else ""
        body.append(f"<Object><Key>{_xml_text(key)}</Key>{condition}</Object>")
    for key, version_id in versions:  # one version of a key, deleted for good
        if not xml_safe(key) or not xml_safe(version_id):
            raise XMLError(f"key {key!r} cannot be sent in an XML body")
        body.append(
            f"<Object><Key>{_xml_text(key)}</Key>"
            f"<VersionId>{_xml_text(version_id)}</VersionId></Object>"
        )
    body.append("</Delete>")
    return "".join(body).encode()
