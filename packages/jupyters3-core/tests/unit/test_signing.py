"""SigV4 for S3: AWS's published test vectors, S3 documentation vectors, unit cases.

The AWS suite (``tests/data/aws4_testsuite``) is written for a generic service: its
canonical requests have no ``x-amz-content-sha256``, which S3 requires. So the suite
checks the step functions, each stage fed with the suite's own previous stage; and
``sign_request`` is checked against the suite's canonical requests with the S3 line
added, against the S3 documentation examples, and against botocore in
``test_signing_oracle.py``.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import strategies
from hypothesis import given
from hypothesis import strategies as st

from jupyters3.credentials import AwsCreds
from jupyters3.s3 import signing
from jupyters3.s3.signing import (
    EMPTY_SHA256,
    UNSIGNED_HEADERS,
    UNSIGNED_PAYLOAD,
    authorization_header,
    canonical_headers,
    canonical_query_string,
    canonical_request,
    credential_scope,
    encode_path,
    encode_query,
    sign_request,
    signature,
    signed_headers,
    signing_key,
    string_to_sign,
    uri_encode,
)

# ---------------------------------------------------------------------------
# AWS SigV4 test suite
# ---------------------------------------------------------------------------

SUITE_DIR = Path(__file__).parent.parent / "data" / "aws4_testsuite"
SUITE_AKID = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=timezone.utc)
SUITE_AMZ_DATE = "20150830T123600Z"
SUITE_REGION = "us-east-1"
SUITE_SERVICE = "service"

#: Every case of the suite as shipped in the botocore 1.43.11 sdist.
UPSTREAM_CASES = frozenset(
    {
        "get-header-key-duplicate",
        "get-header-value-multiline",
        "get-header-value-order",
        "get-header-value-trim",
        "get-unreserved",
        "get-utf8",
        "get-vanilla",
        "get-vanilla-empty-query-key",
        "get-vanilla-query",
        "get-vanilla-query-order-encoded",
        "get-vanilla-query-order-key",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-order-value",
        "get-vanilla-query-unreserved",
        "get-vanilla-utf8-query",
        "get-vanilla-with-session-token",
        "normalize-path/get-relative",
        "normalize-path/get-relative-relative",
        "normalize-path/get-slash",
        "normalize-path/get-slash-dot-slash",
        "normalize-path/get-slash-pointless-dot",
        "normalize-path/get-slashes",
        "normalize-path/get-space",
        "normalize-path/get-special-character",
        "post-header-key-case",
        "post-header-key-sort",
        "post-header-value-case",
        "post-sts-token/post-sts-header-after",
        "post-sts-token/post-sts-header-before",
        "post-vanilla",
        "post-vanilla-empty-query-value",
        "post-vanilla-query",
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
    }
)

_NORMALISES = "expects path normalisation; S3 signs the path as sent, '.', '..', '//' kept"

#: Upstream cases that do not describe S3 and are not vendored. The two other
#: normalize-path cases (get-space, get-special-character) only test encoding and
#: are used; the duplicate-key query cases, which botocore skips, are used too,
#: because our query is a sequence of pairs and keeps repeated names.
NOT_APPLICABLE = {
    "normalize-path/get-relative": _NORMALISES,
    "normalize-path/get-relative-relative": _NORMALISES,
    "normalize-path/get-slash": _NORMALISES,
    "normalize-path/get-slash-dot-slash": _NORMALISES,
    "normalize-path/get-slash-pointless-dot": _NORMALISES,
    "normalize-path/get-slashes": _NORMALISES,
    "post-sts-token/post-sts-header-after": (
        "adds X-Amz-Security-Token after signing; S3 requires the token to be signed"
    ),
}


def _vendored_cases() -> list[str]:
    return sorted(p.parent.relative_to(SUITE_DIR).as_posix() for p in SUITE_DIR.rglob("*.req"))


SUITE_CASES = _vendored_cases()


@dataclass
class SuiteCase:
    """One parsed case: the request as our functions take it, and the expected stages."""

    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    creq: str
    sts: str
    authz: str
    token: str | None

    @property
    def payload_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def credentials(self) -> AwsCreds:
        pre_auth = {"X-Amz-Security-Token": self.token} if self.token else {}
        return AwsCreds(SUITE_AKID, SUITE_SECRET, pre_auth)


def _parse_req(text: str) -> tuple[str, str, list[tuple[str, str]], dict[str, str], bytes]:
    """Parse a ``.req`` file into method, decoded path, decoded query, headers and body.

    Obsolete line folding is unfolded into one space (RFC 9112 section 5.2), and
    repeated header fields are joined with "," (RFC 9110 section 5.3): our headers
    are a mapping with one value per name, as an HTTP client sends them.
    """
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.rstrip("\n").split("\n")
    method, rest = request_line.split(" ", 1)
    target = rest.rsplit(" ", 1)[0]  # the target may contain a space (get-space)
    raw_path, _, raw_query = target.partition("?")
    query = [
        (urllib.parse.unquote(name), urllib.parse.unquote(value))
        for name, _, value in (part.partition("=") for part in raw_query.split("&") if part)
    ]
    fields: list[list[str]] = []
    for line in header_lines:
        if line.startswith((" ", "\t")):
            fields[-1][1] += " " + line.lstrip(" \t")
        else:
            name, _, value = line.partition(":")
            fields.append([name, value])
    headers: dict[str, str] = {}
    for name, value in fields:
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return method, urllib.parse.unquote(raw_path), query, headers, body.encode("utf-8")


def load_case(case: str) -> SuiteCase:
    """Read and parse one vendored case."""
    base = SUITE_DIR / case / case.rsplit("/", 1)[-1]

    def read(ext: str) -> str:
        return base.with_suffix(ext).read_bytes().decode("utf-8").replace("\r", "")

    method, raw_path, query, headers, body = _parse_req(read(".req"))
    creq = read(".creq")
    # As botocore's suite runner does: the token of the case is the one it signs.
    token_lines = [line for line in creq.split("\n") if line.startswith("x-amz-security-token:")]
    token = token_lines[0].partition(":")[2] if token_lines else None
    return SuiteCase(
        method, raw_path, query, headers, body, creq, read(".sts"), read(".authz"), token
    )


def _headers_with_token(case: SuiteCase) -> dict[str, str]:
    """The case's headers plus the credentials' pre-auth headers, as sign_request adds them."""
    merged = dict(case.headers)
    if not any(name.lower() == "x-amz-security-token" for name in merged):
        merged.update(case.credentials.pre_auth_headers)
    return merged


def test_suite_cases_are_exactly_the_applicable_ones() -> None:
    """The vendored cases plus NOT_APPLICABLE are the whole upstream suite, no overlap."""
    vendored = set(SUITE_CASES)

    assert vendored.isdisjoint(NOT_APPLICABLE)
    assert vendored | set(NOT_APPLICABLE) == UPSTREAM_CASES
    assert len(vendored) == 27
    assert (SUITE_DIR / "LICENSE").is_file()
    assert (SUITE_DIR / "NOTICE").is_file()


@pytest.mark.parametrize("case", SUITE_CASES)
def test_suite_canonical_request(case: str) -> None:
    """canonical_request reproduces the suite's .creq from the parsed .req."""
    c = load_case(case)

    actual = canonical_request(
        c.method, encode_path(c.raw_path), c.query, _headers_with_token(c), c.payload_hash
    )

    assert actual == c.creq


