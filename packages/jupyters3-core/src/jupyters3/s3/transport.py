"""The HTTP edge of the S3 client: sign, send on Tornado, map errors, retry.

This is the only module of jupyters3 that performs HTTP requests to S3.
It owns one ``AsyncHTTPClient`` (``force_instance=True``, closed by
:meth:`Transport.close`) and never lets Tornado queue requests: a semaphore
bounds the requests in flight to the client's ``max_clients``.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, cast

from tornado import httputil
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPTimeoutError

from jupyters3._version import __version__
from jupyters3.credentials import AwsCreds
from jupyters3.errors import (
    BadConfiguration,
    BodyTooLarge,
    NetworkError,
    S3Error,
    error_from_response,
)
from jupyters3.s3 import endpoint as ep
from jupyters3.s3.retry import RetryPolicy
from jupyters3.s3.signing import UNSIGNED_PAYLOAD, encode_query, sign_request
from jupyters3.s3.xml import parse_error

__all__ = ["Body", "CredentialsSource", "FileBody", "IterBody", "Request", "Response", "Transport"]

log = logging.getLogger("jupyters3.s3")

#: Returns the credentials to sign the next request with.
CredentialsSource = Callable[[], Awaitable[AwsCreds]]

#: Bodies above this are hashed in a worker thread, off the event loop.
_HASH_OFF_LOOP = 256 * 1024
_USER_AGENT = f"jupyters3/{__version__}"


class Body(Protocol):
    """A request body streamed from somewhere else than memory.

    ``length`` must be exact (S3 needs a Content-Length). ``replayable`` says
    whether :meth:`chunks` may be called again to re-send the body whole on a
    retry; a one-shot body is never retried.
    """

    length: int
    replayable: bool

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes, in order."""
        ...


@dataclass
class FileBody:
    """``length`` bytes of a local file from ``offset``, read in a worker thread."""

    path: str
    offset: int = 0
    length: int = 0
    block_size: int = 1024 * 1024
    replayable: bool = field(default=True, init=False)

    def read_all(self) -> bytes:
        """The whole range at once (blocking: call it in a worker thread)."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.length)
        if len(data) != self.length:
            raise OSError(f"{self.path} ended {self.length - len(data)} bytes early")
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """Read the range block by block without blocking the event loop."""
        with open(self.path, "rb") as fh:  # noqa: ASYNC230 - reads below run in a thread
            await asyncio.to_thread(fh.seek, self.offset)
            remaining = self.length
            while remaining > 0:
                block = await asyncio.to_thread(fh.read, min(self.block_size, remaining))
                if not block:
                    raise OSError(f"{self.path} ended {remaining} bytes early")
                remaining -= len(block)
                yield block


@dataclass
class IterBody:
    """A one-shot body from an async iterator (never retried)."""

    source: AsyncIterator[bytes]
    length: int
    replayable: bool = field(default=False, init=False)

    def chunks(self) -> AsyncIterator[bytes]:
        """The iterator itself: it can be consumed once."""
        return self.source


@dataclass
class Request:
    """One S3 operation, before signing.

    ``idempotent`` says whether sending it twice has the same effect as once:
    a request whose outcome is unknown is only retried when it is.
    """

    operation: str
    method: str
    key: str | None
    query: Sequence[tuple[str, str]] = ()
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Body | None = None
    idempotent: bool = True
    #: Receives the body of a successful response chunk by chunk instead of buffering it.
    sink: Callable[[bytes], Awaitable[None] | None] | None = None
    #: Parse a 200 response for an embedded ``<Error>`` (CopyObject, CompleteMultipartUpload).
    may_fail_with_200: bool = False
    #: Send a Content-MD5 of the (in-memory) body, so S3 verifies what it stores.
    content_md5: bool = False
    #: Refuse a successful answer whose body is larger (:class:`BodyTooLarge`),
    #: from its Content-Length, before reading the body.
    max_body: int | None = None


@dataclass
class Response:
    """A successful response. ``body`` is empty when a sink took it."""

    status: int
    headers: httputil.HTTPHeaders
    body: bytes = b""


class _Exchange:
    """Collects the status and headers of one attempt; routes body chunks
    (refusing, at the first, a body over ``max_body``: :class:`BodyTooLarge`)."""

    def __init__(
        self, sink: Callable[[bytes], Awaitable[None] | None] | None, max_body: int | None = None
    ) -> None:
        self.status: int | None = None
        self.headers = httputil.HTTPHeaders()
        self.error_body = bytearray()
        self.delivered = 0
        self._sink = sink
        self._max_body = max_body
        #: Set when the body was refused as too large: ``(size or None, limit)``.
        self.too_large: tuple[int | None, int] | None = None

    def on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            self.status = httputil.parse_response_start_line(line.strip()).code
            self.headers = httputil.HTTPHeaders()
        elif line.strip():
            self.headers.parse_line(line)

    def on_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        if self.status is not None and self.status >= 300:
            if len(self.error_body) < 64 * 1024:
                self.error_body += chunk
            return None
        if self._max_body is not None:
            size = _content_length(self.headers)
            if (size or 0) > self._max_body or self.delivered + len(chunk) > self._max_body:
                self.too_large = (size, self._max_body)
                raise _TooLarge()
        self.delivered += len(chunk)
        assert self._sink is not None
        return self._sink(chunk)


class _TooLarge(httputil.HTTPInputError):
    """Raised by :meth:`_Exchange.on_chunk` to stop Tornado's client reading a
    body that is too large: Tornado closes the connection quietly for an
    ``HTTPInputError`` (any other exception is logged as uncaught), and the
    fetch fails as a closed connection; ``_Exchange.too_large`` says why."""

    def __init__(self) -> None:
        super().__init__("body over the request's max_body")


def _is_curl_error(exc: BaseException, errno: int) -> bool:
    """Whether ``exc`` is Tornado's CurlError for libcurl error ``errno``."""
    return type(exc).__name__ == "CurlError" and getattr(exc, "errno", None) == errno


