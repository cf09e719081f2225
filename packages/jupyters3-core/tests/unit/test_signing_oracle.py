"""Differential test: our SigV4 against botocore's ``S3SigV4Auth`` on random S3 requests.

botocore is a test-only dependency and is imported only here. Each example builds one
request (method, endpoint, key, query, headers, body, credentials, region, time), signs
it with ``sign_request`` and with botocore (clock frozen), and compares the full
``Authorization`` header; on a mismatch the assertion shows both canonical requests.

botocore is fed independently encoded input, so the comparison covers our encoding
too: its URL path comes from botocore's own ``percent_encode(path, safe="/~")`` (what
its serializer does for ``{Key+}``) and its query from ``request.params``, which it
encodes and sorts itself.

Known, deliberate differences, kept out of the comparison:

* ``Content-Length`` goes to our signer only. We never sign it; botocore adds it after
  signing, so it is never in a botocore signature either. Passing it to
  ``S3SigV4Auth.add_auth`` directly would make botocore sign it.
* No ``Date`` header: botocore rewrites a ``Date`` header from its own clock.
* Header values are printable ASCII: ``sign_request`` refuses anything else, because
  an HTTP client does not send non-ASCII header text as the UTF-8 that would be signed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import quote

import botocore.auth
import pytest
import strategies
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyters3.credentials import AwsCreds
from jupyters3.s3.signing import (
    UNSIGNED_HEADERS,
    UNSIGNED_PAYLOAD,
    canonical_request,
    encode_path,
    encode_query,
    sign_request,
)

# The name botocore.auth calls for "now" (botocore 1.43/1.44: imported from compat).
CLOCK = "botocore.auth.get_current_datetime"
MINIMUM_TOTAL = 2000


@dataclass
class Stats:
    """Requests compared in this process, and which oracle tests ran."""

    compared: int = 0
    mismatches: int = 0
    tests_run: set[str] = field(default_factory=set)


STATS = Stats()


@pytest.fixture(scope="session", autouse=True)
def _oracle_summary() -> Iterator[None]:
    """Print the number of compared requests once the session ends (shown with -s or -rA)."""
    yield
    print(f"\nsigning oracle: {STATS.compared} requests compared, {STATS.mismatches} mismatches")
    if STATS.tests_run == ORACLE_TESTS:
        assert STATS.compared >= MINIMUM_TOTAL
        assert STATS.mismatches == 0


@dataclass
class Case:
    """One request, as both signers receive it."""

    method: str
    scheme: str
    hostname: str
    port: int | None
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    sign_payload: bool
    access_key: str
    secret: str
    token: str | None
    region: str
    timestamp: datetime


def _host_header(scheme: str, hostname: str, port: int | None) -> str:
    default = 443 if scheme == "https" else 80
    return hostname if port in (None, default) else f"{hostname}:{port}"


def compare(case: Case) -> None:
    """Sign ``case`` with both signers and assert identical results."""
    wire_path = encode_path(case.raw_path)
    boto_path = percent_encode(case.raw_path, safe="/~")
    assert wire_path == boto_path

    payload_hash = hashlib.sha256(case.body).hexdigest() if case.sign_payload else UNSIGNED_PAYLOAD
    ours_headers = dict(case.headers)
    if case.body or case.method in ("PUT", "POST"):
        ours_headers["Content-Length"] = str(len(case.body))
    pre_auth = {"X-Amz-Security-Token": case.token} if case.token else {}
    ours = sign_request(
        method=case.method,
        host=_host_header(case.scheme, case.hostname, case.port),
        path=wire_path,
        query=case.query,
        headers=ours_headers,
        payload_hash=payload_hash,
        credentials=AwsCreds(case.access_key, case.secret, pre_auth),
        region=case.region,
        timestamp=case.timestamp,
    )

    netloc = case.hostname if case.port is None else f"{case.hostname}:{case.port}"
    request = AWSRequest(
        method=case.method,
        url=f"{case.scheme}://{netloc}{boto_path}",
        headers=dict(case.headers),
        data=case.body,
        params=list(case.query),
    )
    # S3SigV4Auth replaces any X-Amz-Content-SHA256 header with self.payload(), which
    # hashes request.body unless payload signing is off in the client config.
    request.context["client_config"] = Config(s3={"payload_signing_enabled": case.sign_payload})
    auth = S3SigV4Auth(Credentials(case.access_key, case.secret, case.token), "s3", case.region)
    with mock.patch(CLOCK, return_value=case.timestamp.replace(tzinfo=None)):
        auth.add_auth(request)

    STATS.compared += 1
    theirs = request.headers["Authorization"]
    if ours["Authorization"] != theirs:
        STATS.mismatches += 1
        to_sign = {k: v for k, v in ours.items() if k != "Authorization"}
        ours_creq = canonical_request(case.method, wire_path, case.query, to_sign, payload_hash)
        theirs_creq = auth.canonical_request(request)
        assert ours_creq == theirs_creq, "canonical requests differ"
        assert ours["Authorization"] == theirs
    assert request.headers["X-Amz-Content-SHA256"] == ours["x-amz-content-sha256"]
    assert request.headers["X-Amz-Date"] == ours["x-amz-date"]
    assert request.headers.get("X-Amz-Security-Token") == ours.get("X-Amz-Security-Token")
    assert auth.canonical_query_string(request) == encode_query(case.query)


# ---------------------------------------------------------------------------
# Strategies (built once at import: constructing strategies inside draws is slow)
# ---------------------------------------------------------------------------

# Headers botocore leaves unsigned in the installed version (1.44 added the tracing
# ones); only those are generated, so an older botocore cannot cause false alarms.
BOTO_UNSIGNED = sorted(set(botocore.auth.SIGNED_HEADERS_BLACKLIST) & UNSIGNED_HEADERS)
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
WHITESPACE = st.text(st.sampled_from(" \t"), max_size=3)
INNER_WHITESPACE = st.sampled_from([" ", "  ", " \t ", "\t"])
CASINGS: list[Callable[[str], str]] = [str.lower, str.upper, str.title, lambda name: name]
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=15)
KEYS = st.one_of(
    strategies.s3_keys(),
    strategies.s3_keys(min_segments=15, max_segments=40),  # deep paths
)
NON_EMPTY_KEYS = strategies.s3_keys(allow_empty=False)
BUCKETS = strategies.bucket_names()
REGIONS = strategies.regions()
OPAQUE = strategies.opaque_tokens()
HEX_DIGITS = "0123456789abcdef"
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOKEN_CHARS = "!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"


@st.composite
def _header_values(draw: st.DrawFn, core: st.SearchStrategy[str]) -> str:
    """A printable-ASCII value, sometimes with outer whitespace and inner runs of it."""
    value = draw(core)
    if draw(st.booleans()):
        value = value.replace(" ", draw(INNER_WHITESPACE))
    return draw(WHITESPACE) + value + draw(WHITESPACE)


def header_values(core: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Header values around ``core`` (default: any printable ASCII text)."""
    return _header_values(core if core is not None else st.text(PRINTABLE, max_size=30))