@pytest.mark.parametrize("case", SUITE_CASES)
def test_suite_string_to_sign(case: str) -> None:
    """string_to_sign over the suite's .creq reproduces its .sts."""
    c = load_case(case)
    scope = credential_scope(SUITE_AMZ_DATE[:8], SUITE_REGION, SUITE_SERVICE)

    assert string_to_sign(SUITE_AMZ_DATE, scope, c.creq) == c.sts


@pytest.mark.parametrize("case", SUITE_CASES)
def test_suite_authorization(case: str) -> None:
    """signing_key, signature and authorization_header over the .sts reproduce the .authz."""
    c = load_case(case)
    scope = credential_scope(SUITE_AMZ_DATE[:8], SUITE_REGION, SUITE_SERVICE)
    key = signing_key(SUITE_SECRET, SUITE_AMZ_DATE[:8], SUITE_REGION, SUITE_SERVICE)
    signed = signed_headers(_headers_with_token(c))

    actual = authorization_header(SUITE_AKID, scope, signed, signature(key, c.sts))

    assert actual == c.authz


def _reference_authz(creq: str, amz_date: str, region: str, service: str, secret: str) -> str:
    """A second, independent SigV4 computation from a canonical request (test oracle)."""
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(creq.encode()).hexdigest()
    sts = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}"
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    signed = creq.split("\n")[-2]
    return (
        f"AWS4-HMAC-SHA256 Credential={SUITE_AKID}/{scope}, SignedHeaders={signed}, Signature={sig}"
    )


