"""AWS Signature Version 4 (header authentication) for S3 requests.

Pure functions: no I/O, no clock reads, no event loop. The caller supplies the
timestamp, a frozen credentials snapshot and the already-encoded wire path, and
gets back every header to send.

S3 departs from generic SigV4 in three ways, and this module follows S3:

* the canonical URI is the path exactly as sent on the wire, with each key
  segment percent-encoded once. It is never normalised (``//``, ``.`` and ``..``
  are kept) and never encoded twice;
* ``x-amz-content-sha256`` is sent and signed on every request;
* a session token (``x-amz-security-token``) is signed like any other header.

There is one function per step of the algorithm, in the same order as
botocore's ``SigV4Auth``: :func:`canonical_request` (built from
:func:`canonical_query_string`, :func:`canonical_headers` and
:func:`signed_headers`), then :func:`credential_scope`, :func:`string_to_sign`,
:func:`signing_key`, :func:`signature` and :func:`authorization_header`.
:func:`sign_request` chains them. The step functions do the arithmetic of the
spec and check nothing. :func:`sign_request` checks its inputs and raises
``ValueError`` when what would be sent could differ from what is signed. No
error message ever contains a secret or a header value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from jupyters3.credentials import AwsCreds

# fmt: off
__all__ = [
    "ALGORITHM", "EMPTY_SHA256", "UNSIGNED_HEADERS", "UNSIGNED_PAYLOAD",
    "authorization_header", "canonical_headers", "canonical_query_string",
    "canonical_request", "credential_scope", "encode_path", "encode_query", "sign_request",
    "signature", "signed_headers", "signing_key", "string_to_sign", "uri_encode",
]
# fmt: on

ALGORITHM = "AWS4-HMAC-SHA256"
#: ``x-amz-content-sha256`` of an empty body.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: ``x-amz-content-sha256`` when the body is not hashed (only sensible over HTTPS).
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

#: Header names (lower case) that are sent but never signed: botocore's
#: SIGNED_HEADERS_BLACKLIST (hop-by-hop headers and headers that proxies, load
#: balancers or tracing middleware may add or rewrite), plus content-length,
#: which the HTTP client derives from the body (botocore adds it after signing).
# fmt: off
UNSIGNED_HEADERS: frozenset[str] = frozenset({
    "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "traceparent", "tracestate", "trailer",
    "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "content-length",
})
# fmt: on

_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_WHITESPACE_RUN = re.compile(r"[ \t\n\v\f\r]+")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: a header name
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")  # printable ASCII, space and tab
_WIRE_PATH = re.compile(r"/(?:[A-Za-z0-9._~/-]|%[0-9A-F]{2})*")
_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]+")  # RFC 3986 host[:port]
_SCOPE_PART = re.compile(r"[!-~]+")
_PAYLOAD_HASH = re.compile(r"[0-9a-f]{64}")
_SET_BY_SIGNER = ("host", "x-amz-date", "x-amz-content-sha256", "authorization")


@lru_cache(maxsize=16)
def _byte_table(safe: str) -> tuple[str, ...]:
    keep = frozenset(_UNRESERVED + safe.encode("ascii"))
    return tuple(chr(b) if b in keep else f"%{b:02X}" for b in range(256))


def uri_encode(value: str, safe: str = "") -> str:
    """Percent-encode ``value`` as SigV4 specifies (RFC 3986).

    The text is encoded to UTF-8 and every byte outside the unreserved set
    ``A-Z a-z 0-9 - . _ ~`` and outside ``safe`` becomes ``%XX`` with upper-case
    hex. A space becomes ``%20`` (never ``+``). ``safe`` must be ASCII. Text
    that cannot be encoded as UTF-8 (a lone surrogate) raises
    ``UnicodeEncodeError``, a ``ValueError``.
    """
    if not safe.isascii():
        raise ValueError("uri_encode: safe characters must be ASCII")
    table = _byte_table(safe)
    return "".join([table[byte] for byte in value.encode("utf-8")])


def encode_path(raw_path: str) -> str:
    """Return the wire path for a raw (decoded) S3 path such as ``/bucket/my key``.

    Each segment is encoded once with :func:`uri_encode`; ``/`` is kept.
    Nothing is normalised: empty segments, ``.`` and ``..`` stay as they are,
    because they are part of the S3 key. The client must send exactly this
    string, and :func:`sign_request` signs exactly this string.
    """
    if not raw_path.startswith("/"):
        raise ValueError("encode_path: an S3 request path must start with '/'")
    return uri_encode(raw_path, safe="/")


def canonical_query_string(params: Sequence[tuple[str, str]]) -> str:
    """Return the canonical query string for ``(name, value)`` pairs.

    Names and values are encoded with :func:`uri_encode` (so ``/``, ``=`` and
    ``+`` inside values are encoded). Pairs are sorted by encoded name, then by
    encoded value, and joined as ``name=value`` with ``&``. A valueless
    parameter is passed as ``(name, "")`` and becomes ``name=``. Repeated names
    are kept.
    """
    pairs = sorted((uri_encode(name), uri_encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in pairs)


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """Return the query string to send (without ``?``) for ``(name, value)`` pairs.

    It is the canonical query string itself, so what is sent is byte for byte
    what is signed.
    """
    return canonical_query_string(params)


def _signable(headers: Mapping[str, str]) -> dict[str, str]:
    """Map each signed header's lower-case name to its canonical value."""
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname not in UNSIGNED_HEADERS:
            # Trimall: strip, and collapse inner whitespace runs to one space.
            values.setdefault(lname, []).append(_WHITESPACE_RUN.sub(" ", value).strip(" "))
    # Names that differ only in case are one header; the values join with ",".
    return {name: ",".join(parts) for name, parts in values.items()}


