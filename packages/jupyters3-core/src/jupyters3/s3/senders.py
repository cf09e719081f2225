"""HTTP senders: how one signed request goes on the wire, and nothing more.

An :class:`HttpSender` performs exactly one HTTP exchange per :meth:`send`.
It never signs, never retries, never sleeps and never logs headers (they
carry the session token). Its contract:

* every HTTP answer, whatever its status (3xx, 4xx and 5xx included), is
  returned as a :class:`RawResponse`; turning it into an error is the
  transport's job (:mod:`jupyters3.s3.transport`);
* no complete answer (refused, reset, closed, timed out) raises
  :class:`~jupyters3.errors.NetworkError`, with ``outcome_unknown=False`` only
  when the request certainly never left, and ``timeout`` set to
  ``"connect"`` or ``"read"`` for a timeout (see :func:`network_error`);
* a successful answer whose body is larger than ``SignedRequest.max_body``
  raises :class:`~jupyters3.errors.BodyTooLarge`, as soon as the sender can
  tell (the transport checks the exact size afterwards); an error answer's
  body is kept up to :data:`ERROR_BODY_KEPT` bytes, and one larger than
  :data:`ERROR_BODY_LIMIT` raises :class:`~jupyters3.errors.AnswerTooLarge`
  (S3's error documents are a few hundred bytes);
* a request with a ``sink`` gets a successful answer's body delivered to it
  chunk by chunk (``RawResponse.body`` is then empty), an error answer's
  body in ``RawResponse.body``; its ``on_answer`` is called with the status
  and headers before the first byte reaches the sink, and an
  :class:`~jupyters3.errors.S3Error` it raises ends the exchange (raised by
  :meth:`HttpSender.send`) with nothing delivered.

Implementations: :class:`SimpleSender` (Tornado's own client: a connection per
request, async body producers and sinks with backpressure) and
:class:`CurlSender` (libcurl through pycurl: connections kept alive; in-memory
bodies only, no sink). :func:`default_sender` picks, per the configuration,
the simple client alone or a :class:`RoutingSender` that sends streamed
bodies and sinks on the simple client and everything else over libcurl.
The tests' fake sender is :class:`jupyters3_testing.senders.FakeSender`.
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from tornado import httputil
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPTimeoutError

from jupyters3.errors import AnswerTooLarge, BadConfiguration, BodyTooLarge, NetworkError, S3Error
from jupyters3.s3.bodies import Body
from jupyters3.s3.config import ClientConfig, HttpClientChoice

__all__ = [
    "ERROR_BODY_KEPT",
    "ERROR_BODY_LIMIT",
    "MAX_OBJECT_SIZE",
    "CurlSender",
    "HttpSender",
    "RawResponse",
    "RoutingSender",
    "SignedRequest",
    "SimpleSender",
    "default_sender",
    "network_error",
]

#: S3's largest object (5 TiB): no answer body is refused for its size alone.
MAX_OBJECT_SIZE = 5 * 1024**4
#: Bytes of an error answer's body kept (an S3 error document is far smaller).
ERROR_BODY_KEPT = 64 * 1024
#: An error answer's body past this is refused (AnswerTooLarge) without reading more.
ERROR_BODY_LIMIT = 1024 * 1024
#: libcurl: could not resolve the host (6), could not connect (7).
_CURL_NOT_SENT = (6, 7)
#: libcurl's CURLE_OPERATION_TIMEDOUT (connect and transfer alike).
_CURL_TIMEOUT = 28
#: libcurl's CURLE_FILESIZE_EXCEEDED: the answer's Content-Length passed MAXFILESIZE.
_CURL_TOO_LARGE = 63
#: libcurl refuses any larger body, error answers included: a request's
#: ``max_body`` is checked exactly once the body is in; this only keeps a huge
#: one from being read at all.
_CURL_MIN_MAX_FILESIZE = 64 * 1024

Sink = Callable[[bytes], Awaitable[None] | None]
#: A status line, HTTP/1.x (with a reason) or HTTP/2 (without).
_STATUS_LINE = re.compile(r"^HTTP/\S+\s+(\d{3})(?:\s+(.*))?$")


@dataclass
class SignedRequest:
    """One signed HTTP request, ready for the wire.

    ``body`` (in memory) and ``stream`` (a :class:`Body` read while sending)
    are exclusive; ``bucket``, ``key`` and ``operation`` only name the request
    in errors.
    """

    operation: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    stream: Body | None = None
    sink: Sink | None = None
    max_body: int | None = None
    bucket: str = ""
    key: str | None = None
    #: With a sink: sees a successful answer's status and headers before its
    #: first byte reaches the sink; may refuse it by raising an S3Error.
    on_answer: Callable[[int, httputil.HTTPHeaders], None] | None = None


@dataclass
class RawResponse:
    """An HTTP answer, any status. ``body`` is empty when a sink took it."""

    status: int
    headers: httputil.HTTPHeaders
    body: bytes = b""


class HttpSender(Protocol):
    """Sends one :class:`SignedRequest` (see the module docstring for the contract)."""

    @property
    def keeps_alive(self) -> bool:
        """Whether in-memory requests reuse connections (the transport then reads
        small file bodies into memory so they can go that way)."""
        ...

    async def send(self, request: SignedRequest) -> RawResponse:
        """One exchange: the answer, or NetworkError / BodyTooLarge."""
        ...

    def close(self) -> None:
        """Release connections; the sender cannot be used afterwards."""
        ...


def _content_length(headers: httputil.HTTPHeaders) -> int | None:
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


class _Exchange:
    """Collects the status and headers of one exchange; routes body chunks
    (refusing, at the first, a body over ``max_body``: :class:`BodyTooLarge`)."""

    def __init__(
        self,
        sink: Sink,
        max_body: int | None,
        on_answer: Callable[[int, httputil.HTTPHeaders], None] | None = None,
    ) -> None:
        self.status: int | None = None
        self.headers = httputil.HTTPHeaders()
        self.error_body = bytearray()
        self.error_bytes = 0
        self.delivered = 0
        self._sink = sink
        self._max_body = max_body
        self._on_answer = on_answer
        #: Set when the body was refused as too large: ``(size or None, limit)``.
        self.too_large: tuple[int | None, int] | None = None
        #: Set when ``on_answer`` refused the answer.
        self.refused: S3Error | None = None

    def on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            self.status = httputil.parse_response_start_line(line.strip()).code
            self.headers = httputil.HTTPHeaders()
        elif line.strip():
            self.headers.parse_line(line)

    def on_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        if self.status is not None and self.status >= 300:
            self.error_bytes += len(chunk)
            if self.error_bytes > ERROR_BODY_LIMIT:
                self.too_large = (_content_length(self.headers), ERROR_BODY_LIMIT)
                raise _Stop()
            if len(self.error_body) < ERROR_BODY_KEPT:
                self.error_body += chunk[: ERROR_BODY_KEPT - len(self.error_body)]
            return None
        if self._max_body is not None:
            size = _content_length(self.headers)
            if (size or 0) > self._max_body or self.delivered + len(chunk) > self._max_body:
                self.too_large = (size, self._max_body)
                raise _Stop()
        if self._on_answer is not None and self.status is not None:
            on_answer, self._on_answer = self._on_answer, None
            try:
                on_answer(self.status, self.headers)
            except S3Error as refused:
                self.refused = refused
                raise _Stop() from None
        self.delivered += len(chunk)
        return self._sink(chunk)


class _Stop(httputil.HTTPInputError):
    """Raised by :meth:`_Exchange.on_chunk` to stop Tornado's client reading a
    body (too large, or refused by ``on_answer``): Tornado closes the
    connection quietly for an ``HTTPInputError`` (any other exception is
    logged as uncaught), and the fetch fails as a closed connection;
    ``_Exchange.too_large`` or ``_Exchange.refused`` says why."""

    def __init__(self) -> None:
        super().__init__("answer body refused")


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


def network_error(exc: BaseException, request: SignedRequest, netloc: str) -> NetworkError:
    """The :class:`NetworkError` for a failed exchange with ``netloc``.

    ``outcome_unknown`` is False only when the request certainly never left:
    refused, the host not resolved, or a connect timeout.
    """
    timeout = _timeout_kind(exc)
    not_sent = (
        timeout == "connect"
        or isinstance(exc, (ConnectionRefusedError, socket.gaierror))
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
    return NetworkError(
        f"could not complete the request to {netloc}: {detail}",
        outcome_unknown=not not_sent,
        timeout=timeout,
        bucket=request.bucket,
        key=request.key,
        operation=request.operation,
    )


def _http_request(config: ClientConfig, request: SignedRequest, **extra: Any) -> HTTPRequest:
    body = request.body
    if body is None and request.stream is None and request.method in ("PUT", "POST"):
        body = b""
    return HTTPRequest(
        url=request.url,
        method=request.method,
        headers=dict(request.headers),
        body=body,
        connect_timeout=config.connect_timeout,
        request_timeout=config.request_timeout,
        validate_cert=config.validate_cert,
        follow_redirects=False,
        decompress_response=False,
        allow_nonstandard_methods=True,
        **extra,
    )


def _producer(body: Body) -> Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]:
    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        async for chunk in body.chunks():
            await write(chunk)

    return produce


class BlockingResolver(Resolver):
    """Resolves host names in the calling thread (no executor)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return [(fam, address) for fam, _, _, _, address in infos]