def _with_content_sha256(creq: str) -> str:
    """The suite's canonical request with S3's x-amz-content-sha256 header added."""
    lines = creq.split("\n")
    blank = lines.index("", 3)
    payload = lines[-1]
    header_lines = [*lines[3:blank], f"x-amz-content-sha256:{payload}"]
    header_lines.sort(key=lambda line: line.partition(":")[0])
    signed = ";".join(sorted([*lines[blank + 1].split(";"), "x-amz-content-sha256"]))
    return "\n".join([*lines[:3], *header_lines, "", signed, payload])


@pytest.mark.parametrize("case", SUITE_CASES)
def test_reference_signer_reproduces_suite(case: str) -> None:
    """The test's independent signer agrees with every vendored .authz (it is trustworthy)."""
    c = load_case(case)

    actual = _reference_authz(c.creq, SUITE_AMZ_DATE, SUITE_REGION, SUITE_SERVICE, SUITE_SECRET)

    assert actual == c.authz


@pytest.mark.parametrize("case", SUITE_CASES)
def test_sign_request_on_suite_with_s3_rules(case: str) -> None:
    """sign_request signs each suite request as the suite would plus x-amz-content-sha256."""
    c = load_case(case)
    headers = {
        name: value
        for name, value in c.headers.items()
        if name.lower() not in ("host", "x-amz-date", "x-amz-security-token")
    }

    out = sign_request(
        method=c.method,
        host=c.headers["Host"],
        path=encode_path(c.raw_path),
        query=c.query,
        headers=headers,
        payload_hash=c.payload_hash,
        credentials=c.credentials,
        region=SUITE_REGION,
        timestamp=SUITE_TIME,
        service=SUITE_SERVICE,
    )

    expected_creq = _with_content_sha256(c.creq)
    assert out["x-amz-date"] == SUITE_AMZ_DATE
    assert out["x-amz-content-sha256"] == c.payload_hash
    assert out["Authorization"] == _reference_authz(
        expected_creq, SUITE_AMZ_DATE, SUITE_REGION, SUITE_SERVICE, SUITE_SECRET
    )


# ---------------------------------------------------------------------------
# S3 documentation examples (S3 API reference, "Signature Calculations for the
# Authorization Header", and the General Reference signing-key example)
# ---------------------------------------------------------------------------

DOC_CREDS = AwsCreds("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", {})
DOC_TIME = datetime(2013, 5, 24, tzinfo=timezone.utc)
DOC_HOST = "examplebucket.s3.amazonaws.com"
DOC_PREFIX = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def _doc_sign(
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    payload_hash: str,
) -> dict[str, str]:
    return sign_request(
        method=method,
        host=DOC_HOST,
        path=encode_path(raw_path),
        query=query,
        headers=headers,
        payload_hash=payload_hash,
        credentials=DOC_CREDS,
        region="us-east-1",
        timestamp=DOC_TIME,
    )


def test_s3_doc_get_object() -> None:
    """The S3 docs' GetObject example: Range header, empty payload."""
    out = _doc_sign("GET", "/test.txt", [], {"Range": "bytes=0-9"}, EMPTY_SHA256)

    assert out["Authorization"] == (
        f"{DOC_PREFIX}, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert out == {
        "Range": "bytes=0-9",
        "host": DOC_HOST,
        "x-amz-date": "20130524T000000Z",
        "x-amz-content-sha256": EMPTY_SHA256,
        "Authorization": out["Authorization"],
    }


