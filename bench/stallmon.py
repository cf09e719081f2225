"""Event-loop stall monitor: a separate process pings ``GET /api/status`` every 10 ms.

Run as a script (``python bench/stallmon.py PORT``, token in the
``BENCH_JUPYTER_TOKEN`` environment variable) it prints one line per ping,
``<monotonic send time> <response seconds>``, until it is terminated. A
Jupyter server answers ``/api/status`` from its event loop at once, so a slow
answer means the loop was busy. ``time.monotonic()`` is ``CLOCK_MONOTONIC``,
shared by every process on Linux, so the parent can match pings to steps.

:class:`StallMonitor` is the parent's side: it starts the process, collects
the lines in a thread, and reports the worst response of a time window
above the idle baseline.
"""

from __future__ import annotations

import http.client
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["StallMonitor"]

_HOST = "127.0.0.1"
_INTERVAL = 0.010
_TIMEOUT = 120.0
_MAX_SECONDS = 6 * 3600.0  # the child gives up on its own after this long


def _ping(conn: http.client.HTTPConnection, token: str) -> None:
    conn.request("GET", "/api/status", headers={"Authorization": f"token {token}"})
    resp = conn.getresponse()
    resp.read()


def _child(port: int, token: str) -> None:
    # Ctrl-C reaches the whole process group: the parent stops us by PID.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = http.client.HTTPConnection(_HOST, port, timeout=_TIMEOUT)
    start = time.monotonic()
    next_send = start
    for _ in range(int(_MAX_SECONDS / _INTERVAL)):
        now = time.monotonic()
        if now < next_send:
            time.sleep(next_send - now)
        sent = time.monotonic()
        try:
            _ping(conn, token)  # keep-alive: one TCP connection while it lasts
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(_HOST, port, timeout=_TIMEOUT)
        took = time.monotonic() - sent
        try:
            print(f"{sent:.6f} {took:.6f}", flush=True)
        except BrokenPipeError:
            return
        next_send = max(sent + _INTERVAL, time.monotonic())


class StallMonitor:
    """The ping process for one Jupyter server and the pings it reported."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.baseline = 0.0
        self._samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> StallMonitor:
        """Start the ping process and the thread that reads its output."""
        env = dict(os.environ, BENCH_JUPYTER_TOKEN=self.token, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, str(Path(__file__).resolve()), str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="stall-reader", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        """The ping process's PID (None before start)."""
        return self._proc.pid if self._proc is not None else None

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:  # ends when the child exits
            sent, _, took = line.partition(" ")
            try:
                sample = (float(sent), float(took))
            except ValueError:
                continue
            with self._lock:
                self._samples.append(sample)

    def stop(self) -> None:
        """Terminate the ping process by PID (kill after 5 s). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _window(self, start: float, end: float) -> list[float]:
        """Response times of the pings whose [send, answer] overlaps [start, end], and of
        the first ping sent after ``end`` (a step shorter than the ping interval may
        overlap none; a loop still busy when the step returns delays that one)."""
        with self._lock:
            samples = list(self._samples)
        window = [took for sent, took in samples if sent <= end and sent + took >= start]
        after = next((took for sent, took in samples if sent > end), None)
        return window if after is None else [*window, after]

    def _wait_past(self, moment: float, timeout: float) -> bool:
        """Wait until a ping sent after ``moment`` was answered (so none is in flight)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._samples and self._samples[-1][0] > moment:
                    return True
            if self._proc is None or self._proc.poll() is not None:
                return False
            time.sleep(0.005)
        return False

    def measure_baseline(self, seconds: float = 1.0) -> float:
        """Median response time over ``seconds`` of an idle server; stored in :attr:`baseline`."""
        start = time.monotonic()
        time.sleep(seconds)
        self._wait_past(time.monotonic(), timeout=10.0)
        window = self._window(start, time.monotonic())
        if not window:
            raise RuntimeError("the stall monitor got no answer from the Jupyter server")
        self.baseline = statistics.median(window)
        return self.baseline

    def worst(self, start: float, end: float, timeout: float = _TIMEOUT + 5) -> float:
        """Worst response time above :attr:`baseline` in [start, end], in seconds.

        Waits for the ping in flight at ``end`` to be answered, so a loop still
        stalled when the step returns is counted. ``nan`` if no ping was answered.
        """
        self._wait_past(end, timeout)
        window = self._window(start, end)
        if not window:
            return float("nan")
        return max(0.0, max(window) - self.baseline)


if __name__ == "__main__":
    _child(int(sys.argv[1]), os.environ.get("BENCH_JUPYTER_TOKEN", ""))