def canonical_headers(headers: Mapping[str, str]) -> str:
    """Return the canonical headers block: one ``name:value\\n`` line per signed header.

    Names are lower-cased and sorted; values are trimmed and inner runs of
    whitespace collapse to one space. Headers in :data:`UNSIGNED_HEADERS` are
    left out.
    """
    signable = _signable(headers)
    return "".join(f"{name}:{signable[name]}\n" for name in sorted(signable))


def signed_headers(headers: Mapping[str, str]) -> str:
    """Return the sorted, ``;``-separated lower-case names of the signed headers."""
    return ";".join(sorted(_signable(headers)))


def canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> str:
    """Return the canonical request.

    ``path`` is used verbatim (S3: already encoded once, never normalised).
    ``headers`` must already hold every header to sign, ``host`` and
    ``x-amz-date`` included.
    """
    return "\n".join(
        [
            method,
            path,
            canonical_query_string(query),
            canonical_headers(headers),
            signed_headers(headers),
            payload_hash,
        ]
    )


def credential_scope(date_stamp: str, region: str, service: str) -> str:
    """Return ``<YYYYMMDD>/<region>/<service>/aws4_request``."""
    return f"{date_stamp}/{region}/{service}/aws4_request"


def string_to_sign(timestamp_str: str, scope: str, canonical_request: str) -> str:
    """Return the string to sign for a ``YYYYMMDDTHHMMSSZ`` timestamp and a scope."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp_str}\n{scope}\n{digest}"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date_stamp: str, region: str, service: str) -> bytes:
    """Derive the signing key: HMAC chain over date, region, service, ``aws4_request``."""
    try:
        seed: bytes | None = ("AWS4" + secret).encode("utf-8")
    except UnicodeEncodeError:
        seed = None
    if seed is None:
        # Raised outside the except block: the UnicodeEncodeError holds the
        # secret and must not become this exception's __context__.
        raise ValueError("the secret access key is not valid Unicode text")
    k_date = _hmac(seed, date_stamp)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def signature(key: bytes, string_to_sign: str) -> str:
    """Return the hex HMAC-SHA256 of ``string_to_sign`` under the signing key."""
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(
    access_key_id: str, scope: str, signed_headers: str, signature: str
) -> str:
    """Return the ``Authorization`` header value."""
    return (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


def _timestamps(timestamp: datetime) -> tuple[str, str]:
    if timestamp.tzinfo is None or timestamp.utcoffset() != timedelta(0):
        raise ValueError("timestamp must be a timezone-aware datetime in UTC")
    t = timestamp
    date_stamp = f"{t.year:04d}{t.month:02d}{t.day:02d}"
    return f"{date_stamp}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z", date_stamp


def _check(ok: object, message: str) -> None:
    if not ok:
        raise ValueError(message)


def sign_request(
    *,
    method: str,
    host: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    credentials: AwsCreds,
    region: str,
    timestamp: datetime,
    service: str = "s3",
) -> dict[str, str]:
    """Sign one S3 request and return every header to send with it.

    ``path`` is the wire path from :func:`encode_path`; the query to send is
    :func:`encode_query` of ``query``. ``host`` is the Host header value, with
    ``:port`` when the port is not the scheme's default. ``payload_hash`` is
    the hex SHA-256 of the body (:data:`EMPTY_SHA256` for none) or
    :data:`UNSIGNED_PAYLOAD`. ``timestamp`` must be timezone-aware UTC.

    The result is ``headers`` plus ``host``, ``x-amz-date``,
    ``x-amz-content-sha256``, every entry of ``credentials.pre_auth_headers``
    (for example ``x-amz-security-token``) and ``Authorization``. All of them
    are signed, except the :data:`UNSIGNED_HEADERS`. Values are returned as
    given; the signature covers their trimmed form, as the server computes it.

    Raises ``ValueError`` if the timestamp is naive or not UTC, if the method,
    path, host, region, service, access key id or payload hash is malformed,
    if a header name is not an HTTP token, if a header value holds anything
    other than printable ASCII, space and tab (so the bytes sent are the bytes
    signed), or if a header name is given twice (names are case-insensitive)
    or names one of the headers this function sets. Messages never include a
    header value or a secret.
    """
    amz_date, date_stamp = _timestamps(timestamp)
    _check(re.fullmatch("[A-Z]+", method), "method must be an upper-case HTTP method")
    _check(_WIRE_PATH.fullmatch(path), "path must be a wire path from encode_path()")
    _check(_HOST.fullmatch(host), "host must be a host name or address, with optional :port")
    _check(
        _PAYLOAD_HASH.fullmatch(payload_hash) or payload_hash == UNSIGNED_PAYLOAD,
        "payload_hash must be a lower-case hex SHA-256 or UNSIGNED-PAYLOAD",
    )
    for what, part in (
        ("region", region),
        ("service", service),
        ("access key id", credentials.access_key_id),
    ):
        ok = _SCOPE_PART.fullmatch(part) and "/" not in part and "," not in part
        _check(ok, f"{what} must be printable ASCII without spaces, '/' or ','")

    extra = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    out: dict[str, str] = {}
    seen: set[str] = set()
    for source in (headers, credentials.pre_auth_headers, extra):
        for name, value in source.items():
            _check(_TOKEN.fullmatch(name), f"header name {name!r} is not an HTTP token")
            _check(
                _FIELD_VALUE.fullmatch(value),
                f"header {name!r}: the value must be printable ASCII, space or tab",
            )
            lname = name.lower()
            reserved = source is not extra and lname in _SET_BY_SIGNER
            _check(not reserved, f"header {name!r} is set by sign_request")
            _check(lname not in seen, f"header {name!r} is given twice")
            seen.add(lname)
            out[name] = value

    scope = credential_scope(date_stamp, region, service)
    creq = canonical_request(method, path, query, out, payload_hash)
    key = signing_key(credentials.secret_access_key, date_stamp, region, service)
    sig = signature(key, string_to_sign(amz_date, scope, creq))
    out["Authorization"] = authorization_header(
        credentials.access_key_id, scope, signed_headers(out), sig
    )
    return out