def test_s3_doc_get_object_intermediate_stages() -> None:
    """The GetObject example's canonical request hashes to the documented value."""
    headers = {
        "Range": "bytes=0-9",
        "host": DOC_HOST,
        "x-amz-date": "20130524T000000Z",
        "x-amz-content-sha256": EMPTY_SHA256,
    }

    creq = canonical_request("GET", "/test.txt", [], headers, EMPTY_SHA256)

    assert creq == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )
    assert string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", creq).endswith(
        "\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )


def test_s3_doc_put_object() -> None:
    """The S3 docs' PutObject example: '$' in the key, Date and storage-class headers."""
    body = b"Welcome to Amazon S3."
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "Date": "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }

    out = _doc_sign("PUT", "/test$file.text", [], headers, payload_hash)

    assert payload_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    assert encode_path("/test$file.text") == "/test%24file.text"
    assert out["Authorization"] == (
        f"{DOC_PREFIX}, "
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_s3_doc_get_bucket_lifecycle() -> None:
    """The S3 docs' GetBucketLifecycle example: a valueless query parameter."""
    out = _doc_sign("GET", "/", [("lifecycle", "")], {}, EMPTY_SHA256)

    assert out["Authorization"] == (
        f"{DOC_PREFIX}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )


def test_s3_doc_list_objects() -> None:
    """The S3 docs' ListObjects example: max-keys and prefix, given out of order."""
    out = _doc_sign("GET", "/", [("prefix", "J"), ("max-keys", "2")], {}, EMPTY_SHA256)

    assert out["Authorization"] == (
        f"{DOC_PREFIX}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


def test_doc_signing_key_example() -> None:
    """signing_key reproduces the AWS General Reference key-derivation example."""
    key = signing_key(SUITE_SECRET, "20120215", "us-east-1", "iam")

    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------

ENCODED_CHARS = {
    " ": "%20",
    "+": "%2B",
    "=": "%3D",
    "&": "%26",
    "%": "%25",
    "?": "%3F",
    "#": "%23",
    "~": "~",
    ":": "%3A",
    ",": "%2C",
    "'": "%27",
    "!": "%21",
    "*": "%2A",
    "$": "%24",
    "@": "%40",
    ";": "%3B",
    "(": "%28",
    ")": "%29",
    "/": "%2F",
    "-": "-",
    ".": ".",
    "_": "_",
    "\x00": "%00",
    "\x7f": "%7F",
    "ü": "%C3%BC",
    "日": "%E6%97%A5",
    "😀": "%F0%9F%98%80",
}


@pytest.mark.parametrize(("char", "encoded"), sorted(ENCODED_CHARS.items()))
def test_uri_encode_single_characters(char: str, encoded: str) -> None:
    """Each awkward character encodes to its UTF-8 %XX form (unreserved stay raw)."""
    assert uri_encode(char) == encoded


def test_uri_encode_unreserved_and_case() -> None:
    """Unreserved characters are kept; hex digits are upper case; space is never '+'."""
    unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

    assert uri_encode(unreserved) == unreserved
    assert uri_encode("\xff\n") == "%C3%BF%0A"
    assert uri_encode("a b") == "a%20b"


def test_uri_encode_safe_characters() -> None:
    """Characters in ``safe`` stay raw; ``safe`` must be ASCII."""
    assert uri_encode("a/b c", safe="/") == "a/b%20c"
    assert uri_encode("a/b=c", safe="/=") == "a/b=c"
    with pytest.raises(ValueError, match="ASCII"):
        uri_encode("x", safe="ü")


def test_uri_encode_rejects_lone_surrogate() -> None:
    """Text that is not valid Unicode cannot be encoded (UnicodeEncodeError is a ValueError)."""
    with pytest.raises(ValueError):
        uri_encode("a\ud800b")


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_uri_encode_agrees_with_urllib_and_round_trips(text: str) -> None:
    """uri_encode equals urllib's quote(safe='') and decodes back to the input."""
    encoded = uri_encode(text)

    assert encoded == urllib.parse.quote(text, safe="")
    assert urllib.parse.unquote(encoded, errors="strict") == text


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        ("/", "/"),
        ("/bucket", "/bucket"),
        ("/bucket/", "/bucket/"),
        ("/bucket/my key/ü+x", "/bucket/my%20key/%C3%BC%2Bx"),
        ("/bucket/a//b", "/bucket/a//b"),
        ("/bucket//", "/bucket//"),
        ("/bucket/./x", "/bucket/./x"),
        ("/bucket/../x", "/bucket/../x"),
        ("/bucket/a/..", "/bucket/a/.."),
        ("/bucket/%20", "/bucket/%2520"),
        ("/bucket/%2F", "/bucket/%252F"),
        ("/bucket/a?b#c", "/bucket/a%3Fb%23c"),
        ("/bucket/+=&%?#~:,'!*$@;()", "/bucket/%2B%3D%26%25%3F%23~%3A%2C%27%21%2A%24%40%3B%28%29"),
    ],
)
def test_encode_path(raw: str, wire: str) -> None:
    """Segments are encoded once, '/' kept, nothing normalised, '%' encoded as data."""
    assert encode_path(raw) == wire


def test_encode_path_requires_leading_slash() -> None:
    """A path without a leading '/' is a caller bug."""
    with pytest.raises(ValueError, match="must start with '/'"):
        encode_path("bucket/key")


@given(strategies.s3_keys())
def test_encode_path_keeps_segments(key: str) -> None:
    """encode_path keeps the segment structure and each segment decodes back to itself."""
    raw = "/bucket/" + key
    wire = encode_path(raw)

    assert wire.split("/") == [uri_encode(segment) for segment in raw.split("/")]
    assert urllib.parse.unquote(wire) == raw


def test_canonical_query_string_sorts_encoded_names() -> None:
    """Sorting happens after encoding: '%C3%BC' < 'Z' < 'a', '%20' < '%2B' < '_'."""
    params = [("a", "1"), ("ü", "2"), ("Z", "3"), ("a_b", "4"), ("a+b", "5"), ("a b", "6")]

    assert canonical_query_string(params) == "%C3%BC=2&Z=3&a=1&a%20b=6&a%2Bb=5&a_b=4"


def test_canonical_query_string_values() -> None:
    """Values encode '/', '=', '+', '&' and space; valueless parameters become 'name='."""
    params = [
        ("list-type", "2"),
        ("prefix", "dir/sub dir/ü"),
        ("continuation-token", "1ab+/cd=="),
        ("delimiter", "/"),
        ("uploads", ""),
    ]

    assert canonical_query_string(params) == (
        "continuation-token=1ab%2B%2Fcd%3D%3D&delimiter=%2F&list-type=2"
        "&prefix=dir%2Fsub%20dir%2F%C3%BC&uploads="
    )


def test_canonical_query_string_repeated_names_sort_by_value() -> None:
    """Repeated names are kept and ordered by encoded value."""
    assert canonical_query_string([("k", "b"), ("k", "a"), ("k", "B")]) == "k=B&k=a&k=b"
    assert canonical_query_string([]) == ""


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=6))
def test_encode_query_is_canonical_form(params: list[tuple[str, str]]) -> None:
    """The query sent is the canonical query, and it decodes back to the same pairs."""
    wire = encode_query(params)
    pairs = (part.partition("=") for part in wire.split("&")) if wire else ()
    decoded = [(urllib.parse.unquote(n), urllib.parse.unquote(v)) for n, _, v in pairs]

    assert wire == canonical_query_string(params)
    assert sorted(decoded) == sorted(params)


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------