class SimpleSender:
    """Tornado's own client: a connection per request; streamed bodies and sinks."""

    keeps_alive = False

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._netloc = config.endpoint.netloc
        # blocking_dns: while the interpreter exits no thread pool (which
        # Tornado's default resolver needs) may start any more.
        extra: dict[str, Any] = {"resolver": BlockingResolver()} if config.blocking_dns else {}
        # Bodies are streamed to sinks, so Tornado's 100 MiB default must not cap them.
        self._http = AsyncHTTPClient(
            force_instance=True,
            max_clients=config.max_concurrency,
            max_body_size=MAX_OBJECT_SIZE,
            **extra,
        )

    def close(self) -> None:
        self._http.close()

    async def send(self, request: SignedRequest) -> RawResponse:
        # Every body goes through an exchange, so no answer is buffered past
        # its limit: the request's own sink, or a buffer of the exchange's.
        buffered = bytearray()
        sink: Sink = request.sink if request.sink is not None else buffered.extend
        exchange = _Exchange(sink, request.max_body, request.on_answer)
        producer = _producer(request.stream) if request.stream is not None else None
        http_request = _http_request(
            self._config,
            request,
            # Tornado annotates body_producer too narrowly: it awaits any awaitable.
            body_producer=cast(Any, producer),
            header_callback=exchange.on_header,
            streaming_callback=exchange.on_chunk,
        )
        try:
            response = await self._http.fetch(http_request, raise_error=False)
        except Exception as exc:
            if exchange.too_large is not None:
                raise _too_large(exchange, request) from None
            if exchange.refused is not None:
                raise exchange.refused from None
            raise network_error(exc, request, self._netloc) from None
        body = bytes(exchange.error_body) if response.code >= 300 else bytes(buffered)
        return RawResponse(response.code, response.headers, body)


