"""The S3 request loop: sign, send through an HTTP sender, map errors, retry.

:class:`Transport` turns one :class:`Request` into one :class:`Response` or
one :class:`~jupyters3.errors.S3Error`. Per attempt it takes credentials,
signs (SigV4, :mod:`jupyters3.s3.signing`) and hands the signed request to
its :class:`~jupyters3.s3.senders.HttpSender`, the only thing that performs
HTTP (Tornado's client, libcurl, or a test's fake). Around the attempts:

* at most ``max_concurrency`` exchanges are in flight (a semaphore: the HTTP
  clients never queue requests themselves); retry delays hold no slot;
* this is the one retry loop of jupyters3: every failure of an attempt is
  retried here or nowhere, per the :class:`~jupyters3.s3.retry.RetryPolicy`
  (at most ``max_attempts`` sends of a request in all, the backoff, the time
  budget) and the client's :class:`~jupyters3.s3.retry.RetryQuota`. That
  covers an answer whose body cannot be read (``Request.parse`` runs inside
  the attempt: :class:`~jupyters3.errors.MalformedResponse`), a body that
  broke off after part of it reached a sink (started over with
  ``Request.restart_sink``, or resumed from the first byte not delivered with
  ``Request.resume``), as well as 5xx and lost connections. A request whose
  body cannot be sent again (one-shot), or whose answer body partly reached a
  sink that can neither restart nor resume, is never retried;
* every attempt carries the SDKs' ``amz-sdk-invocation-id`` (one per
  request, whatever its attempts) and ``amz-sdk-request: attempt=N; max=M``
  headers, so that a proxy or a log can tell attempts from requests;
* an answer saying the credentials expired or were rotated makes it await
  ``on_credentials_rejected`` with the refused credentials and send once
  more with fresh ones (not counted as an attempt).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from tornado import httputil

from jupyters3._version import __version__
from jupyters3.credentials import AwsCreds
from jupyters3.errors import (
    AnswerTooLarge,
    BodyTooLarge,
    MalformedResponse,
    RangeNotHonoured,
    S3Error,
    error_from_response,
)
from jupyters3.s3 import endpoint as ep
from jupyters3.s3.bodies import Body, FileBody, IterBody
from jupyters3.s3.config import ClientConfig, HttpClientChoice
from jupyters3.s3.objects import range_problem
from jupyters3.s3.retry import RetryPolicy, RetryQuota
from jupyters3.s3.senders import HttpSender, SignedRequest, default_sender
from jupyters3.s3.signing import UNSIGNED_PAYLOAD, encode_query, sign_request
from jupyters3.s3.xml import DoctypeRefused, parse_error

__all__ = [
    "ANSWER_LIMITS",
    "OTHER_ANSWERS",
    "ROTATED_CREDENTIALS",
    "Body",
    "CredentialsSource",
    "FileBody",
    "HttpClientChoice",
    "IterBody",
    "Request",
    "Response",
    "Transport",
    "answer_limit",
]

log = logging.getLogger("jupyters3.s3")

#: Returns the credentials to sign the next request with.
CredentialsSource = Callable[[], Awaitable[AwsCreds]]

#: Bodies above this are hashed in a worker thread, off the event loop.
_HASH_OFF_LOOP = 256 * 1024
_USER_AGENT = f"jupyters3/{__version__}"
#: Answer bodies larger than this are parsed (``Request.parse``) in a worker thread.
_PARSE_OFF_LOOP = 64 * 1024
#: File bodies up to this size are sent from memory over a kept-alive connection
#: when the sender keeps them alive; larger ones (multipart parts) are streamed
#: from disk over a connection of their own: a handshake per part costs little,
#: and memory stays flat.
_POOLED_BODY_LIMIT = 1024 * 1024


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
    #: Reads a successful answer's body, inside the attempt (a ``ValueError``:
    #: the body is unreadable, :class:`MalformedResponse`, retried as a 503 is
    #: when repeating the request is safe); the result is ``Response.parsed``.
    parse: Callable[[bytes], Any] | None = None
    #: With a ``sink``: empties what the sink kept, so that an attempt that
    #: broke off after part of the body reached it can be retried from the start.
    restart_sink: Callable[[], None] | None = None
    #: With a ``sink``: an attempt that broke off after part of the body
    #: reached it is followed by one for the rest only: a Range from the first
    #: byte not delivered, with If-Match on the first answer's ETag (a 206 with
    #: exactly that range is required, else :class:`RangeNotHonoured`), so the
    #: sink sees each byte once, in order, of one version of the object.
    resume: bool = False


#: The most an answer of each kind may hold: a page of 1,000 entries with the
#: longest keys (1,024 bytes, URL-encoded: up to 3 KiB each) fits in 8 MiB.
_LISTINGS = 8 * 1024 * 1024
ANSWER_LIMITS: dict[str, int] = {
    "ListObjectsV2": _LISTINGS,
    "ListObjectVersions": _LISTINGS,
    "ListMultipartUploads": _LISTINGS,
    "DeleteObjects": _LISTINGS,
    "DeleteObjectVersions": _LISTINGS,
}
#: Any other answer but GetObject's (an XML result, or no body at all).
OTHER_ANSWERS = 1024 * 1024


def answer_limit(request: Request) -> int | None:
    """The most bytes the answer to ``request`` may have: the request's own
    ``max_body``, else what fits its kind (none for a GetObject: the object;
    none for a HEAD, which has no body and whose Content-Length is the
    object's size)."""
    if request.max_body is not None:
        return request.max_body
    if request.operation == "GetObject" or request.method == "HEAD":
        return None
    return ANSWER_LIMITS.get(request.operation, OTHER_ANSWERS)


@dataclass
class Response:
    """A successful response. ``body`` is empty when a sink took it;
    ``parsed`` is what ``Request.parse`` made of it."""

    status: int
    headers: httputil.HTTPHeaders
    body: bytes = b""
    parsed: Any = None


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


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _digests(data: bytes, want_md5: bool) -> tuple[str, str | None]:
    return hashlib.sha256(data).hexdigest(), (_md5_b64(data) if want_md5 else None)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Delivered:
    """Counts the answer bytes that reached a request's sink in one attempt."""

    def __init__(self, sink: Callable[[bytes], Awaitable[None] | None] | None) -> None:
        self.count = 0
        self._sink = sink

    def sink(self) -> Callable[[bytes], Awaitable[None] | None] | None:
        if self._sink is None:
            return None
        target = self._sink

        def counting(chunk: bytes) -> Awaitable[None] | None:
            self.count += len(chunk)
            return target(chunk)

        return counting


def _parse_range(value: str) -> tuple[int, int | None]:
    """``bytes=a-b`` (``b`` may be empty) -> ``(a, b or None)``."""
    first, _, last = value.strip().removeprefix("bytes=").partition("-")
    return int(first), (int(last) if last else None)


class _Resumption:
    """Where a resumable streamed GET stands across its attempts: the bytes
    delivered so far and the ETag of the version they came from."""

    def __init__(self, request: Request, netloc: str) -> None:
        self.request = request
        self.netloc = netloc
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.ranged = "range" in headers
        self.first, self.last = _parse_range(headers["range"]) if self.ranged else (0, None)
        self.etag: str | None = headers.get("if-match")
        self.offset = 0  # bytes delivered by earlier attempts

    def on_answer(self, status: int, headers: httputil.HTTPHeaders) -> None:
        """Check a successful answer before its first byte reaches the sink:
        a range asked for (the caller's, or the rest after a break) must be
        answered with exactly that range."""
        if self.etag is None:
            self.etag = headers.get("ETag") or None
        if not self.offset and not self.ranged:
            return
        start = self.first + self.offset
        problem = range_problem(status, headers, start, self.last, None)
        if problem is not None:
            raise RangeNotHonoured(
                f"{self.netloc} answered a ranged GET (from byte {start:,}) with {problem}: it "
                "(or a proxy in front of it) does not honour Range, so nothing more is taken "
                "from that answer",
                key=self.request.key,
                operation=self.request.operation,
            )

    def attempt(self) -> Request:
        """The request for the next attempt: the rest of the range, pinned."""
        if not self.offset:
            return self.request
        headers = dict(self.request.headers)
        for name in [n for n in headers if n.lower() in ("range", "if-match")]:
            del headers[name]
        last = "" if self.last is None else str(self.last)
        headers["range"] = f"bytes={self.first + self.offset}-{last}"
        if self.etag:
            headers["if-match"] = self.etag
        return replace(self.request, headers=headers)


class Transport:
    """Signs and sends :class:`Request` objects to one bucket, with retries.

    ``sender``: the HTTP sender (default: :func:`~jupyters3.s3.senders.default_sender`
    for ``config``); the transport closes it. ``clock`` dates signatures;
    ``sleep`` and ``monotonic`` time the retries (tests pass fakes).
    """

    def __init__(
        self,
        config: ClientConfig,
        credentials: CredentialsSource,
        *,
        sender: HttpSender | None = None,
        clock: Callable[[], datetime] | None = None,
        on_credentials_rejected: Callable[[AwsCreds], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.quota = RetryQuota()
        self._sender = sender if sender is not None else default_sender(config)
        self._credentials = credentials
        self._on_rejected = on_credentials_rejected
        self._clock = clock or _utcnow
        self._sleep = sleep
        self._monotonic = monotonic
        self._limit = asyncio.Semaphore(config.max_concurrency)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy (``config.retry``)."""
        return self.config.retry

    @property
    def bucket(self) -> str:
        return self.config.bucket

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def endpoint(self) -> ep.Endpoint:
        return self.config.endpoint

    @property
    def keeps_alive(self) -> bool:
        """Whether requests without a streamed body reuse connections (libcurl)."""
        return self._sender.keeps_alive

    def close(self) -> None:
        """Close the sender. The transport cannot be used afterwards."""
        self._sender.close()

    async def send(self, request: Request) -> Response:
        """Send ``request``, retrying per the policy; raise an :class:`S3Error` on failure.

        At most ``retry.max_attempts`` attempts in all, whatever failed: an
        error answer, a lost connection, an unreadable body, a streamed body
        that broke off (restarted or resumed as the request says). One more
        send, not counted, follows an answer saying the credentials expired.
        """
        replayable = isinstance(request.body, (bytes, type(None))) or request.body.replayable
        safe_to_repeat = request.idempotent and replayable
        resumption = (
            _Resumption(request, self.endpoint.netloc) if request.resume and request.sink else None
        )
        invocation = str(uuid.uuid4())
        cost: int | None = None
        attempt = 0
        refreshed = False
        first_failure: float | None = None
        while True:
            attempt += 1
            sent = resumption.attempt() if resumption is not None else request
            delivered = _Delivered(sent.sink)
            signed_with: list[AwsCreds] = []
            try:
                sdk = {
                    "amz-sdk-invocation-id": invocation,
                    "amz-sdk-request": f"attempt={attempt}; max={self.retry.max_attempts}",
                }
                response = await self._attempt(
                    sent, delivered, signed_with, sdk, resumption.on_answer if resumption else None
                )
            except S3Error as error:
                if delivered.count and request.restart_sink is not None:
                    request.restart_sink()  # the next attempt starts the body over
                    delivered.count = 0
                elif delivered.count and resumption is not None:
                    resumption.offset += delivered.count  # the next attempt asks for the rest
                    delivered.count = 0
                untouched = replayable and delivered.count == 0
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
                now = self._monotonic()
                if first_failure is None:
                    first_failure = now
                decision = None
                refused = self.quota.refused
                # A one-shot body cannot be sent again, whatever the error.
                if untouched:
                    decision = self.retry.decide(
                        error,
                        attempt,
                        idempotent=safe_to_repeat,
                        quota=self.quota,
                        elapsed=now - first_failure,
                    )
                if decision is None:
                    error.attempts = attempt
                    if self.quota.refused > refused:
                        log.warning(
                            "%s not retried: the retry quota is spent (S3 has been failing "
                            "often); it refills as requests succeed",
                            request.operation,
                        )
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
                await self._sleep(delay)
                continue
            self.quota.release(cost)
            return response

    async def _attempt(
        self,
        request: Request,
        delivered: _Delivered,
        signed_with: list[AwsCreds],
        sdk: dict[str, str],
        on_answer: Callable[[int, httputil.HTTPHeaders], None] | None = None,
    ) -> Response:
        creds = await self._credentials()
        signed_with.append(creds)
        config = self.config
        query = encode_query(request.query)
        target = ep.target(
            config.endpoint, config.bucket, request.key, style=config.addressing_style, query=query
        )
        headers = {
            "user-agent": _USER_AGENT,
            **sdk,
            **{k.lower(): v for k, v in request.headers.items()},
        }
        body = request.body
        if (
            isinstance(body, FileBody)
            and self._sender.keeps_alive
            and request.sink is None
            and body.length <= _POOLED_BODY_LIMIT
        ):
            # A small file body is read into memory (in a thread) so that it can
            # go over a kept-alive connection: libcurl takes bytes only.
            body = await asyncio.to_thread(body.read_all)
        stream: Body | None = None
        if isinstance(body, bytes) or body is None:
            data = body or b""
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
            stream = body

        signed = sign_request(
            method=request.method,
            host=target.host,
            path=target.path,
            query=request.query,
            headers=headers,
            payload_hash=payload_hash,
            credentials=creds,
            region=config.region,
            timestamp=self._clock(),
        )
        prepared = SignedRequest(
            operation=request.operation,
            method=request.method,
            url=target.url,
            headers=signed,
            body=body if isinstance(body, bytes) else None,
            stream=stream,
            sink=delivered.sink(),
            max_body=request.max_body,
            bucket=config.bucket,
            key=request.key,
            on_answer=on_answer,
        )
        limit = prepared.max_body = answer_limit(request)
        started = self._monotonic()
        try:
            async with self._limit:
                raw = await self._sender.send(prepared)
        except BodyTooLarge as too_large:
            if request.max_body is not None:
                raise  # the caller's own limit (an object too large to read here)
            raise self._too_large(request, too_large.size) from None
        log.debug(
            "%s %s %r -> %d in %.3fs",
            request.operation,
            request.method,
            request.key,
            raw.status,
            self._monotonic() - started,
        )
        if raw.status >= 300 or (request.may_fail_with_200 and b"<Error" in raw.body[:512]):
            raise self._s3_error(raw.status, raw.headers, raw.body, request)
        if limit is not None and len(raw.body) > limit:
            if request.max_body is None:
                raise self._too_large(request, len(raw.body))
            raise BodyTooLarge(len(raw.body), limit, bucket=config.bucket, key=request.key)
        parsed = None
        if request.parse is not None:
            parsed = await self._parse(request, raw.status, raw.headers, raw.body)
        return Response(status=raw.status, headers=raw.headers, body=raw.body, parsed=parsed)

    def _too_large(self, request: Request, size: int | None) -> AnswerTooLarge:
        limit = answer_limit(request)
        told = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
        return AnswerTooLarge(
            f"{self.endpoint.netloc} answered {request.operation} with {told}, more than S3 "
            f"ever sends for it (at most {limit:,}): refused unread",
            bucket=self.bucket,
            key=request.key,
            operation=request.operation,
        )

    async def _parse(
        self, request: Request, status: int, headers: httputil.HTTPHeaders, body: bytes
    ) -> Any:
        """``request.parse(body)``, in a worker thread for a large body; an
        unreadable body is :class:`MalformedResponse`."""
        assert request.parse is not None
        try:
            if len(body) > _PARSE_OFF_LOOP:  # a full listing is ~300 KB
                return await asyncio.to_thread(request.parse, body)
            return request.parse(body)
        except ValueError as exc:  # xml.XMLError, or a value it could not convert
            error = MalformedResponse(
                f"{self.endpoint.netloc} answered with a body that could not be read ({exc})",
                status=status,
                request_id=headers.get("x-amz-request-id", ""),
                bucket=self.bucket,
                key=request.key,
                operation=request.operation,
            )
            if isinstance(exc, DoctypeRefused):
                error.retryable = False  # a hostile answer: asking again gets the same
            raise error from None

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