def _timeout_kind(exc: BaseException) -> Literal["connect", "read"] | None:
    """Which timeout ``exc`` is, if any.

    Tornado's simple client raises ``HTTPTimeoutError`` (599): "Timeout during
    request" once connected (read), "Timeout while connecting" (or "... in
    request queue") before (connect). libcurl has one code for both (28,
    CURLE_OPERATION_TIMEDOUT); its message names the phase: "Connection timed
    out after ...", "Resolving timed out after ..." or "Failed to connect ..."
    before the request left, "Operation timed out after ... bytes received"
    after. An unrecognised wording counts as a read timeout: the request may
    have been sent, the safe assumption.
    """
    if isinstance(exc, HTTPTimeoutError):
        return "read" if "during request" in str(exc) else "connect"
    if _is_curl_error(exc, _CURL_TIMEOUT):
        text = str(exc).lower()
        connecting = ("connection timed out", "resolving timed out", "failed to connect")
        return "connect" if any(phrase in text for phrase in connecting) else "read"
    return None


def _content_length(headers: httputil.HTTPHeaders) -> int | None:
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _digests(data: bytes, want_md5: bool) -> tuple[str, str | None]:
    return hashlib.sha256(data).hexdigest(), (_md5_b64(data) if want_md5 else None)


def _producer(body: Body) -> Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]:
    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        async for chunk in body.chunks():
            await write(chunk)

    return produce


#: Error codes that mean "these credentials expired or were rotated": refreshed once.
ROTATED_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "InvalidToken",
        "InvalidAccessKeyId",
        "RequestExpired",
    }
)


def _maybe_rotated(request: Request, error: S3Error) -> bool:
    """Whether ``error`` may mean the credentials expired or were rotated.

    A HEAD answer has no body, so no error code: a bare 400 or 403 may be an
    expired token too, and is worth one refresh.
    """
    if error.code in ROTATED_CREDENTIALS:
        return True
    return request.method == "HEAD" and error.code in ("HTTP400", "HTTP403")