def test_canonical_headers_lowercase_sort_and_trim() -> None:
    """Names are lower-cased and sorted; values trimmed, inner whitespace collapsed."""
    headers = {
        "X-Amz-Meta-B": "  two   words\t\tand  tab ",
        "Content-Type": "text/plain;  charset=utf-8",
        "host": "h",
        "If-Match": '"etag"',
        "Empty": "",
    }

    assert canonical_headers(headers) == (
        'content-type:text/plain; charset=utf-8\nempty:\nhost:h\nif-match:"etag"\n'
        "x-amz-meta-b:two words and tab\n"
    )
    assert signed_headers(headers) == "content-type;empty;host;if-match;x-amz-meta-b"


def test_canonical_headers_joins_names_differing_in_case() -> None:
    """Two entries for one header name (any case) are one header whose values join with ','."""
    headers = {"My-Header": "a", "my-header": " b "}

    assert canonical_headers(headers) == "my-header:a,b\n"
    assert signed_headers(headers) == "my-header"


@pytest.mark.parametrize("name", sorted(UNSIGNED_HEADERS))
def test_unsigned_headers_are_left_out(name: str) -> None:
    """Hop-by-hop, tracing and content-length headers are never signed."""
    headers = {"host": "h", name.upper(): "v"}

    assert canonical_headers(headers) == "host:h\n"
    assert signed_headers(headers) == "host"


