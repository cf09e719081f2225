"""The measuring rig: S3 behind the fault proxy, a live Jupyter server, per-step meters.

:class:`S3Backend` is one moto server with one :class:`FaultProxy` in front
(latency injected there); :func:`start_jupyter` starts a Jupyter server on
JupyterS3 (through the proxy) or on jupyter_server's local-disk manager.
:class:`Meter` runs one step and returns a :class:`StepResult`: wall time, the
proxy's log (S3 requests, bytes, new TCP connections), the worst event-loop
stall (:class:`StallMonitor`, a separate process) and the server's RSS
(:class:`RssSampler`, a thread polling psutil). A second :class:`S3Backend`
(another moto process, another proxy) is the far endpoint of the mount steps:
:class:`Meter` counts the requests of both proxies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from payload import BLOCK, Payload
from stallmon import StallMonitor

from jupyters3_testing import (
    FaultProxy,
    JupyterServer,
    MotoServer,
    ProxyRecord,
    RawS3,
    jupyters3_config,
    merge_config,
)

__all__ = [
    "BUCKET",
    "JUPYTER_ENV",
    "LOCAL_MANAGER",
    "Meter",
    "RssSampler",
    "S3Backend",
    "StepResult",
    "busy_seconds",
    "operation",
    "start_jupyter",
    "write_local_files",
]

MIB = 1024 * 1024
LOCAL_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
BUCKET = "bench"

#: The Jupyter server's environment: dummy keys (moto accepts any signature) and
#: no credential source of this machine (as ``js3_jupyter_env`` in jupyters3-testing).
JUPYTER_ENV: Mapping[str, str | None] = {
    "AWS_ACCESS_KEY_ID": "AKIAJS3BENCH00000000",
    "AWS_SECRET_ACCESS_KEY": "js3-bench-secret-key",
    "AWS_SESSION_TOKEN": None,
    "AWS_SECURITY_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/jupyters3-bench/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/jupyters3-bench/config",
    "AWS_WEB_IDENTITY_TOKEN_FILE": None,
    "AWS_ROLE_ARN": None,
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": None,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": None,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": None,
    "AWS_ENDPOINT_URL_S3": None,
}


class S3Backend:
    """A moto S3 server with a fault proxy in front; both on 127.0.0.1."""

    def __init__(self, *, versioned: bool = False, bucket: str = BUCKET) -> None:
        self.moto = MotoServer()
        self.proxy: FaultProxy | None = None
        #: Enable S3 versioning on the bucket (checkpoints then name versions).
        self.versioned = versioned
        #: The bucket :meth:`fresh` creates (and :meth:`seed` writes into).
        self.bucket = bucket

    def start(self) -> S3Backend:
        self.moto.start()
        self.proxy = FaultProxy(self.moto.endpoint_url).start()
        return self

    def stop(self) -> None:
        """Stop the proxy thread and the moto process. Idempotent."""
        try:
            if self.proxy is not None:
                self.proxy.stop()
        finally:
            self.moto.stop()

    def fresh(self, latency: float) -> FaultProxy:
        """An empty bucket, a cleared proxy log and ``latency`` seconds per request."""
        assert self.proxy is not None
        self.moto.reset()
        self.moto.create_bucket(self.bucket)
        if self.versioned:
            RawS3(self.moto.endpoint_url).client.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        self.proxy.reset()
        self.proxy.configure(latency=latency)
        return self.proxy

    def stored_bytes(self) -> int:
        """Bytes the bucket stores, every version of every object counted."""
        client = RawS3(self.moto.endpoint_url).client
        pages = client.get_paginator("list_object_versions").paginate(Bucket=self.bucket)
        return sum(v["Size"] for page in pages for v in page.get("Versions", []))

    def seed(self, keys: list[str], body: Callable[[int], bytes]) -> None:
        """Write objects straight into moto (not through the proxy): setup, not measured."""
        client = RawS3(self.moto.endpoint_url).client

        def put(index: int) -> None:
            client.put_object(
                Bucket=self.bucket, Key=keys[index], Body=body(index), ContentType="text/plain"
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, range(len(keys))))

    # -- the mount steps' setup and checks: straight into moto, not through the proxy --

    def create_bucket(self, name: str) -> None:
        """Another bucket on this moto server (emptied by the next :meth:`fresh`)."""
        self.moto.create_bucket(name)

    def count_keys(self, bucket: str, prefix: str = "") -> int:
        """How many keys ``bucket`` holds under ``prefix``."""
        return len(RawS3(self.moto.endpoint_url).keys(bucket, prefix))

    def seed_payload(
        self,
        key: str,
        payload: Payload,
        deadline: float,
        *,
        part_size: int = 16 * 1024 * 1024,
        parallel: int = 4,
    ) -> str:
        """Write ``payload`` to ``key`` of the bucket with one multipart upload
        (``part_size`` parts, ``parallel`` in flight: at most ``2 * parallel``
        parts in this process's memory); returns its SHA-256, hashed in order
        as the parts are generated."""
        client = RawS3(self.moto.endpoint_url).client
        upload = client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/octet-stream"
        )["UploadId"]
        digest = hashlib.sha256()

        def put(number: int, body: bytes) -> str:
            answer = client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
            )
            return str(answer["ETag"])

        parts: list[Future[str]] = []
        try:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                starts = range(0, payload.size, part_size)
                for number, start in enumerate(starts, start=1):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"seeding {key}: {start} of {payload.size} bytes")
                    # Bounded memory: wait for the part `parallel` places back.
                    if len(parts) >= parallel:
                        parts[-parallel].result()
                    body = payload.read(start, start + part_size)
                    digest.update(body)
                    parts.append(pool.submit(put, number, body))
                etags = [part.result() for part in parts]
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
                },
            )
        except BaseException:
            client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise
        return digest.hexdigest()

    def object_digest(self, bucket: str, key: str, deadline: float) -> tuple[int, str]:
        """The size and SHA-256 of ``key``, read in 1 MiB chunks (never held whole)."""
        body = RawS3(self.moto.endpoint_url).client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in body.iter_chunks(BLOCK):
                digest.update(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {key} back: {size} bytes in time")
        finally:
            body.close()
        return size, digest.hexdigest()


def start_jupyter(
    manager: str,
    endpoint_url: str | None,
    overrides: Mapping[str, Any],
    mounts: Mapping[str, Any] | None = None,
) -> JupyterServer:
    """Start a Jupyter server on JupyterS3 (``manager="s3"``) or on local disk;
    ``mounts`` is ``c.JupyterS3.mounts`` (JupyterS3 only)."""
    if manager == "s3":
        assert endpoint_url is not None
        config = jupyters3_config(bucket=BUCKET, endpoint_url=endpoint_url)
        if mounts:
            config["JupyterS3"]["mounts"] = dict(mounts)
    else:
        config = {
            "ServerApp": {"contents_manager_class": LOCAL_MANAGER},
            # Deletes really delete (no trash in the home directory), folders included.
            "FileContentsManager": {"delete_to_trash": False, "always_delete_dir": True},
        }
    # Measured at the default log level: DEBUG (the test suite's default) costs time.
    server = JupyterServer(config=merge_config(config, overrides), env=JUPYTER_ENV, debug=False)
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


class RssSampler:
    """Polls a process's resident set size every ``interval`` seconds in a thread.

    On Linux the peak is also read from the kernel's high-water mark (``VmHWM``
    in ``/proc/PID/status``), reset at each :meth:`mark` by writing ``5`` to
    ``/proc/PID/clear_refs``: a copy that lives for less than the polling
    interval (a content GET's JSON answer) is counted too. Where that cannot be
    done, the samples alone give the peak.
    """

    def __init__(self, pid: int, interval: float = 0.020) -> None:
        self._pid = pid
        self._hwm = Path(f"/proc/{pid}/status").exists()
        self._process = psutil.Process(pid)
        self._interval = interval
        self._lock = threading.Lock()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self.mark()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _rss(self) -> int:
        try:
            return int(self._process.memory_info().rss)
        except psutil.Error:  # the server exited; the step will report its error
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._rss()
            with self._lock:
                self._peak = max(self._peak, rss)

    def _reset_high_water(self) -> None:
        if not self._hwm:
            return
        try:
            Path(f"/proc/{self._pid}/clear_refs").write_text("5")
        except OSError:  # not allowed here (or the server exited): samples only
            self._hwm = False

    def _high_water(self) -> int:
        """The kernel's peak RSS since the last reset, 0 when unknown."""
        if not self._hwm:
            return 0
        try:
            for line in Path(f"/proc/{self._pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def mark(self) -> int:
        """Start a new window: the peak restarts from the current RSS, which is returned."""
        self._reset_high_water()
        rss = self._rss()
        with self._lock:
            self._peak = rss
        return rss

    def cpu_seconds(self) -> float:
        """The process's user + system CPU time so far (0 once it exited)."""
        try:
            times = self._process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def peak(self) -> int:
        """Highest RSS seen since :meth:`mark` (a last sample is taken now)."""
        rss = max(self._rss(), self._high_water())
        with self._lock:
            self._peak = max(self._peak, rss)
            return self._peak


@dataclasses.dataclass
class StepResult:
    """The figures of one step. S3 fields are None for the local-disk manager."""

    manager: str
    latency_ms: float | None
    step: str
    label: str
    ops: int
    wall_s: float
    stall_ms: float
    rss_start_mib: float
    rss_peak_mib: float
    #: CPU seconds (user + system) the Jupyter server used during the step.
    cpu_s: float = 0.0
    requests: int | None = None
    #: Request body bytes the server sent to S3 (the proxy's ``bytes_in``).
    bytes_to_s3: int | None = None
    #: Response body bytes the server got from S3 (the proxy's ``bytes_out``).
    bytes_from_s3: int | None = None
    s3_errors: int | None = None
    #: Seconds during which at least one S3 request was in flight (the union of the
    #: proxy's request intervals): the part of ``wall_s`` spent waiting on S3.
    s3_busy_s: float | None = None
    connections: int | None = None
    by_operation: dict[str, int] = dataclasses.field(default_factory=dict)
    #: S3 requests and new connections per endpoint ("main", then each other
    #: proxy's name), when the server talks to more than one (the mount steps).
    requests_by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    connections_by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    error: str | None = None
    #: Why the step was not run on this server (its figures are NaN).
    skipped: str | None = None
    #: Figures the step measured itself (the kernel steps: start, write-back, LISTs).
    figures: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def rss_growth_mib(self) -> float:
        return self.rss_peak_mib - self.rss_start_mib

    @property
    def requests_per_op(self) -> float | None:
        return None if self.requests is None else self.requests / max(1, self.ops)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rss_growth_mib"] = round(self.rss_growth_mib, 2)
        data["requests_per_op"] = self.requests_per_op
        return data


def busy_seconds(records: list[ProxyRecord]) -> float:
    """The length of the union of the requests' ``[started, started + duration]``."""
    total = 0.0
    end = -math.inf
    for start, stop in sorted((r.started, r.started + r.duration) for r in records):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def operation(record: ProxyRecord, endpoint: str = "") -> str:
    """A short name for an S3 request: method plus the query's parameter names
    (prefixed with ``endpoint:`` for a request to another endpoint than the main one)."""
    params = sorted(k for k in record.query if k not in ("X-Amz-Date", "x-id"))
    what = "object" if record.key else "bucket"
    name = f"{record.method} {what}" + (f" ?{'&'.join(params)}" if params else "")
    if endpoint:
        name = f"{endpoint}: {name}"
    if record.fault is not None or (record.status or 0) >= 400:
        name += f" -> {record.fault or record.status}"
    return name


class Meter:
    """Measures steps against one Jupyter server (and its proxy, for JupyterS3).

    ``others`` names the proxies of other S3 endpoints the server talks to (a
    mount on a second moto server): their requests are counted with the main
    proxy's, their operations prefixed with the name.
    """

    def __init__(
        self,
        manager: str,
        latency_ms: float | None,
        monitor: StallMonitor,
        rss: RssSampler,
        proxy: FaultProxy | None,
        others: Mapping[str, FaultProxy] | None = None,
    ) -> None:
        self.manager = manager
        self.latency_ms = latency_ms
        self.monitor = monitor
        self.rss = rss
        self.proxy = proxy
        self.others = dict(others or {})

    def _proxies(self) -> dict[str, FaultProxy]:
        """Every proxy, by endpoint name: ``""`` is the main one."""
        main = {"": self.proxy} if self.proxy is not None else {}
        return {**main, **self.others}

    def measure(self, step: str, label: str, ops: int, work: Callable[[], None]) -> StepResult:
        """Run ``work`` once and collect its figures; its exception becomes ``error``."""
        proxies = self._proxies()
        opened: dict[str, int] = {}
        for name, proxy in proxies.items():
            proxy.clear()
            opened[name] = proxy.connections_opened
        rss_start = self.rss.mark()
        cpu_start = self.rss.cpu_seconds()
        error: str | None = None
        start = time.monotonic()
        try:
            work()
        except Exception as exc:  # reported in the table; the next steps still run
            error = f"{type(exc).__name__}: {exc}"[:300]
        end = time.monotonic()
        rss_peak = self.rss.peak()
        cpu = self.rss.cpu_seconds() - cpu_start
        stall = self.monitor.worst(start, end)
        result = StepResult(
            manager=self.manager,
            latency_ms=self.latency_ms,
            step=step,
            label=label,
            ops=ops,
            wall_s=end - start,
            stall_ms=stall * 1000,
            rss_start_mib=rss_start / MIB,
            rss_peak_mib=rss_peak / MIB,
            cpu_s=max(0.0, cpu),
            error=error,
        )
        if proxies:
            logs = {name: proxy.records() for name, proxy in proxies.items()}
            records = [r for log in logs.values() for r in log]
            result.requests = len(records)
            result.bytes_to_s3 = sum(r.bytes_in for r in records)
            result.bytes_from_s3 = sum(r.bytes_out for r in records)
            result.s3_errors = sum(
                1 for r in records if r.fault is not None or (r.status or 0) >= 400
            )
            conns = {name: p.connections_opened - opened[name] for name, p in proxies.items()}
            result.connections = sum(conns.values())
            result.s3_busy_s = busy_seconds(records)
            names = Counter(operation(r, name) for name, log in logs.items() for r in log)
            result.by_operation = dict(names.most_common())
            if self.others:
                result.requests_by_endpoint = {name or "main": len(logs[name]) for name in logs}
                result.connections_by_endpoint = {name or "main": conns[name] for name in conns}
        return result


def write_local_files(root: Path, paths: list[str], body: Callable[[int], bytes]) -> None:
    """Write files under a local server's root_dir directly: setup, not measured."""
    for index, path in enumerate(paths):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body(index))
