"""The proxy's server side: one ``_Exchange`` per client request.

Both legs use Tornado's ``HTTP1Connection``: the client leg as a server
connection, the S3 leg as a client connection (one per request). Each awaits
the other's writes, which gives backpressure in both directions, so a body is
never held in memory as a whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import logging
import time
import uuid
import weakref
from email.utils import formatdate
from typing import Protocol, cast
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from tornado import httputil, iostream
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.httpserver import HTTPServer
from tornado.tcpclient import TCPClient

from jupyters3_testing.faults import Fault, ProxyRecord, RequestInfo, access_key_id, split_path

__all__ = ["RelayHost", "make_server"]

log = logging.getLogger("jupyters3_testing.proxy")

_CHUNK = 64 * 1024
_MAX_BODY = 1 << 42  # 4 TiB: effectively unlimited, bodies are streamed
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        # Tornado's server answers "100 Continue" itself; the upstream leg
        # sends the body without waiting.
        "expect",
    }
)
_SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token", "cookie"})
#: The longest "endless" body the proxy sends (a bound on every loop).
_ENDLESS = 1 << 30
_LAUGHS = b"".join(
    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
).replace(b"&lol0;", b"lol")
_HOSTILE_BODIES = {
    # A truncated page whose continuation token is always the same one.
    "repeat_token": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>'
        b"<IsTruncated>true</IsTruncated><KeyCount>0</KeyCount>"
        b"<NextContinuationToken>the-same-token</NextContinuationToken></ListBucketResult>"
    ),
    # "Billion laughs": nine levels of entities, ten each, expanding to 10**9 "lol"s.
    "doctype": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [' + _LAUGHS + b"]>"
        b"<ListBucketResult><IsTruncated>false</IsTruncated>"
        b"<Contents><Key>&lol9;</Key><Size>1</Size></Contents></ListBucketResult>"
    ),
}


class RelayHost(Protocol):
    """What the relay asks of the proxy that owns it (``FaultProxy`` is one)."""

    @property
    def upstream_address(self) -> tuple[str, int]:
        """The S3 server's host and port."""
        ...

    def connection_accepted(self) -> int:
        """Count a new client connection; its id (unique for the proxy's lifetime)."""
        ...

    def wants_body(self, info: RequestInfo) -> bool:
        """Whether the request body must be read before :meth:`decide`."""
        ...

    def decide(self, info: RequestInfo) -> tuple[float, Fault | None]:
        """The latency to add and the fault to inject (None: forward)."""
        ...

    def add_record(self, record: ProxyRecord) -> None:
        """Log one finished request."""
        ...


def make_server(proxy: RelayHost) -> HTTPServer:
    """A Tornado HTTPServer (not yet listening) that proxies for ``proxy``."""
    core = _Core(proxy)
    server = _ProxyHTTPServer(
        core, chunk_size=_CHUNK, max_body_size=_MAX_BODY, decompress_request=False
    )
    server.core = core
    return server


class _ProxyHTTPServer(HTTPServer):
    core: _Core

    def handle_stream(self, stream: iostream.IOStream, address: tuple[object, ...]) -> None:
        self.core.connection_ids[stream] = self.core.proxy.connection_accepted()
        super().handle_stream(stream, address)


class _Core(httputil.HTTPServerConnectionDelegate):
    def __init__(self, proxy: RelayHost) -> None:
        self.proxy = proxy
        self.connection_ids: weakref.WeakKeyDictionary[iostream.IOStream, int] = (
            weakref.WeakKeyDictionary()
        )
        self.tcp_client = TCPClient()
        self.tasks: set[asyncio.Task[None]] = set()
        self.upstream_params = HTTP1ConnectionParameters(
            no_keep_alive=True, chunk_size=_CHUNK, max_body_size=_MAX_BODY, decompress=False
        )

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        conn = cast(HTTP1Connection, request_conn)
        return _Exchange(self, conn, self.connection_ids.get(conn.stream, 0))


def _forward_headers(src: httputil.HTTPHeaders) -> httputil.HTTPHeaders:
    named = {t.strip().lower() for t in src.get("Connection", "").split(",") if t.strip()}
    out = httputil.HTTPHeaders()
    for name, value in src.get_all():
        lower = name.lower()
        if lower not in _HOP_BY_HOP and lower not in named:
            out.add(name, value)
    return out


