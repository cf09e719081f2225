"""Chaos mode: every Jupyter server of a test run talks to S3 through faults.

Set ``JS3_CHAOS`` and every config made by
:func:`jupyters3_testing.jupyter_fixtures.jupyters3_config` points its
``endpoint_url`` at a :class:`~jupyters3_testing.proxy.FaultProxy` in front of
the endpoint the test asked for (one proxy per endpoint, per process), which
answers a share of requests with 503 SlowDown or 500 InternalError and drops
a share of connections, before or after forwarding. The servers get
``max_attempts`` retries. Everything else (the raw inspector, the tests' own
proxies and rules) is untouched, so a test's assertions still see the truth.

``JS3_CHAOS=1`` uses the default rates (5% errors: 3% 503 + 2% 500; 1% dropped
connections: half before S3 sees the request, half after); or give them, e.g.
``JS3_CHAOS="503=0.03,500=0.02,drop=0.005,lost=0.005,attempts=6,seed=7"``.

Tests that need S3 answers exactly as they set them up (pinned request
counts, an unreachable endpoint) mark themselves ``js3_no_chaos``;
a run in chaos mode deselects them (``-m "not js3_no_chaos"``).
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass

from jupyters3_testing.proxy import FaultProxy

__all__ = ["ChaosSettings", "chaos_endpoint", "chaos_settings"]

_DEFAULTS = {"503": 0.03, "500": 0.02, "drop": 0.005, "lost": 0.005, "attempts": 6, "seed": 1}


@dataclass(frozen=True)
class ChaosSettings:
    error_503_rate: float
    error_500_rate: float
    drop_rate: float
    drop_after_forward_rate: float
    max_attempts: int
    seed: int


def chaos_settings(environ: dict[str, str] | None = None) -> ChaosSettings | None:
    """The settings from ``JS3_CHAOS`` (None when it is unset, empty or ``0``)."""
    value = (os.environ if environ is None else environ).get("JS3_CHAOS", "").strip()
    if value in ("", "0"):
        return None
    fields = dict(_DEFAULTS)
    if value != "1":
        for item in value.split(","):
            name, _, number = item.partition("=")
            if name.strip() not in fields or not number:
                raise ValueError(f"JS3_CHAOS: unknown or empty setting {item!r}")
            fields[name.strip()] = float(number)
    return ChaosSettings(
        error_503_rate=float(fields["503"]),
        error_500_rate=float(fields["500"]),
        drop_rate=float(fields["drop"]),
        drop_after_forward_rate=float(fields["lost"]),
        max_attempts=int(fields["attempts"]),
        seed=int(fields["seed"]),
    )


_lock = threading.Lock()
_proxies: dict[str, FaultProxy] = {}


def chaos_endpoint(upstream_url: str, settings: ChaosSettings) -> str:
    """The URL of the (started, shared) chaos proxy in front of ``upstream_url``."""
    with _lock:
        proxy = _proxies.get(upstream_url)
        if proxy is None:
            proxy = FaultProxy(upstream_url, seed=settings.seed).start()
            proxy.configure(
                error_503_rate=settings.error_503_rate,
                error_500_rate=settings.error_500_rate,
                drop_rate=settings.drop_rate,
                drop_after_forward_rate=settings.drop_after_forward_rate,
            )
            if not _proxies:
                atexit.register(_stop_all)
            _proxies[upstream_url] = proxy
        return proxy.endpoint_url


def chaos_report() -> str:
    """One line per chaos proxy: requests seen and faults injected."""
    with _lock:
        proxies = list(_proxies.values())
    lines = []
    for proxy in proxies:
        records = proxy.records()
        faults = sum(1 for r in records if r.fault is not None)
        lines.append(
            f"chaos in front of {proxy.upstream_url}: {len(records)} S3 requests, {faults} faults"
        )
    return "\n".join(lines)


def _stop_all() -> None:
    with _lock:
        proxies = list(_proxies.values())
        _proxies.clear()
    for proxy in proxies:
        proxy.stop()