ANY_VALUE = header_values()


@st.composite
def _endpoints(draw: st.DrawFn) -> tuple[str, str, int | None, str]:
    """(scheme, hostname, port, path prefix): virtual-host, path-style or custom endpoint."""
    scheme = draw(st.sampled_from(["http", "https"]))
    bucket = draw(BUCKETS)
    region = draw(REGIONS)
    style = draw(st.sampled_from(["virtual", "path", "custom"]))
    if style == "virtual":
        hostname, prefix = f"{bucket}.s3.{region}.amazonaws.com", ""
    elif style == "path":
        hostname, prefix = f"s3.{region}.amazonaws.com", "/" + bucket
    else:
        custom = ["localhost", "127.0.0.1", "[::1]", "minio.internal", "s3.example.com"]
        hostname, prefix = draw(st.sampled_from(custom)), "/" + bucket
    default = 443 if scheme == "https" else 80
    port = draw(st.one_of(st.none(), st.just(default), st.integers(1, 65535)))
    return scheme, hostname, port, prefix


ENDPOINTS = _endpoints()


@st.composite
def _headers_from(draw: st.DrawFn, candidates: dict[str, st.SearchStrategy[str]]) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(sorted(candidates)), unique=True)) if candidates else []
    names += draw(st.lists(st.sampled_from(BOTO_UNSIGNED), unique=True, max_size=3))
    return {
        draw(st.sampled_from(CASINGS))(name): draw(candidates.get(name, ANY_VALUE))
        for name in names
    }


