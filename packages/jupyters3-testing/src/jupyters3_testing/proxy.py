"""An HTTP proxy between an S3 client and an S3 server that adds latency and faults.

The proxy runs a Tornado HTTP server on its own asyncio event loop in a daemon
thread, so it serves sync tests, async tests (on any other loop) and other
processes alike. Request and response bodies are streamed with backpressure in
both directions (see ``_relay``), so multi-GB objects pass with flat memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit

from tornado.netutil import bind_sockets

from jupyters3_testing._relay import make_server
from jupyters3_testing.faults import Fault, ProxyHook, ProxyRecord, RequestInfo, Rule, split_path

__all__ = ["Fault", "FaultProxy", "ProxyHook", "ProxyRecord", "RequestInfo", "Rule", "split_path"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Config:
    latency: float = 0.0
    error_503_rate: float = 0.0
    error_500_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_forward_rate: float = 0.0
    rule: Rule | None = None


@dataclasses.dataclass
class _State:
    records: list[ProxyRecord] = dataclasses.field(default_factory=list)
    connections_opened: int = 0
    sequence: int = 0


class FaultProxy:
    """A fault-and-latency HTTP proxy in front of ``upstream_url`` (plain http)."""

    def __init__(self, upstream_url: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream_url must be http://host[:port], got {upstream_url!r}")
        self.upstream_url = upstream_url
        self._up_host = parts.hostname
        self._up_port = parts.port or 80
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not crypto
        self._lock = threading.Lock()
        self._config = _Config()
        self._state = _State()
        self._connection_ids = itertools.count(1)  # never reset: ids stay unique
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._hooks: tuple[ProxyHook, ...] = ()

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FaultProxy:
        """Bind 127.0.0.1 on a free port and start serving in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self._port = int(sockets[0].getsockname()[1])
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._run, args=(sockets,), name=f"js3-fault-proxy-{self._port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"FaultProxy did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed in between
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout)
        self._loop = self._stop_event = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, sockets: list[socket.socket]) -> None:
        try:
            asyncio.run(self._serve(sockets))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            for sock in sockets:
                sock.close()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = make_server(self)
        server.add_sockets(sockets)
        self._ready.set()
        await self._stop_event.wait()
        server.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), 5.0)
        except asyncio.TimeoutError:
            log.warning("FaultProxy: connections did not close within 5s")

    # -- properties --------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        if self._port is None:
            raise RuntimeError("FaultProxy was never started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: point the S3 client here."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections_opened(self) -> int:
        """Client TCP connections accepted since start or the last :meth:`reset`."""
        with self._lock:
            return self._state.connections_opened

    # -- configuration -----------------------------------------------------

    def configure(
        self,
        *,
        latency: float = 0.0,
        error_503_rate: float = 0.0,
        error_500_rate: float = 0.0,
        drop_rate: float = 0.0,
        drop_after_forward_rate: float = 0.0,
        rule: Rule | None = None,
    ) -> None:
        """Replace the fault settings (arguments left out go back to 0 / None).

        ``rule`` is asked first for every request; when it returns None one
        seeded random draw picks among the rates (their sum must be <= 1).
        """
        rates = (error_503_rate, error_500_rate, drop_rate, drop_after_forward_rate)
        if latency < 0 or any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("latency must be >= 0, rates in [0, 1] with a sum <= 1")
        with self._lock:
            self._config = _Config(
                latency, error_503_rate, error_500_rate, drop_rate, drop_after_forward_rate, rule
            )

    def add_hook(self, hook: ProxyHook) -> None:
        """Ask ``hook`` about every request from now on, before the rule and the
        random faults (hooks are asked in the order added; the first fault wins)."""
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def remove_hook(self, hook: ProxyHook) -> None:
        """Stop asking ``hook`` (:meth:`reset` removes every hook)."""
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)

    def reset(self, *, seed: int | None = None) -> None:
        """Clear the log and counters, remove all faults and hooks, and re-seed the
        random source."""
        with self._lock:
            self._hooks = ()
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)  # noqa: S311
            self._config = _Config()
            self._state = _State()

    # -- log ---------------------------------------------------------------

    def records(self) -> list[ProxyRecord]:
        """A copy of the request log, oldest first.

        A request's record is added before the client can see the end of its
        response, so it is present as soon as the client call returns.
        """
        with self._lock:
            return list(self._state.records)

    def clear(self) -> None:
        """Empty the request log (faults and counters stay)."""
        with self._lock:
            self._state.records.clear()

    def count(
        self,
        method: str | None = None,
        *,
        fault: str | None = None,
        faulted: bool | None = None,
        status: int | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> int:
        """Number of records matching every filter given (None means any)."""
        return sum(
            1
            for r in self.records()
            if (method is None or r.method == method.upper())
            and (fault is None or r.fault == fault)
            and (faulted is None or (r.fault is not None) == faulted)
            and (status is None or r.status == status)
            and (bucket is None or r.bucket == bucket)
            and (key is None or r.key == key)
        )

    # -- the relay's side (jupyters3_testing._relay.RelayHost), on the proxy's loop

    @property
    def upstream_address(self) -> tuple[str, int]:
        """The S3 server's host and port."""
        return self._up_host, self._up_port

    def connection_accepted(self) -> int:
        """Count a new client connection; returns its id."""
        with self._lock:
            self._state.connections_opened += 1
            return next(self._connection_ids)

    def wants_body(self, info: RequestInfo) -> bool:
        """Whether a hook needs the request body before :meth:`decide`."""
        with self._lock:
            hooks = self._hooks
        return any(hook.wants_body(info) for hook in hooks)

    def decide(self, info: RequestInfo) -> tuple[float, Fault | None]:
        """The latency and the fault (None: forward) for one request: the hooks
        first, then the rule, then one seeded random draw among the rates."""
        with self._lock:
            config = self._config
            hooks = self._hooks
            sequence = self._state.sequence
            self._state.sequence += 1
            draw = self._rng.random()
        info = dataclasses.replace(info, sequence=sequence)
        for hook in hooks:
            fault = hook.decide(info)
            if fault is not None:
                return config.latency, fault
        if config.rule is not None:
            fault = config.rule(info)
            if fault is not None:
                return config.latency, fault
        for rate, choice in (
            (config.drop_rate, Fault.drop()),
            (config.drop_after_forward_rate, Fault.drop_after_forward()),
            (config.error_503_rate, Fault.slow_down()),
            (config.error_500_rate, Fault.internal_error()),
        ):
            if draw < rate:
                return config.latency, choice
            draw -= rate
        return config.latency, None

    def add_record(self, record: ProxyRecord) -> None:
        """Log one finished request."""
        with self._lock:
            self._state.records.append(record)
