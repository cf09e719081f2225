"""The one I/O edge of the credential providers: a small HTTP fetcher protocol.

Providers take a :class:`Fetcher` so tests hand them plain coroutines; the
default, :class:`TornadoFetcher`, uses a fresh ``AsyncHTTPClient`` per request
(``force_instance=True``), so it works on whichever event loop calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from jupyters3.errors import (
    BadConfiguration,
    CredentialsRejected,
    NetworkError,
    S3Error,
    ServerError,
    Throttled,
)

__all__ = [
    "FetchTimeout",
    "Fetcher",
    "HttpResponse",
    "TornadoFetcher",
    "safe_url",
    "status_error",
    "with_attempts",
]

T = TypeVar("T")


class HttpResponse(NamedTuple):
    """Any HTTP answer, whatever its status."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Fetcher(Protocol):
    """Send one request and return the answer, whatever its status.

    Raises :class:`jupyters3.errors.NetworkError` when no answer arrives
    (:class:`FetchTimeout` when the time ran out).
    """

    async def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpResponse: ...


class FetchTimeout(NetworkError):
    """No answer within the timeout.

    :ivar connected: ``True`` when the connection was open and the answer did
        not come (IMDSv2's token PUT dropped by a hop limit looks like this).
    """

    def __init__(self, message: str, *, connected: bool, operation: str = "") -> None:
        self.connected = connected
        super().__init__(message, outcome_unknown=connected, operation=operation)


def safe_url(url: str, *, with_path: bool = True) -> str:
    """``scheme://host:port/path`` without user info or query, for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path if with_path else ''}"


def _no_curl_trace(curl: Any) -> None:
    """When AsyncHTTPClient is configured to use libcurl: no verbose trace.

    Tornado turns it on whenever its logger is at DEBUG, and it logs every
    header (the container Authorization token) and every body sent (the web
    identity token of an STS request).
    """
    import pycurl  # type: ignore[import-not-found,import-untyped,unused-ignore]

    curl.setopt(pycurl.VERBOSE, 0)


class TornadoFetcher:
    """The default :class:`Fetcher`: Tornado, TLS verified, no redirects, short timeouts."""

    def __init__(self, *, validate_cert: bool = True) -> None:
        self.validate_cert = validate_cert

    async def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        """Send the request; see :class:`Fetcher`."""
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            headers=dict(headers),
            body=body,
            connect_timeout=timeout,
            request_timeout=timeout,
            validate_cert=self.validate_cert,
            follow_redirects=False,
            decompress_response=True,
            prepare_curl_callback=_no_curl_trace,
        )
        client = AsyncHTTPClient(force_instance=True)
        # No path: ECS's relative URI is a per-task capability.
        where = f"{method} {safe_url(url, with_path=False)}"
        try:
            response = await client.fetch(request, raise_error=False)
        except HTTPClientError as exc:
            if exc.code == 599 and "Timeout" in str(exc):
                connected = "connect" not in str(exc)
                raise FetchTimeout(
                    f"{where} timed out after {timeout:g}s", connected=connected
                ) from None
            raise NetworkError(f"{where} failed: {exc}") from None
        except ConnectionRefusedError:
            raise NetworkError(f"{where}: connection refused", outcome_unknown=False) from None
        except (OSError, StreamClosedError, asyncio.TimeoutError) as exc:
            raise NetworkError(f"{where} failed: {type(exc).__name__}: {exc}") from None
        finally:
            client.close()
        return HttpResponse(response.code, response.headers, response.body or b"")


def status_error(status: int, where: str, detail: str = "") -> S3Error:
    """The error for a credential service's non-2xx answer (no body quoted: it may hold secrets).

    401/403: :class:`CredentialsRejected`; 429: :class:`Throttled`; 5xx:
    :class:`ServerError` (both retried); any other: :class:`BadConfiguration`.
    """
    message = f"{where} answered HTTP {status}{detail}."
    code = f"HTTP{status}"
    if status in (401, 403):
        return CredentialsRejected(message, code=code, status=status)
    if status == 429:
        return Throttled(message, code=code, status=status)
    if status >= 500:
        return ServerError(message, code=code, status=status)
    return BadConfiguration(message, code=code, status=status)


async def with_attempts(
    attempt: Callable[[], Awaitable[T]], *, attempts: int, delay: float = 0.1
) -> T:
    """Run ``attempt`` up to ``attempts`` times while it raises a retryable S3Error.

    Waits ``delay``, then twice that, and so on between attempts; the last
    error is raised as it is.
    """
    total = max(1, attempts)
    for number in range(total):
        try:
            return await attempt()
        except S3Error as exc:
            if not exc.retryable or number + 1 >= total:
                raise
        await asyncio.sleep(delay * 2**number)
    raise AssertionError("unreachable")  # pragma: no cover