def test_unsigned_headers_cover_botocore_1_43_list() -> None:
    """Every header botocore 1.43 leaves unsigned is unsigned here too, plus content-length."""
    botocore_1_43 = {
        "user-agent",
        "expect",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "x-amzn-trace-id",
    }

    assert botocore_1_43 <= UNSIGNED_HEADERS
    assert "content-length" in UNSIGNED_HEADERS
    assert not {"host", "range", "content-type", "content-md5", "x-amz-date"} & UNSIGNED_HEADERS


# ---------------------------------------------------------------------------
# Steps and sign_request
# ---------------------------------------------------------------------------

CREDS = AwsCreds("AKIDEXAMPLE", "secret/with+chars=", {})
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDEXAMPLE+token/value=="
CREDS_WITH_TOKEN = AwsCreds("ASIAEXAMPLE", "secret/with+chars=", {"x-amz-security-token": TOKEN})
NOW = datetime(2024, 2, 29, 23, 59, 58, 999999, tzinfo=timezone.utc)


def _sign(**overrides: object) -> dict[str, str]:
    kwargs: dict[str, object] = {
        "method": "GET",
        "host": "bucket.s3.eu-west-1.amazonaws.com",
        "path": "/key",
        "query": [],
        "headers": {},
        "payload_hash": EMPTY_SHA256,
        "credentials": CREDS,
        "region": "eu-west-1",
        "timestamp": NOW,
    }
    kwargs.update(overrides)
    return sign_request(**kwargs)  # type: ignore[arg-type]


def test_step_functions_shapes() -> None:
    """credential_scope, string_to_sign and authorization_header have the spec's layout."""
    scope = credential_scope("20240229", "eu-west-1", "s3")

    assert scope == "20240229/eu-west-1/s3/aws4_request"
    assert string_to_sign("20240229T235958Z", scope, "x") == (
        "AWS4-HMAC-SHA256\n20240229T235958Z\n20240229/eu-west-1/s3/aws4_request\n"
        + hashlib.sha256(b"x").hexdigest()
    )
    assert authorization_header("AK", scope, "host;x-amz-date", "ab") == (
        "AWS4-HMAC-SHA256 Credential=AK/20240229/eu-west-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=ab"
    )
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256
    assert UNSIGNED_PAYLOAD == "UNSIGNED-PAYLOAD"


def test_sign_request_adds_headers_and_keeps_inputs() -> None:
    """The result is the input headers (unchanged) plus host, date, hash and Authorization."""
    headers = {"Content-Type": "  text/plain  ", "x-amz-meta-a": "1"}

    out = _sign(method="PUT", headers=headers, payload_hash=UNSIGNED_PAYLOAD)

    assert headers == {"Content-Type": "  text/plain  ", "x-amz-meta-a": "1"}
    assert list(out) == [
        "Content-Type",
        "x-amz-meta-a",
        "host",
        "x-amz-date",
        "x-amz-content-sha256",
        "Authorization",
    ]
    assert out["Content-Type"] == "  text/plain  "
    assert out["x-amz-date"] == "20240229T235958Z"
    assert out["x-amz-content-sha256"] == UNSIGNED_PAYLOAD
    assert (
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-a,"
        in (out["Authorization"])
    )


def test_sign_request_is_deterministic() -> None:
    """Same inputs, same headers: there is no hidden clock or randomness."""
    assert _sign() == _sign()
    assert _sign()["Authorization"] != _sign(timestamp=NOW + timedelta(seconds=1))["Authorization"]


