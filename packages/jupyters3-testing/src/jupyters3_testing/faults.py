"""Public types of the fault proxy: faults, rules and the request log."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Literal, Protocol
from urllib.parse import unquote

__all__ = [
    "Fault",
    "FaultKind",
    "ProxyHook",
    "ProxyRecord",
    "RequestInfo",
    "Rule",
    "access_key_id",
    "split_path",
]

FaultKind = Literal[
    "error",
    "drop",
    "drop_after_forward",
    "garbage",
    "ignore_range",
    "oversized",
    "repeat_token",
    "doctype",
    "slow",
]


@dataclasses.dataclass(frozen=True)
class Fault:
    """What the proxy does to one request instead of forwarding it transparently.

    ``kind="error"`` answers ``status`` with an S3 XML error (``code``,
    ``message``) without forwarding; ``"drop"`` closes the client connection
    before forwarding (S3 never sees the request); ``"drop_after_forward"``
    forwards the request, reads S3's answer and then closes the client
    connection without responding; ``"garbage"`` answers 200 with a body that
    is not the XML the operation returns (a truncated document), without
    forwarding.

    Hostile or broken endpoints, as seen in the field: ``"ignore_range"``
    forwards the request without its ``Range`` header (S3 answers 200 with
    the whole object, as a server or proxy that ignores Range does);
    ``"oversized"`` answers ``status`` with a body of ``size`` bytes (0:
    endless, streamed until the client hangs up, at most 1 GiB), with a
    Content-Length when ``content_length``; ``"repeat_token"`` answers a
    ListObjectsV2 with an empty, truncated page whose continuation token is
    always the same; ``"doctype"`` answers 200 with an XML body that declares
    a DTD with nested entities ("billion laughs"). None of these is forwarded
    but ``"ignore_range"``. ``"slow"`` forwards the request as it is, after
    ``delay`` seconds more than the proxy's latency (one kind of request made
    slow, e.g. a listing).
    """

    kind: FaultKind = "error"
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    #: For region errors: sent as ``<Region>`` and ``x-amz-bucket-region``, as S3 does.
    region: str = ""
    #: For ``"oversized"``: the body's size in bytes (0: endless).
    size: int = 0
    #: For ``"oversized"``: whether the answer says its length up front.
    content_length: bool = True
    #: For ``"slow"``: the seconds added before forwarding.
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, code: str, message: str) -> Fault:
        """An S3 error response."""
        return cls("error", status, code, message)

    @classmethod
    def wrong_region(cls, region: str, configured: str = "us-east-1") -> Fault:
        """400 AuthorizationHeaderMalformed: what S3 answers a request signed for
        ``configured`` when the bucket lives in ``region``."""
        message = (
            f"The authorization header is malformed; the region '{configured}' is wrong; "
            f"expecting '{region}'"
        )
        return cls("error", 400, "AuthorizationHeaderMalformed", message, region)

    @classmethod
    def slow_down(cls) -> Fault:
        """503 SlowDown."""
        return cls("error", 503, "SlowDown", "Please reduce your request rate.")

    @classmethod
    def internal_error(cls) -> Fault:
        """500 InternalError."""
        return cls(
            "error", 500, "InternalError", "We encountered an internal error. Please try again."
        )

    @classmethod
    def access_denied(cls, message: str = "Access Denied") -> Fault:
        """403 AccessDenied."""
        return cls("error", 403, "AccessDenied", message)

    @classmethod
    def drop(cls) -> Fault:
        """Close the client connection before forwarding."""
        return cls("drop", 0, "", "")

    @classmethod
    def drop_after_forward(cls) -> Fault:
        """Forward, then close the client connection without responding."""
        return cls("drop_after_forward", 0, "", "")

    @classmethod
    def garbage_body(cls) -> Fault:
        """200 with a truncated, unreadable XML body."""
        return cls("garbage", 200, "", "")

    @classmethod
    def ignore_range(cls) -> Fault:
        """Forward without the Range header: the whole object comes back, 200."""
        return cls("ignore_range", 0, "", "")

    @classmethod
    def oversized(cls, size: int = 0, *, status: int = 200, content_length: bool = True) -> Fault:
        """``status`` with a body of ``size`` bytes (0: endless), not forwarded."""
        return cls("oversized", status, "", "", size=size, content_length=content_length)

    @classmethod
    def repeat_token(cls) -> Fault:
        """A truncated ListObjectsV2 page whose continuation token never changes."""
        return cls("repeat_token", 200, "", "")

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """Forward as it is, ``delay`` seconds later."""
        return cls("slow", 0, "", "", delay=delay)

    @classmethod
    def doctype(cls) -> Fault:
        """200 with a "billion laughs" XML body (a DTD with nested entities)."""
        return cls("doctype", 200, "", "")

    @property
    def label(self) -> str:
        """The value of :attr:`ProxyRecord.fault` for this fault."""
        return self.code if self.kind == "error" else self.kind


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """What a :data:`Rule` sees of a request.

    ``path`` is the raw (still percent-encoded) path without the query;
    ``bucket``/``key``/``query`` are decoded as in :class:`ProxyRecord`.
    ``Authorization``, ``X-Amz-Security-Token`` and ``Cookie`` values are
    replaced by ``"<redacted>"``. ``connection_id`` identifies the client TCP
    connection (unique for the proxy's lifetime); ``sequence`` counts requests
    from 0 since the last reset.
    """

    method: str
    path: str
    bucket: str
    key: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    connection_id: int
    sequence: int
    #: The access key id the request was signed with ("" if unsigned): an
    #: identifier, not a secret, so rules can tell rotated credentials apart.
    access_key_id: str = ""
    #: The whole request body, for a :class:`ProxyHook` whose ``wants_body``
    #: asked for it (the proxy then reads it before deciding); else None.
    body: bytes | None = None


Rule = Callable[[RequestInfo], "Fault | None"]


class ProxyHook(Protocol):
    """A plug-in of :class:`~jupyters3_testing.proxy.FaultProxy` that sees every
    request before the proxy's own rule and random faults, and may answer it.

    ``wants_body(info)`` is asked once the request's headers are in (``info.body``
    is None then). When it returns True the proxy reads the whole request body
    first (it must fit in memory: a DeleteObjects batch, a policy document, not
    an upload) and passes it as ``info.body`` to ``decide``; the body is then
    forwarded as received. ``decide(info)`` returns a :class:`Fault` to answer
    the request with, or None to let it through (on to the rule and the random
    faults). Both are called on the proxy's thread: keep them quick, and guard
    any state they share with the test.
    """

    def wants_body(self, info: RequestInfo) -> bool: ...

    def decide(self, info: RequestInfo) -> Fault | None: ...


@dataclasses.dataclass(frozen=True)
class ProxyRecord:
    """One request that passed through (or was stopped by) the proxy.

    ``fault`` is None for a transparent forward, the S3 error code for an
    injected error (``"SlowDown"``, ``"InternalError"``, ...), ``"drop"``,
    ``"drop_after_forward"``, ``"client_closed"`` or ``"upstream_error"``.
    ``status`` is what the client received (None when it received no status
    line). ``bucket``/``key`` are decoded from the path-style path
    (``/bucket/a%20b`` gives ``"bucket"``, ``"a b"``; ``/bucket`` gives key
    ``""``); ``query`` keeps the last value of a repeated parameter.
    ``bytes_in``/``bytes_out`` count request/response body bytes between the
    client and the proxy. ``started`` is wall-clock epoch seconds,
    ``duration`` seconds until the response was complete.
    """

    method: str
    bucket: str
    key: str
    query: dict[str, str]
    status: int | None
    bytes_in: int
    bytes_out: int
    fault: str | None
    started: float
    duration: float
    connection_id: int
    #: The access key id the request was signed with (see :class:`RequestInfo`).
    access_key_id: str = ""


def access_key_id(authorization: str) -> str:
    """The access key id of a SigV4 ``Authorization`` header (``""`` if there is none)."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return ""
    return authorization[start + len(marker) :].split("/", 1)[0].strip()


def split_path(path: str) -> tuple[str, str]:
    """Decode a path-style S3 path into ``(bucket, key)``."""
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)