def headers_from(
    candidates: dict[str, st.SearchStrategy[str]],
) -> st.SearchStrategy[dict[str, str]]:
    """A random subset of ``candidates``, names in random case, plus unsigned extras."""
    return _headers_from(candidates)


ETAGS = st.builds(
    lambda digest, parts: f'"{digest}{parts}"',
    st.text(st.sampled_from(HEX_DIGITS), min_size=32, max_size=32),
    st.one_of(st.just(""), st.integers(1, 10000).map(lambda n: f"-{n}")),
)
# As botocore's handlers do: quote(f"{bucket}/{key}", safe="-._~/") [+ ?versionId=...]
COPY_SOURCES = st.builds(
    lambda bucket, key, version: quote(f"{bucket}/{key}", safe="-._~/") + version,
    BUCKETS,
    NON_EMPTY_KEYS,
    st.one_of(st.just(""), OPAQUE.map(lambda v: f"?versionId={v}")),
)
RANGES = st.builds(
    lambda first, length: f"bytes={first}-{first + length}",
    st.integers(0, 10**9),
    st.integers(0, 10**6),
)
CONTENT_MD5 = st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode())

OBJECT_HEADERS: dict[str, st.SearchStrategy[str]] = {
    "content-type": header_values(
        st.sampled_from(["application/json", "text/plain; charset=utf-8", "image/png"])
    ),
    "range": RANGES,
    "x-amz-copy-source": COPY_SOURCES,
    "x-amz-metadata-directive": st.sampled_from(["COPY", "REPLACE"]),
    "x-amz-copy-source-if-match": ETAGS,
    "if-match": ETAGS,
    "if-none-match": st.one_of(st.just("*"), ETAGS),
    "if-modified-since": st.just("Wed, 21 Oct 2015 07:28:00 GMT"),
    "content-md5": CONTENT_MD5,
    "x-amz-meta-mtime": st.floats(0, 2e9).map(repr),
    "x-amz-meta-note": ANY_VALUE,
    "x-amz-storage-class": st.sampled_from(["STANDARD", "INTELLIGENT_TIERING"]),
    "x-amz-server-side-encryption": st.sampled_from(["AES256", "aws:kms"]),
    "cache-control": ANY_VALUE,
}
MULTIPART_HEADERS = {**OBJECT_HEADERS, "x-amz-copy-source-range": RANGES}

ACCESS_KEYS = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["AKIA", "ASIA"]),
    st.text(st.sampled_from(UPPER_ALNUM), min_size=12, max_size=16),
)
SECRETS = st.one_of(
    st.text(
        st.sampled_from(UPPER_ALNUM + "abcdefghijklmnopqrstuvwxyz/+"), min_size=40, max_size=40
    ),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
)
TOKENS = st.one_of(st.none(), strategies.session_tokens())
TIMESTAMPS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31, 23, 59, 59),
    timezones=st.just(timezone.utc),
)
BODIES = st.one_of(st.just(b""), st.binary(max_size=64))