def _too_large(exchange: _Exchange, request: SignedRequest) -> S3Error:
    """The error for an answer refused for its size (``exchange.too_large``)."""
    assert exchange.too_large is not None
    size, limit = exchange.too_large
    if exchange.status is not None and exchange.status >= 300:
        return AnswerTooLarge(
            f"answered HTTP {exchange.status} with an error body of more than {limit:,} "
            "bytes (an S3 error document is a few hundred): refused unread",
            bucket=request.bucket,
            key=request.key,
            operation=request.operation,
        )
    return BodyTooLarge(size, limit, bucket=request.bucket, key=request.key)


class _CurlBody:
    """libcurl's body writer for one exchange: into Tornado's buffer, up to
    the limits (``max_body`` for a successful answer, :data:`ERROR_BODY_LIMIT`
    for an error answer). Past one, the transfer stops (libcurl's write
    error) and ``refused`` says which limit it was."""

    def __init__(self, max_body: int | None) -> None:
        self.max_body = max_body
        self.received = 0
        self.refused: tuple[int, int] | None = None  # (status, limit)

    def install(self, curl: Any) -> None:
        """Take over libcurl's header and body writers for this exchange (the
        status is not readable while libcurl runs: the header writer keeps it)."""
        import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

        buffer, headers = curl.info["buffer"], curl.info["headers"]  # Tornado's, for the answer
        status = [0]

        def header(line_bytes: bytes) -> None:
            # As Tornado's own header writer (curl_httpclient), keeping the status.
            line = line_bytes.decode("latin1").rstrip()
            if line.startswith("HTTP/"):
                headers.clear()
                found = _STATUS_LINE.match(line)
                if found is None:
                    return
                status[0] = int(found.group(1))
                line = f"X-Http-Reason: {found.group(2)}" if found.group(2) else ""
            if line:
                headers.parse_line(line)

        def write(chunk: bytes) -> int:
            self.received += len(chunk)
            limit = ERROR_BODY_LIMIT if status[0] >= 300 else self.max_body
            if limit is not None and self.received > limit:
                self.refused = (status[0], limit)
                return 0  # libcurl stops the transfer: CURLE_WRITE_ERROR
            buffer.write(chunk)
            return len(chunk)

        curl.setopt(pycurl.HEADERFUNCTION, header)
        curl.setopt(pycurl.WRITEFUNCTION, write)


