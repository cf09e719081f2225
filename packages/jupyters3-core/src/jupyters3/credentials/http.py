"""The one I/O edge of the credential providers: a small HTTP fetcher protocol.

Providers take a :class:`Fetcher` so tests hand them plain coroutines; the
default, :class:`TornadoFetcher`, uses a fresh ``AsyncHTTPClient`` per request
(``force_instance=True``), so it works on whichever event loop calls it.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
    "INSECURE_ENDPOINTS",
    "FetchTimeout",
    "Fetcher",
    "HttpResponse",
    "TornadoFetcher",
    "is_loopback",
    "require_tls",
    "safe_url",
    "status_error",
    "with_attempts",
]

#: The environment variable that lets a credentials endpoint (STS, SSO, SSO-OIDC)
#: be plain http on a host other than loopback: tokens and keys then travel in
#: clear text, as its name says.
INSECURE_ENDPOINTS = "JUPYTERS3_ALLOW_INSECURE_CREDENTIAL_ENDPOINTS"

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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_tls(url: str, setting: str, environ: Mapping[str, str]) -> str:
    """``url``, if it may carry credentials: ``https``, or plain ``http`` to a
    loopback host (a local test server or agent), or anywhere when
    :data:`INSECURE_ENDPOINTS` is ``true``. Otherwise a
    :class:`BadConfiguration` naming ``setting``, the one that set the URL:
    refresh tokens, client secrets, web-identity tokens and the keys returned
    would travel in clear text."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise BadConfiguration(f"{setting} is not a URL: {url!r}.") from None
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host:
        allowed = environ.get(INSECURE_ENDPOINTS, "").strip().lower() in ("1", "true", "yes")
        if is_loopback(host) or allowed:
            return url
        raise BadConfiguration(
            f"{setting} is plain http ({safe_url(url, with_path=False)}): tokens and keys "
            f"would travel in clear text. Use https, or a loopback address; to accept it "
            f"anyway, set {INSECURE_ENDPOINTS}=true."
        )
    raise BadConfiguration(f"{setting} must be an http(s) URL, not {safe_url(url)!r}.")


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