@st.composite
def _cases(
    draw: st.DrawFn,
    shapes: st.SearchStrategy[tuple[str, list[tuple[str, str]]]],
    headers: st.SearchStrategy[dict[str, str]],
    with_key: bool,
) -> Case:
    scheme, hostname, port, prefix = draw(ENDPOINTS)
    raw_path = prefix + "/" + draw(KEYS) if with_key else prefix or "/"
    method, query = draw(shapes)
    return Case(
        method=method,
        scheme=scheme,
        hostname=hostname,
        port=port,
        raw_path=raw_path,
        query=draw(st.permutations(query)),
        headers=draw(headers),
        body=draw(BODIES),
        sign_payload=draw(st.booleans()),
        access_key=draw(ACCESS_KEYS),
        secret=draw(SECRETS),
        token=draw(TOKENS),
        region=draw(REGIONS),
        timestamp=draw(TIMESTAMPS),
    )


def cases(
    methods: list[str],
    queries: st.SearchStrategy[list[tuple[str, str]]],
    headers: st.SearchStrategy[dict[str, str]],
    *,
    with_key: bool = True,
) -> st.SearchStrategy[Case]:
    """Full requests around the given methods, query and header strategies."""
    return _cases(st.tuples(st.sampled_from(methods), queries), headers, with_key)


def _optional(
    name: str, values: st.SearchStrategy[str]
) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.one_of(st.just([]), values.map(lambda v: [(name, v)]))


LISTING_QUERIES = st.builds(
    lambda *parts: [("list-type", "2")] + [pair for part in parts for pair in part],
    _optional("prefix", KEYS.map(lambda k: k + "/")),
    _optional("delimiter", st.one_of(st.just("/"), strategies.key_chars())),
    _optional("continuation-token", strategies.opaque_tokens(max_size=200)),
    _optional("encoding-type", st.just("url")),
    _optional("max-keys", st.integers(0, 1000).map(str)),
    _optional("start-after", KEYS),
    _optional("fetch-owner", st.sampled_from(["true", "false"])),
)
OBJECT_QUERIES = st.builds(
    lambda *parts: [pair for part in parts for pair in part],
    _optional("versionId", OPAQUE),
    _optional("partNumber", st.integers(1, 10000).map(str)),
    _optional("response-content-disposition", st.just('attachment; filename="a b.ipynb"')),
)
UPLOAD_IDS = strategies.opaque_tokens(min_size=8, max_size=120)
# (method, query) of CreateMultipartUpload, UploadPart(Copy), Complete, Abort, ListParts.
MULTIPART_SHAPES = st.one_of(
    st.just(("POST", [("uploads", "")])),
    st.builds(
        lambda n, u: ("PUT", [("partNumber", str(n)), ("uploadId", u)]),
        st.integers(1, 10000),
        UPLOAD_IDS,
    ),
    UPLOAD_IDS.map(lambda u: ("POST", [("uploadId", u)])),
    UPLOAD_IDS.map(lambda u: ("DELETE", [("uploadId", u)])),
    UPLOAD_IDS.map(lambda u: ("GET", [("uploadId", u), ("max-parts", "1000")])),
)


MULTIPART_ONLY_CASES = _cases(MULTIPART_SHAPES, headers_from(MULTIPART_HEADERS), True)
DELETE_OBJECTS_CASES = cases(
    ["POST"], st.just([("delete", "")]), headers_from({"content-md5": CONTENT_MD5}), with_key=False
)


@st.composite
def _multipart_cases(draw: st.DrawFn) -> Case:
    # About one in five is a DeleteObjects batch (POST /bucket?delete=).
    return draw(DELETE_OBJECTS_CASES if draw(st.integers(0, 4)) == 0 else MULTIPART_ONLY_CASES)


MULTIPART_CASES = _multipart_cases()