def _curl_options(curl: Any, max_filesize: int = 0, body: _CurlBody | None = None) -> None:
    """S3 keys may hold ``.`` and ``..`` segments: libcurl must not squash them.

    And no verbose trace: Tornado turns it on whenever its logger is at DEBUG,
    and it logs every request header, the session token (x-amz-security-token)
    included. ``max_filesize``: refuse a larger body from its Content-Length
    (0: no limit; set on every request, since libcurl handles are reused);
    ``body``: the writer that enforces the limits while the body comes.
    """
    import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

    curl.setopt(pycurl.PATH_AS_IS, 1)
    curl.setopt(pycurl.VERBOSE, 0)
    curl.setopt(pycurl.MAXFILESIZE_LARGE, max_filesize)
    if body is not None:
        body.install(curl)


class CurlSender:
    """libcurl (pycurl): connections kept alive; in-memory bodies, no sink."""

    keeps_alive = True

    def __init__(self, config: ClientConfig) -> None:
        from tornado.curl_httpclient import CurlAsyncHTTPClient  # ImportError without pycurl

        self._config = config
        self._netloc = config.endpoint.netloc
        self._http = CurlAsyncHTTPClient(
            force_instance=True, max_clients=config.max_concurrency, max_body_size=MAX_OBJECT_SIZE
        )
        # libcurl sizes its connection cache from the handles in use at the moment,
        # so after a burst a single request would close all but a few connections.
        multi = getattr(self._http, "_multi", None)
        if multi is not None:
            import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

            multi.setopt(pycurl.M_MAXCONNECTS, config.max_concurrency)

    def close(self) -> None:
        self._http.close()

    async def send(self, request: SignedRequest) -> RawResponse:
        if request.stream is not None or request.sink is not None:
            raise ValueError("CurlSender sends in-memory bodies only, without a sink")
        cap = max(request.max_body, _CURL_MIN_MAX_FILESIZE) if request.max_body else 0
        body = _CurlBody(request.max_body)
        http_request = _http_request(
            self._config,
            request,
            prepare_curl_callback=functools.partial(_curl_options, max_filesize=cap, body=body),
        )
        try:
            response = await self._http.fetch(http_request, raise_error=False)
        except Exception as exc:
            if body.refused is not None and body.refused[0] >= 300:
                raise AnswerTooLarge(
                    f"answered HTTP {body.refused[0]} with an error body of more than "
                    f"{body.refused[1]:,} bytes (an S3 error document is a few hundred): "
                    "refused unread",
                    bucket=request.bucket,
                    key=request.key,
                    operation=request.operation,
                ) from None
            too_large = body.refused is not None or _is_curl_error(exc, _CURL_TOO_LARGE)
            if request.max_body is not None and too_large:
                raise BodyTooLarge(
                    None, request.max_body, bucket=request.bucket, key=request.key
                ) from None
            raise network_error(exc, request, self._netloc) from None
        return RawResponse(response.code, response.headers, response.body or b"")


class RoutingSender:
    """Streamed bodies and sinks on ``streaming`` (async producers and consumers,
    with backpressure); everything else on ``pooled`` (kept-alive connections)."""

    keeps_alive = True

    def __init__(self, streaming: HttpSender, pooled: HttpSender) -> None:
        self.streaming = streaming
        self.pooled = pooled

    def close(self) -> None:
        self.streaming.close()
        self.pooled.close()

    async def send(self, request: SignedRequest) -> RawResponse:
        if request.stream is not None or request.sink is not None:
            return await self.streaming.send(request)
        return await self.pooled.send(request)


def _curl_sender(choice: HttpClientChoice, config: ClientConfig) -> CurlSender | None:
    if choice == "simple":
        return None
    try:
        return CurlSender(config)
    except ImportError:
        if choice == "curl":
            raise BadConfiguration(
                "http_client 'curl' needs pycurl: pip install 'jupyters3-core[curl]'."
            ) from None
        return None


def default_sender(config: ClientConfig) -> HttpSender:
    """The sender ``config`` asks for: Tornado's client alone (``"simple"``,
    ``blocking_dns``, or ``"auto"`` without pycurl), else Tornado's client for
    streams and sinks routed beside libcurl for the rest."""
    curl = None if config.blocking_dns else _curl_sender(config.http_client, config)
    simple = SimpleSender(config)
    return simple if curl is None else RoutingSender(simple, curl)