HttpClientChoice = Literal["auto", "curl", "simple"]
#: S3's largest object (5 TiB).
MAX_OBJECT_SIZE = 5 * 1024**4
_CURL_NOT_SENT = (6, 7)
#: File bodies up to this size are sent from memory over a kept-alive connection;
#: larger ones (multipart parts) are streamed from disk over a connection of their
#: own: a handshake per part costs little, and memory stays flat.
_POOLED_BODY_LIMIT = 1024 * 1024
_CURL_TIMEOUT = 28


#: libcurl's CURLE_FILESIZE_EXCEEDED: the answer's Content-Length passed MAXFILESIZE.
_CURL_TOO_LARGE = 63
#: libcurl refuses any larger body, error answers included: a request's
#: ``max_body`` is checked exactly once the body is in; this only keeps a huge
#: one from being read at all.
_CURL_MIN_MAX_FILESIZE = 64 * 1024


def _curl_options(curl: Any, max_filesize: int = 0) -> None:
    """S3 keys may hold ``.`` and ``..`` segments: libcurl must not squash them.

    And no verbose trace: Tornado turns it on whenever its logger is at DEBUG,
    and it logs every request header, the session token (x-amz-security-token)
    included. ``max_filesize``: refuse a larger body from its Content-Length
    (0: no limit; set on every request, since libcurl handles are reused).
    """
    import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

    curl.setopt(pycurl.PATH_AS_IS, 1)
    curl.setopt(pycurl.VERBOSE, 0)
    curl.setopt(pycurl.MAXFILESIZE_LARGE, max_filesize)


def pooled_client(choice: HttpClientChoice, max_clients: int) -> AsyncHTTPClient | None:
    """libcurl's client (keep-alive) for ``"curl"``, or for ``"auto"`` when pycurl
    is installed; ``None`` for ``"simple"``."""
    if choice == "simple":
        return None
    try:
        from tornado.curl_httpclient import CurlAsyncHTTPClient
    except ImportError:
        if choice == "curl":
            raise BadConfiguration(
                "http_client 'curl' needs pycurl: pip install 'jupyters3-core[curl]'."
            ) from None
        return None
    client = CurlAsyncHTTPClient(
        force_instance=True, max_clients=max_clients, max_body_size=MAX_OBJECT_SIZE
    )
    # libcurl sizes its connection cache from the handles in use at the moment,
    # so after a burst a single request would close all but a few connections.
    multi = getattr(client, "_multi", None)
    if multi is not None:
        import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

        multi.setopt(pycurl.M_MAXCONNECTS, max_clients)
    return client