def _consume_exception(future: asyncio.Future[bool]) -> None:
    if not future.cancelled():
        future.exception()


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Exchange(httputil.HTTPMessageDelegate):
    """One client request: decide, delay, forward (streaming) or fault."""

    def __init__(self, core: _Core, conn: HTTP1Connection, connection_id: int) -> None:
        self.core = core
        self.conn = conn
        self.connection_id = connection_id
        self.method = ""
        self.bucket = self.key = ""
        self.query: dict[str, str] = {}
        self.access_key_id = ""
        self.started = 0.0
        self.t0 = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.status: int | None = None
        self.fault: Fault | None = None
        self.upstream: HTTP1Connection | None = None
        self.upstream_task: asyncio.Future[bool] | None = None
        self.upstream_failed = False
        self.body_done = asyncio.Event()
        self.client_gone = False
        self.headers_sent = False
        self.expected_out: int | None = None
        self.recorded = False
        self.start_line: httputil.RequestStartLine | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.info: RequestInfo | None = None
        #: The request body, read whole before deciding (a hook wants it).
        self.held: bytearray | None = None

    # -- client side (HTTPMessageDelegate) ---------------------------------

    async def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.started, self.t0 = time.time(), time.monotonic()
        self.start_line, self.headers = start_line, headers
        self.method = start_line.method.upper()
        parts = urlsplit(start_line.path)
        self.bucket, self.key = split_path(parts.path)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.access_key_id = access_key_id(headers.get("Authorization", ""))
        safe_headers = {
            k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.get_all()
        }
        self.info = RequestInfo(
            method=self.method,
            path=parts.path,
            bucket=self.bucket,
            key=self.key,
            query=dict(self.query),
            headers=safe_headers,
            connection_id=self.connection_id,
            sequence=-1,
            access_key_id=self.access_key_id,
        )
        try:
            wants_body = self.core.proxy.wants_body(self.info)
        except Exception:  # a broken hook must not hang the client
            log.exception("FaultProxy: a hook's wants_body raised")
            wants_body = False
        if wants_body:
            self.held = bytearray()  # decided in finish(), once the body is in
            return
        await self._decide_and_open()

    async def _decide_and_open(self) -> None:
        """Ask the host, wait the latency, and open the S3 leg unless a fault
        answers without it."""
        assert self.info is not None and self.start_line is not None and self.headers is not None
        info = self.info
        if self.held is not None:
            info = dataclasses.replace(info, body=bytes(self.held))
        try:
            latency, self.fault = self.core.proxy.decide(info)
        except Exception as exc:  # a broken rule must not hang the client
            log.exception("FaultProxy: rule raised")
            latency, self.fault = 0.0, Fault.error(500, "ProxyRuleError", repr(exc))
        if self.fault is not None and self.fault.kind == "slow":
            latency += self.fault.delay
        if latency > 0:
            await asyncio.sleep(latency)
        if self.fault is None or self.fault.kind in ("drop_after_forward", "ignore_range", "slow"):
            headers = self.headers
            if self.fault is not None and self.fault.kind == "ignore_range":
                headers = httputil.HTTPHeaders(
                    {k: v for k, v in headers.get_all() if k.lower() != "range"}
                )
            await self._open_upstream(self.start_line, headers)
            if self.held is not None and self.upstream is not None and not self.upstream_failed:
                try:
                    await self.upstream.write(bytes(self.held))
                except (iostream.StreamClosedError, httputil.HTTPOutputError):
                    self.upstream_failed = True

    async def _open_upstream(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        proxy = self.core.proxy
        try:
            host, port = proxy.upstream_address
            stream = await self.core.tcp_client.connect(host, port)
        except OSError:
            log.warning("FaultProxy: cannot connect to %s:%d", host, port)
            self.upstream_failed = True
            return
        stream.set_nodelay(True)
        self.upstream = HTTP1Connection(stream, True, self.core.upstream_params)
        out_line = httputil.RequestStartLine(self.method, start_line.path, "HTTP/1.1")
        try:
            await self.upstream.write_headers(out_line, _forward_headers(headers))
        except iostream.StreamClosedError:
            self.upstream_failed = True
            return
        self.upstream_task = asyncio.ensure_future(
            self.upstream.read_response(_UpstreamResponse(self))
        )
        # If the client vanishes, nobody awaits this task: retrieve its error.
        self.upstream_task.add_done_callback(_consume_exception)

    async def data_received(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        if self.held is not None:
            self.held += chunk
            return
        if self.upstream is not None and not self.upstream_failed:
            try:
                await self.upstream.write(chunk)
            except (iostream.StreamClosedError, httputil.HTTPOutputError):
                self.upstream_failed = True

    def finish(self) -> None:
        self.body_done.set()
        task = asyncio.ensure_future(self._respond())
        self.core.tasks.add(task)
        task.add_done_callback(self.core.tasks.discard)

    def on_connection_close(self) -> None:
        # The client went away before its request was complete.
        self.client_gone = True
        self.body_done.set()
        self._close_upstream()
        self._record("client_closed")

    # -- responding --------------------------------------------------------

    async def _respond(self) -> None:
        try:
            if self.held is not None:
                await self._decide_and_open()
            await self._respond_inner()
        except Exception:
            log.exception("FaultProxy: error while answering %s %s", self.method, self.key)
            self._record("upstream_error")
            self.conn.close()
        finally:
            self._close_upstream()

    async def _respond_inner(self) -> None:
        fault = self.fault
        if fault is not None and fault.kind == "drop":
            self._record(fault.label)
            self.conn.close()
            return
        if fault is not None and fault.kind == "error":
            await self._send_error(
                fault.status, fault.code, fault.message, fault.label, region=fault.region
            )
            return
        if fault is not None and fault.kind == "garbage":
            await self._send_garbage(fault.label)
            return
        if fault is not None and fault.kind in ("repeat_token", "doctype"):
            await self._send_body(fault.label, _HOSTILE_BODIES[fault.kind])
            return
        if fault is not None and fault.kind == "oversized":
            await self._send_oversized(fault)
            return
        dropping = fault is not None and fault.kind == "drop_after_forward"
        upstream, task = self.upstream, self.upstream_task
        ok = False
        if upstream is not None and task is not None:
            try:
                upstream.finish()
            except httputil.HTTPOutputError:
                self.upstream_failed = True
            try:
                ok = bool(await task)
            except Exception:
                ok = False
        if dropping:
            self._record(fault.label if fault is not None else None)
            self.conn.close()
        elif self.client_gone:
            self._record("client_closed")
        elif not self.headers_sent:
            await self._send_error(
                502, "BadGateway", "The fault proxy got no answer from S3.", "upstream_error"
            )
        elif not ok:
            self._record("upstream_error")
            self.conn.close()
        else:
            self._record(None)
            try:
                self.conn.finish()
            except httputil.HTTPOutputError:
                self.conn.close()

    async def _send_garbage(self, label: str) -> None:
        """200 OK with a truncated XML document: what a broken gateway or store sends."""
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Contents><Key>trunc'
        await self._send_body(label, body)

    async def _send_oversized(self, fault: Fault) -> None:
        """``fault.status`` with ``fault.size`` bytes of body (0: until the client
        hangs up, at most :data:`_ENDLESS`), streamed in chunks."""
        size = fault.size or _ENDLESS
        headers = httputil.HTTPHeaders(
            {
                "Content-Type": "application/xml",
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                "Date": formatdate(usegmt=True),
                "Server": "js3-fault-proxy",
            }
        )
        if fault.content_length and fault.size:
            headers["Content-Length"] = str(size)
        self.status = fault.status
        self._record(fault.label)  # before the client can see anything of it
        line = httputil.ResponseStartLine("HTTP/1.1", fault.status, _reason(fault.status))
        chunk = b"<" + b"x" * (_CHUNK - 1)
        try:
            await self.conn.write_headers(line, headers)
            sent = 0
            while sent < size and self.method != "HEAD":
                piece = chunk[: size - sent]
                await self.conn.write(piece)
                sent += len(piece)
                self.bytes_out = sent
            self.conn.finish()
        except (iostream.StreamClosedError, httputil.HTTPOutputError):
            self.conn.close()

    async def _send_body(self, label: str, body: bytes) -> None:
        """200 OK with ``body`` (an XML document), not forwarded."""
        headers = httputil.HTTPHeaders(
            {
                "Content-Type": "application/xml",
                "Content-Length": str(len(body)),
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                "Date": formatdate(usegmt=True),
                "Server": "js3-fault-proxy",
            }
        )
        if self.method == "HEAD":
            body = b""
        self.status = 200
        self.bytes_out = len(body)
        self._record(label)
        line = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
        try:
            await self.conn.write_headers(line, headers, body or None)
            self.conn.finish()
        except (iostream.StreamClosedError, httputil.HTTPOutputError):
            self.conn.close()

    async def _send_error(
        self, status: int, code: str, message: str, label: str, *, region: str = ""
    ) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        region_xml = f"<Region>{escape(region)}</Region>" if region else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"{region_xml}<RequestId>{request_id}</RequestId>"
            "<HostId>js3-fault-proxy</HostId></Error>"
        ).encode()
        headers = httputil.HTTPHeaders(
            {
                "Content-Type": "application/xml",
                "Content-Length": str(len(body)),
                "x-amz-request-id": request_id,
                "Date": formatdate(usegmt=True),
                "Server": "js3-fault-proxy",
            }
        )
        if region:
            headers["x-amz-bucket-region"] = region
        if self.method == "HEAD":
            body = b""
        self.status = status
        self.bytes_out = len(body)
        self._record(label)
        line = httputil.ResponseStartLine("HTTP/1.1", status, _reason(status))
        try:
            await self.conn.write_headers(line, headers, body or None)
            self.conn.finish()
        except (iostream.StreamClosedError, httputil.HTTPOutputError):
            self.conn.close()

    def _record(self, fault: str | None) -> None:
        if self.recorded:
            return
        self.recorded = True
        if fault is None and self.fault is not None and self.fault.kind in ("ignore_range", "slow"):
            fault = self.fault.label  # forwarded, but not as the client asked
        # None when the client received no status line at all.
        received = fault not in ("drop", "drop_after_forward", "client_closed") or (
            fault == "client_closed" and self.headers_sent
        )
        status = self.status if received else None
        self.core.proxy.add_record(
            ProxyRecord(
                method=self.method,
                bucket=self.bucket,
                key=self.key,
                query=self.query,
                status=status,
                bytes_in=self.bytes_in,
                bytes_out=self.bytes_out,
                fault=fault,
                started=self.started,
                duration=time.monotonic() - self.t0,
                connection_id=self.connection_id,
                access_key_id=self.access_key_id,
            )
        )

    def _close_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()


class _UpstreamResponse(httputil.HTTPMessageDelegate):
    """Relays S3's response to the client (or swallows it for drop_after_forward)."""

    def __init__(self, ex: _Exchange) -> None:
        self.ex = ex
        self.dropping = ex.fault is not None and ex.fault.kind == "drop_after_forward"

    async def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        ex = self.ex
        await ex.body_done.wait()  # answer only once the client's request is complete
        ex.status = start_line.code
        if self.dropping or ex.client_gone:
            return
        code = start_line.code
        if ex.method == "HEAD" or code in (204, 304) or code < 200:
            ex.expected_out = 0
        elif "Content-Length" in headers:
            ex.expected_out = int(headers["Content-Length"])
        if ex.expected_out == 0:
            ex._record(None)
        line = httputil.ResponseStartLine("HTTP/1.1", code, start_line.reason)
        try:
            await ex.conn.write_headers(line, _forward_headers(headers))
            ex.headers_sent = True
        except iostream.StreamClosedError:
            ex.client_gone = True
            ex._close_upstream()  # stop reading a body nobody will receive

    async def data_received(self, chunk: bytes) -> None:
        ex = self.ex
        if self.dropping or ex.client_gone:
            return
        ex.bytes_out += len(chunk)
        if ex.expected_out is not None and ex.bytes_out >= ex.expected_out:
            ex._record(None)  # before the client can see the last byte
        try:
            await ex.conn.write(chunk)
        except (iostream.StreamClosedError, httputil.HTTPOutputError):
            ex.client_gone = True
            ex._close_upstream()  # stop reading a body nobody will receive

    def finish(self) -> None:
        pass

    def on_connection_close(self) -> None:
        self.ex.upstream_failed = True