def test_sign_request_signs_session_token() -> None:
    """pre_auth_headers (the session token) are sent and signed."""
    out = _sign(credentials=CREDS_WITH_TOKEN)

    assert out["x-amz-security-token"] == TOKEN
    assert (
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
        in (out["Authorization"])
    )
    assert out["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240229/eu-west-1/s3/aws4_request,"
    )


def test_sign_request_matches_step_functions() -> None:
    """sign_request is the composition of the step functions over its own output headers."""
    query = [("list-type", "2"), ("prefix", "a b/")]
    out = _sign(path="/bucket", query=query, credentials=CREDS_WITH_TOKEN)
    to_sign = {k: v for k, v in out.items() if k != "Authorization"}
    scope = credential_scope("20240229", "eu-west-1", "s3")

    creq = canonical_request("GET", "/bucket", query, to_sign, EMPTY_SHA256)
    key = signing_key(CREDS_WITH_TOKEN.secret_access_key, "20240229", "eu-west-1", "s3")
    sig = signature(key, string_to_sign("20240229T235958Z", scope, creq))

    assert out["Authorization"] == authorization_header(
        "ASIAEXAMPLE", scope, signed_headers(to_sign), sig
    )


def test_sign_request_leaves_unsigned_headers_unsigned() -> None:
    """Blacklisted headers and content-length are sent but not signed."""
    extra = {"User-Agent": "jupyters3/1", "Expect": "100-continue", "Content-Length": "5"}

    out = _sign(method="PUT", headers=extra)

    assert {k: out[k] for k in extra} == extra
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in out["Authorization"]
    assert out["Authorization"] == _sign(method="PUT")["Authorization"]


def test_sign_request_signature_covers_trimmed_values() -> None:
    """Values differing only in outer or repeated whitespace sign the same."""
    a = _sign(headers={"Range": "bytes=0-9"})
    b = _sign(headers={"range": "  bytes=0-9\t"})

    assert a["Authorization"] == b["Authorization"]


@pytest.mark.parametrize(
    "timestamp",
    [
        datetime(2024, 1, 1, 12, 0, 0),
        datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=["naive", "utc+2", "utc-5"],
)
def test_sign_request_rejects_non_utc_timestamps(timestamp: datetime) -> None:
    """A naive or non-UTC timestamp is rejected rather than guessed."""
    with pytest.raises(ValueError, match="timezone-aware datetime in UTC"):
        _sign(timestamp=timestamp)


def test_sign_request_accepts_any_utc_tzinfo() -> None:
    """Any tzinfo with a zero offset is UTC; microseconds are dropped."""
    other_utc = NOW.replace(tzinfo=timezone(timedelta(0), "Z"))

    assert _sign(timestamp=other_utc) == _sign(timestamp=NOW.replace(microsecond=0))


def test_sign_request_zero_pads_years() -> None:
    """The timestamp has four digits of year even before year 1000."""
    out = _sign(timestamp=datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone.utc))

    assert out["x-amz-date"] == "09990102T030405Z"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "get"}, "method"),
        ({"method": ""}, "method"),
        ({"path": "key"}, "path"),
        ({"path": "/a b"}, "path"),
        ({"path": "/%2f"}, "path"),
        ({"path": "/ü"}, "path"),
        ({"host": ""}, "host"),
        ({"host": "user@host"}, "host"),
        ({"host": "host/path"}, "host"),
        ({"payload_hash": "ABC"}, "payload_hash"),
        ({"payload_hash": EMPTY_SHA256.upper()}, "payload_hash"),
        ({"payload_hash": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, "payload_hash"),
        ({"region": ""}, "region"),
        ({"region": "us/east"}, "region"),
        ({"region": "us east"}, "region"),
        ({"service": "s3,x"}, "service"),
        ({"credentials": AwsCreds("AK/X", "s", {})}, "access key id"),
        ({"headers": {"bad name": "v"}}, "not an HTTP token"),
        ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "printable ASCII"),
        ({"headers": {"X-Bad": "ü"}}, "printable ASCII"),
        ({"headers": {"X-Bad": "\x00"}}, "printable ASCII"),
        ({"headers": {"Range": "a", "range": "b"}}, "given twice"),
        ({"headers": {"Host": "other"}}, "set by sign_request"),
        ({"headers": {"X-Amz-Date": "20240101T000000Z"}}, "set by sign_request"),
        ({"headers": {"X-Amz-Content-SHA256": EMPTY_SHA256}}, "set by sign_request"),
        ({"headers": {"Authorization": "x"}}, "set by sign_request"),
        (
            {"headers": {"X-Amz-Security-Token": "t"}, "credentials": CREDS_WITH_TOKEN},
            "given twice",
        ),
    ],
)
def test_sign_request_rejects_malformed_input(overrides: dict[str, object], message: str) -> None:
    """Inputs that would make the bytes sent differ from the bytes signed are refused."""
    with pytest.raises(ValueError, match=message):
        _sign(**overrides)


# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

SECRET = "Sup3r/Secret+Key=ExampleOnly"


def test_secret_not_in_repr() -> None:
    """The credentials' repr hides the secret and the session token."""
    creds = AwsCreds("AKID", SECRET, {"x-amz-security-token": TOKEN})

    assert SECRET not in repr(creds)
    assert TOKEN not in repr(creds)
    assert SECRET not in str(creds)


def test_secret_not_in_signed_headers() -> None:
    """No header sent carries the secret."""
    out = _sign(credentials=AwsCreds("AKID", SECRET, {}))

    assert all(SECRET not in value for value in out.values())


def test_invalid_secret_error_hides_secret() -> None:
    """A secret that cannot be encoded raises without the secret in message or chain."""
    bad = SECRET + "\udc80"

    with pytest.raises(ValueError) as info:
        _sign(credentials=AwsCreds("AKID", bad, {}))

    err = info.value
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert err.__cause__ is None and err.__context__ is None
    assert "secret access key" in str(err)


def test_invalid_token_error_hides_token() -> None:
    """A session token that cannot be sent is named, never shown."""
    creds = AwsCreds("AKID", SECRET, {"x-amz-security-token": TOKEN + "\n"})

    with pytest.raises(ValueError) as info:
        _sign(credentials=creds)

    assert TOKEN not in str(info.value)
    assert SECRET not in str(info.value)
    assert "x-amz-security-token" in str(info.value)


_BREAKAGES = {
    "raw path": lambda key, token: {"path": "/b/" + key + " "},
    "token with newline": lambda key, token: {
        "credentials": AwsCreds("AKID", SECRET, {"x-amz-security-token": token + "\n"})
    },
    "bad secret": lambda key, token: {"credentials": AwsCreds("AKID", SECRET + "\ud800", {})},
    "naive time": lambda key, token: {"timestamp": datetime(2024, 1, 1)},
    "bad header": lambda key, token: {"headers": {"x-amz-meta-k": key + "\x01"}},
}


@given(
    key=strategies.s3_keys(),
    token=strategies.session_tokens(),
    breakage=st.sampled_from(sorted(_BREAKAGES)),
)
def test_errors_never_contain_secret_or_token(key: str, token: str, breakage: str) -> None:
    """Whatever input is wrong, the error names it but shows neither secret nor token."""
    overrides = _BREAKAGES[breakage](key, token)
    overrides.setdefault("credentials", AwsCreds("AKID", SECRET, {"x-amz-security-token": token}))

    with pytest.raises(ValueError) as info:
        _sign(**overrides)

    text = f"{info.value}{info.value!r}"
    assert SECRET not in text
    assert token not in text
    assert info.value.__context__ is None


# ---------------------------------------------------------------------------
# Purity
# ---------------------------------------------------------------------------


def test_signing_module_is_pure() -> None:
    """signing.py imports no I/O, event-loop or clock module and reads no clock."""
    tree = ast.parse(inspect.getsource(signing))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}

    assert imported == {
        "__future__",
        "hashlib",
        "hmac",
        "re",
        "collections.abc",
        "datetime",
        "functools",
        "jupyters3.credentials",
    }
    assert not {"now", "utcnow", "today", "time", "monotonic"} & attributes