class BlockingResolver(Resolver):
    """Resolves host names in the calling thread (no executor)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return [(fam, address) for fam, _, _, _, address in infos]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Transport:
    """Signs and sends :class:`Request` objects to one bucket, with retries."""

    def __init__(
        self,
        *,
        bucket: str,
        credentials: CredentialsSource,
        region: str,
        endpoint: ep.Endpoint,
        addressing_style: ep.AddressingStyle = "auto",
        connect_timeout: float = 10.0,
        request_timeout: float = 300.0,
        max_concurrency: int = 32,
        retry: RetryPolicy | None = None,
        validate_cert: bool = True,
        clock: Callable[[], datetime] = _utcnow,
        on_credentials_rejected: Callable[[AwsCreds], Awaitable[None]] | None = None,
        blocking_dns: bool = False,
        http_client: HttpClientChoice = "auto",
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint
        self.addressing_style = addressing_style
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.validate_cert = validate_cert
        self.retry = retry or RetryPolicy()
        self._credentials = credentials
        self._on_rejected = on_credentials_rejected
        self._clock = clock
        self._limit = asyncio.Semaphore(max_concurrency)
        # blocking_dns: for use while the interpreter exits, when no thread pool
        # (which Tornado's resolver needs) may start any more.
        extra: dict[str, Any] = {"resolver": BlockingResolver()} if blocking_dns else {}
        # Bodies are streamed to sinks, so Tornado's 100 MiB default must not cap
        # them: S3's own limit for one object is 5 TiB.
        self._http = AsyncHTTPClient(
            force_instance=True,
            max_clients=max_concurrency,
            max_body_size=MAX_OBJECT_SIZE,
            **extra,
        )
        # Tornado's own client opens a connection per request; libcurl keeps
        # them alive. Streamed bodies and downloads stay on Tornado's client,
        # which supports async producers and consumers (backpressure).
        self._pooled = None if blocking_dns else pooled_client(http_client, max_concurrency)
        # Validate the addressing now: a bad combination is a configuration error.
        ep.target(endpoint, bucket, None, style=addressing_style)

    @property
    def keeps_alive(self) -> bool:
        """Whether requests without a streamed body reuse connections (libcurl)."""
        return self._pooled is not None

    def close(self) -> None:
        """Close the HTTP clients. The transport cannot be used afterwards."""
        self._http.close()
        if self._pooled is not None:
            self._pooled.close()

    async def send(self, request: Request) -> Response:
        """Send ``request``, retrying per the policy; raise an :class:`S3Error` on failure.

        A request with a ``sink`` is not retried once part of its body reached
        the sink (the caller resumes with a Range request instead).
        """
        replayable = isinstance(request.body, (bytes, type(None))) or request.body.replayable
        safe_to_repeat = request.idempotent and replayable
        cost: int | None = None
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            exchange = (
                _Exchange(request.sink, request.max_body) if request.sink is not None else None
            )
            signed_with: list[AwsCreds] = []
            try:
                response = await self._attempt(request, exchange, signed_with)
            except S3Error as error:
                untouched = replayable and (exchange is None or exchange.delivered == 0)
                if (
                    not refreshed
                    and untouched
                    and self._on_rejected is not None
                    and signed_with
                    and _maybe_rotated(request, error)
                ):
                    # The credentials expired or rotated under us: fetch new ones
                    # and try once more (not counted as a retry attempt).
                    refreshed = True
                    attempt -= 1
                    log.info(
                        "%s: S3 answered %s; refreshing credentials", request.operation, error.code
                    )
                    await self._on_rejected(signed_with[0])
                    continue
                decision = None
                # A one-shot body cannot be sent again, whatever the error.
                if replayable and (exchange is None or exchange.delivered == 0):
                    decision = self.retry.decide(error, attempt, idempotent=safe_to_repeat)
                if decision is None:
                    error.attempts = attempt
                    if attempt > 1:
                        log.info(
                            "%s failed after %d attempts: %s", request.operation, attempt, error
                        )
                    raise
                delay, cost = decision
                log.debug(
                    "%s attempt %d failed (%s); retrying in %.3fs",
                    request.operation,
                    attempt,
                    error.code,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.retry.quota.release(cost)
            return response

    async def _attempt(
        self, request: Request, exchange: _Exchange | None, signed_with: list[AwsCreds]
    ) -> Response:
        creds = await self._credentials()
        signed_with.append(creds)
        query = encode_query(request.query)
        target = ep.target(
            self.endpoint, self.bucket, request.key, style=self.addressing_style, query=query
        )
        headers = {"user-agent": _USER_AGENT, **{k.lower(): v for k, v in request.headers.items()}}
        body = request.body
        if (
            isinstance(body, FileBody)
            and self._pooled is not None
            and exchange is None
            and body.length <= _POOLED_BODY_LIMIT
        ):
            # A small file body is read into memory (in a thread) so that it can
            # go over a kept-alive connection: libcurl takes bytes only.
            body = await asyncio.to_thread(body.read_all)
        body_bytes: bytes | None = None
        producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]] | None = None
        if isinstance(body, bytes) or body is None:
            body_bytes = body if body is not None else None
            data = body_bytes or b""
            want_md5 = request.content_md5
            if len(data) > _HASH_OFF_LOOP:
                payload_hash, md5 = await asyncio.to_thread(_digests, data, want_md5)
            else:
                payload_hash, md5 = _digests(data, want_md5)
            if want_md5:
                assert md5 is not None
                headers["content-md5"] = md5
        else:
            payload_hash = UNSIGNED_PAYLOAD
            headers["content-length"] = str(body.length)
            producer = _producer(body)

        signed = sign_request(
            method=request.method,
            host=target.host,
            path=target.path,
            query=request.query,
            headers=headers,
            payload_hash=payload_hash,
            credentials=creds,
            region=self.region,
            timestamp=self._clock(),
        )
        if body_bytes is None and producer is None and request.method in ("PUT", "POST"):
            body_bytes = b""
        http_request = HTTPRequest(
            url=target.url,
            method=request.method,
            headers=signed,
            body=body_bytes,
            # Tornado annotates body_producer too narrowly: it awaits any awaitable.
            body_producer=cast(Any, producer),
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            validate_cert=self.validate_cert,
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            header_callback=exchange.on_header if exchange else None,
            streaming_callback=exchange.on_chunk if exchange else None,
        )
        started = time.monotonic()
        async with self._limit:
            try:
                if producer or exchange or self._pooled is None:
                    response = await self._http.fetch(http_request, raise_error=False)
                else:
                    cap = max(request.max_body, _CURL_MIN_MAX_FILESIZE) if request.max_body else 0
                    http_request.prepare_curl_callback = functools.partial(
                        _curl_options, max_filesize=cap
                    )
                    response = await self._pooled.fetch(http_request, raise_error=False)
            except Exception as exc:
                if exchange is not None and exchange.too_large is not None:
                    size, limit = exchange.too_large
                    raise BodyTooLarge(size, limit, bucket=self.bucket, key=request.key) from None
                if request.max_body is not None and _is_curl_error(exc, _CURL_TOO_LARGE):
                    raise BodyTooLarge(
                        None, request.max_body, bucket=self.bucket, key=request.key
                    ) from None
                raise self._network_error(exc, request) from None
        log.debug(
            "%s %s %r -> %d in %.3fs",
            request.operation,
            request.method,
            request.key,
            response.code,
            time.monotonic() - started,
        )
        raw = bytes(exchange.error_body) if exchange and response.code >= 300 else response.body
        if response.code >= 300 or (request.may_fail_with_200 and b"<Error" in (raw or b"")[:512]):
            raise self._s3_error(response.code, response.headers, raw or b"", request)
        if request.max_body is not None and len(raw or b"") > request.max_body:
            raise BodyTooLarge(len(raw), request.max_body, bucket=self.bucket, key=request.key)
        return Response(status=response.code, headers=response.headers, body=raw or b"")

    def _s3_error(
        self, status: int, headers: httputil.HTTPHeaders, body: bytes, request: Request
    ) -> S3Error:
        info = parse_error(body)
        if status == 200:
            status = 500  # an embedded error: as the SDKs do, treat it as retryable
        return error_from_response(
            status=status,
            code=info.code if info else "",
            message=info.message if info else "",
            request_id=(info.request_id if info else "") or headers.get("x-amz-request-id", ""),
            bucket=self.bucket,
            key=request.key,
            operation=request.operation,
            region=headers.get("x-amz-bucket-region", "") or (info.region if info else ""),
        )

    def _network_error(self, exc: BaseException, request: Request) -> NetworkError:
        # Failures to connect mean the request never left: always safe to retry.
        timeout = _timeout_kind(exc)
        not_sent = (
            timeout == "connect"
            or isinstance(exc, (ConnectionRefusedError, socket.gaierror))
            # libcurl: could not resolve the host (6), could not connect (7).
            or any(_is_curl_error(exc, errno) for errno in _CURL_NOT_SENT)
        )
        if isinstance(exc, HTTPClientError) and exc.code != 599:
            detail = f"HTTP {exc.code}"
        elif isinstance(exc, StreamClosedError):
            detail = "connection closed"
        elif timeout is not None and not str(exc).lower().startswith("timeout"):
            detail = f"Timeout ({exc})"
        else:
            detail = str(exc) or type(exc).__name__
        where = self.endpoint.netloc
        return NetworkError(
            f"could not complete the request to {where}: {detail}",
            outcome_unknown=not not_sent,
            timeout=timeout,
            bucket=self.bucket,
            key=request.key,
            operation=request.operation,
        )