# Names sign_request sets itself, and Date, which botocore rewrites.
_RESERVED = {"host", "x-amz-date", "x-amz-content-sha256", "authorization", "date"}
_RESERVED |= {"x-amz-security-token", "content-length"}
HEADER_NAMES = st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=20).filter(
    lambda name: name.lower() not in _RESERVED
)
ARBITRARY_HEADERS = st.lists(
    st.tuples(HEADER_NAMES, ANY_VALUE), max_size=6, unique_by=lambda pair: pair[0].lower()
).map(dict)

# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

ORACLE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _run(name: str, prop: Callable[[], None], minimum: int) -> None:
    """Run a Hypothesis property and check it compared at least ``minimum`` requests."""
    before = STATS.compared
    prop()
    STATS.tests_run.add(name)
    assert STATS.compared - before >= minimum


@settings(ORACLE, max_examples=1500)
@given(
    case=cases(
        ["GET", "HEAD", "PUT", "DELETE"],
        OBJECT_QUERIES,
        headers_from(OBJECT_HEADERS),
    )
)
def _object_requests(case: Case) -> None:
    compare(case)


def test_object_requests_match_botocore() -> None:
    """Get/Head/Put/Copy/Delete of awkward keys sign exactly as botocore signs them."""
    _run("objects", _object_requests, minimum=1300)


@settings(ORACLE, max_examples=900)
@given(
    case=cases(
        ["GET"],
        LISTING_QUERIES,
        headers_from({}),
        with_key=False,
    )
)
def _listing_requests(case: Case) -> None:
    compare(case)


def test_listing_requests_match_botocore() -> None:
    """ListObjectsV2 with awkward prefixes, delimiters and tokens signs as botocore does."""
    _run("listing", _listing_requests, minimum=800)


@settings(ORACLE, max_examples=900)
@given(case=MULTIPART_CASES)
def _multipart_requests(case: Case) -> None:
    compare(case)


def test_multipart_and_batch_delete_requests_match_botocore() -> None:
    """Multipart operations and DeleteObjects sign as botocore does."""
    _run("multipart", _multipart_requests, minimum=800)


@settings(ORACLE, max_examples=800)
@given(
    case=cases(
        ["GET", "PUT", "POST", "DELETE", "HEAD"],
        st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=5),
        ARBITRARY_HEADERS,
    )
)
def _arbitrary_requests(case: Case) -> None:
    compare(case)


def test_arbitrary_requests_match_botocore() -> None:
    """Any query (repeated and empty names included) and any token headers sign alike."""
    _run("arbitrary", _arbitrary_requests, minimum=700)


ORACLE_TESTS = {"objects", "listing", "multipart", "arbitrary"}


def test_unsigned_headers_cover_installed_botocore() -> None:
    """Every header the installed botocore leaves unsigned is unsigned here too."""
    assert set(botocore.auth.SIGNED_HEADERS_BLACKLIST) <= UNSIGNED_HEADERS


def test_oracle_reproduces_s3_doc_vector() -> None:
    """The harness itself is sound: botocore and ours both give the S3 docs' signature."""
    case = Case(
        method="GET",
        scheme="https",
        hostname="examplebucket.s3.amazonaws.com",
        port=None,
        raw_path="/test.txt",
        query=[],
        headers={"Range": "bytes=0-9"},
        body=b"",
        sign_payload=True,
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        token=None,
        region="us-east-1",
        timestamp=datetime(2013, 5, 24, tzinfo=timezone.utc),
    )
    request = AWSRequest(method="GET", url="https://examplebucket.s3.amazonaws.com/test.txt")
    request.headers["Range"] = "bytes=0-9"
    auth = S3SigV4Auth(Credentials(case.access_key, case.secret), "s3", "us-east-1")
    with mock.patch(CLOCK, return_value=datetime(2013, 5, 24)):
        auth.add_auth(request)

    compare(case)

    assert request.headers["Authorization"].endswith(
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
