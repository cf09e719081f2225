"""Benchmark JupyterS3 against jupyter_server's local-disk manager on a live server.

    hatch run bench:run --sizes small
    hatch run bench:run --sizes full --json bench.json

One moto S3 server with the fault proxy in front serves every JupyterS3 run
(emptied between runs); each (manager, latency) gets a fresh Jupyter server, a
stall monitor process and an RSS sampler. The mount steps (opt-in) get a second
Jupyter server with mounts, and a second moto server with its own proxy as the
far endpoint. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jupyter_server
from harness import (
    BUCKET,
    Meter,
    RssSampler,
    S3Backend,
    StepResult,
    start_jupyter,
    write_local_files,
)
from kernel_steps import KERNEL_FIXTURES, KERNEL_REFRESH, KERNEL_STEPS, KernelRig
from report import Run, check_targets, header, print_checks, row_figures, row_label, write_json
from stallmon import StallMonitor
from steps import (
    FAR_BUCKET,
    FIXTURES,
    SIZES,
    STORED_STEPS,
    TEAM_BUCKET,
    Context,
    MountRig,
    Seed,
    Sizes,
    Step,
    ensure,
    mounts_config,
)
from steps import STEPS as CONTENTS_STEPS
from wide import WIDE_FIXTURES, WIDE_STEPS

from jupyters3 import JupyterS3
from jupyters3.check_config import parse_overrides
from jupyters3_testing import (
    ContentsClient,
    FaultProxy,
    JupyterServer,
    JupyterServerError,
    RawS3,
    merge_config,
)

MANAGERS = ("s3", "local")
#: The contents steps, then the kernels' working-folder steps (bench/kernel_steps.py).
STEPS: tuple[Step, ...] = CONTENTS_STEPS + KERNEL_STEPS
FIXTURES.update(KERNEL_FIXTURES)
HTTP_CLIENTS = ("auto", "curl", "simple")

#: Every step, the wide ones (opt-in, bench/wide.py) last.
ALL_STEPS: tuple[Step, ...] = STEPS + WIDE_STEPS
FIXTURES.update(WIDE_FIXTURES)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _overrides(items: Sequence[str]) -> dict[str, Any]:
    """``Section.trait=value`` (value parsed as JSON when it parses) -> a config dict."""
    try:
        return parse_overrides(items)  # the same parser as `jupyters3 check --set`
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hatch run bench:run",
        description="Benchmark JupyterS3 and the local-disk manager through a live Jupyter server.",
    )
    parser.add_argument(
        "--sizes",
        choices=sorted(SIZES),
        default="small",
        help="chunked upload sizes: small = 50 MB and 200 MB, full = 50 MB and 1 GB",
    )
    parser.add_argument("--latency", default="0,20", help="S3 latencies in ms (default 0,20)")
    parser.add_argument("--managers", default="s3,local", help="s3, local or both")
    parser.add_argument(
        "--steps",
        default="",
        help="a subset of the steps, comma-separated (default: all but the opt-in ones): "
        + ", ".join(s.name + (" (opt-in)" if s.opt_in else "") for s in ALL_STEPS),
    )
    parser.add_argument(
        "--http-client",
        default="",
        help="JupyterS3.http_client values to compare, e.g. curl,simple: one JupyterS3 run "
        "per value and latency (default: the manager's own default, not set)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="add the wide steps: a folder of 20,000 files listed cold, warm, after writes "
        "and polled by 3 tabs for 5 minutes, and the RSS of 10 such listings (bench/wide.py)",
    )
    parser.add_argument(
        "--versioned",
        action="store_true",
        help="enable S3 versioning on the bucket: checkpoints then name versions "
        "(compare the checkpoint and restore steps with and without)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="Section.trait=VALUE",
        help="extra Jupyter config for every server, e.g. JupyterS3.max_concurrency=8 "
        "(repeatable; VALUE is JSON when it parses)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Linux, 2+ CPUs: pin the Jupyter server and the stall monitor to CPU 0 and "
        "moto, the proxy and the clients to the others, so the stall figure is the "
        "server's own and not CPU contention with the S3 stand-in",
    )
    parser.add_argument(
        "--log-lines",
        type=int,
        default=15,
        help="lines of the Jupyter server's log shown when a step fails (default 15)",
    )
    args = parser.parse_args(argv)
    args.latencies = [float(v) for v in _csv(args.latency)]
    if any(not 0 <= v <= 1000 for v in args.latencies) or not args.latencies:
        parser.error("--latency: milliseconds between 0 and 1000")
    args.manager_list = _csv(args.managers)
    if not args.manager_list or any(m not in MANAGERS for m in args.manager_list):
        parser.error(f"--managers: choose from {', '.join(MANAGERS)}")
    wanted = set(_csv(args.steps))
    if args.wide:
        wanted |= {s.name for s in WIDE_STEPS}
    unknown = wanted - {s.name for s in ALL_STEPS}
    if unknown:
        parser.error(f"--steps: unknown {', '.join(sorted(unknown))}")
    args.step_list = [s for s in ALL_STEPS if s.name in wanted or (not wanted and not s.opt_in)]
    args.clients = _csv(args.http_client) or [""]
    if any(c and c not in HTTP_CLIENTS for c in args.clients):
        parser.error(f"--http-client: choose from {', '.join(HTTP_CLIENTS)}")
    args.config = _overrides(args.set)
    return args


def _seeder(server: JupyterServer, backend: S3Backend | None) -> Seed:
    if backend is not None:
        return backend.seed
    return lambda paths, body: write_local_files(server.root_dir, paths, body)


def _count_lists(proxy: FaultProxy, prefix: str) -> int:
    """The ListObjectsV2 requests for ``prefix`` in the proxy's log so far."""
    return sum(
        1 for r in proxy.records() if "list-type" in r.query and r.query.get("prefix") == prefix
    )


def _inline_limit(manager: str, config: dict[str, Any]) -> int | None:
    """The largest file a content GET inlines (None: no limit): JupyterS3's
    ``max_inline_bytes``, as set with ``--set`` or its default; no limit on local disk."""
    if manager != "s3":
        return None
    default = JupyterS3.class_traits()["max_inline_bytes"].default_value
    limit = int(config.get("JupyterS3", {}).get("max_inline_bytes", default))
    return limit or None


def _no_figures(
    run: Run, step: Step, sizes: Sizes, error: str | None, skipped: str | None = None
) -> StepResult:
    nan = math.nan
    return StepResult(
        run.manager, run.latency_ms, step.name, step.title(sizes), step.ops, nan, nan, nan, nan,
        error=None if error is None else error[:300], skipped=skipped,
    )  # fmt: skip


#: The CPUs this process may use at start (pinning later narrows its own affinity).
_CPUS = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def pin_processes(
    server_pid: int, monitor_pid: int | None, moto_pid: int | None, *more_motos: int | None
) -> None:
    """CPU 0 for the Jupyter server (all its threads) and the stall monitor; the
    other CPUs for moto (both, with the far endpoint) and this process (proxies,
    REST clients, RSS sampler)."""
    cpus = sorted(_CPUS)
    if len(cpus) < 2:
        print("--pin: needs 2 CPUs or more; not pinning", flush=True)
        return
    first, rest = {cpus[0]}, set(cpus[1:])
    for pid in (server_pid, monitor_pid):
        if pid is not None:
            for task in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(task), first)
    for pid in (moto_pid, *more_motos, os.getpid()):
        if pid is not None:
            for task in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(task), rest)


def _mount_rig(backend: S3Backend, far: S3Backend) -> MountRig:
    """The mount steps' setup and checks, straight into both moto servers."""
    return MountRig(
        count_keys=backend.count_keys,
        seed_far=far.seed_payload,
        main_digest=lambda key, deadline: backend.object_digest(BUCKET, key, deadline),
    )


def _kernel_rig(backend: S3Backend) -> KernelRig:
    """The kernel steps' reads outside the server: moto directly, the proxy's log."""

    def object_size(key: str) -> int | None:
        raw = RawS3(backend.moto.endpoint_url)
        if not raw.exists(BUCKET, key):
            return None
        return int(raw.head(BUCKET, key)["ContentLength"])

    def lists_between(start: float, end: float) -> int:
        assert backend.proxy is not None
        return sum(
            1
            for r in backend.proxy.records()
            if start <= r.started <= end and r.method == "GET" and "list-type" in r.query
        )

    return KernelRig(object_size, lists_between, backend.seed_payload)


def run_steps(
    run: Run,
    server: JupyterServer,
    backend: S3Backend | None,
    args: argparse.Namespace,
    steps: Sequence[Step],
    *,
    title: str = "",
    far: S3Backend | None = None,
) -> None:
    """Measure ``steps`` on ``server``, printing each row as it completes. With
    ``far`` the server has the mounts (``title`` says so) and the far endpoint's
    proxy is counted too."""
    sizes: Sizes = SIZES[args.sizes]
    monitor = StallMonitor(server.port, server.token).start()
    rss: RssSampler | None = None
    try:
        rss = RssSampler(server.pid).start()
        client = ContentsClient(server.url, server.token, timeout=300.0)
        limit = _inline_limit(run.manager, args.config)
        ctx = Context(client, server, sizes, seed=_seeder(server, backend), inline_limit=limit)
        if backend is not None and run.manager == "s3" and far is None:
            ctx.stored = backend.stored_bytes
        if backend is not None and backend.proxy is not None:
            ctx.count_lists = functools.partial(_count_lists, backend.proxy)
        if backend is not None and far is not None:
            ctx.mounts = _mount_rig(backend, far)
        if backend is not None and run.manager == "s3":
            ctx.kernels = _kernel_rig(backend)
        if args.pin:
            moto = backend.moto.pid if backend else None
            pin_processes(server.pid, monitor.pid, moto, far.moto.pid if far else None)
        run.baseline_ms = monitor.measure_baseline(1.0) * 1000
        proxy = backend.proxy if backend is not None else None
        others: Mapping[str, FaultProxy] = (
            {"far": far.proxy} if far is not None and far.proxy is not None else {}
        )
        meter = Meter(run.manager, run.latency_ms, monitor, rss, proxy, others)
        print(f"\n== {title or run.title}; idle GET /api/status {run.baseline_ms:.1f} ms ==")
        print(header(), flush=True)
        for step in steps:
            print(row_label(step.title(sizes)), end="", flush=True)
            deadline = time.monotonic() + step.timeout
            skipped = step.skip(ctx) if step.skip is not None else None
            if skipped is not None:
                result = _no_figures(run, step, sizes, None, skipped)
            elif not server.running:
                result = _no_figures(run, step, sizes, "the Jupyter server is not running")
            else:
                try:
                    for need in step.needs:
                        ensure(ctx, need, deadline)
                except Exception as exc:
                    result = _no_figures(run, step, sizes, f"setup failed: {exc!r}")
                else:
                    work = functools.partial(step.run, ctx, deadline)
                    counted = ctx.stored if step.name in STORED_STEPS else None
                    before = counted() if counted is not None else 0
                    result = meter.measure(step.name, step.title(sizes), step.ops, work)
                    if counted is not None:
                        ctx.stored_growth[step.name] = counted() - before
                    if result.error is None and step.verify is not None:
                        try:
                            step.verify(ctx, deadline)
                        except Exception as exc:
                            result.error = f"check failed: {type(exc).__name__}: {exc}"[:300]
                    ctx.have.difference_update(step.removes)
                    if result.error is None:
                        ctx.have.update(step.makes)
                    result.figures = ctx.figures.get(step.name, {})
            run.steps.append(result)
            print(row_figures(result), flush=True)
        for name, grown in ctx.stored_growth.items():
            versioned = "versioned" if backend is not None and backend.versioned else "unversioned"
            print(f"-- {name}: the {versioned} bucket stores {grown / 2**20:,.2f} MiB more")
        for result in run.steps[-len(steps) :]:
            if result.figures:
                shown = ", ".join(f"{name} {value:,.3g}" for name, value in result.figures.items())
                print(f"-- {result.step}: {shown}")
        for result in run.steps[-len(steps) :]:
            if result.requests_by_endpoint:
                split = ", ".join(
                    f"{name} {count} ({result.connections_by_endpoint.get(name, 0)} new conns)"
                    for name, count in result.requests_by_endpoint.items()
                )
                print(f"-- {result.step}: S3 requests by endpoint: {split}")
        mine = run.steps[-len(steps) :]
        if not server.running or any(r.error for r in mine):
            state = "running" if server.running else "exited"
            print(f"-- a step failed; the Jupyter server ({state}) logged last:")
            print(server.log_tail(args.log_lines))
    finally:
        if rss is not None:
            rss.stop()
        monitor.stop()


def run_one(
    run: Run, backend: S3Backend | None, args: argparse.Namespace, far: S3Backend | None = None
) -> None:
    """Start a Jupyter server for ``run.manager``, measure the steps into ``run``, stop
    it; then, for JupyterS3 with mount steps selected, the same with a second server
    that has the mounts (``far`` is the second endpoint)."""
    config = args.config
    if backend is not None:  # a short refresh period: a few fit in the idle kernel step
        config = merge_config({"JupyterS3": {"kernel_refresh_interval": KERNEL_REFRESH}}, config)
    if run.http_client:
        config = merge_config(config, {"JupyterS3": {"http_client": run.http_client}})
    s3 = backend is not None
    steps = [s for s in args.step_list if not (s3 and s.mounts)]
    mount_steps = [s for s in args.step_list if s3 and s.mounts]
    if steps:
        _serve_steps(run, backend, args, config, steps)
    if mount_steps and backend is not None and far is not None:
        _serve_steps(run, backend, args, config, mount_steps, far=far)


def _serve_steps(
    run: Run,
    backend: S3Backend | None,
    args: argparse.Namespace,
    config: dict[str, Any],
    steps: Sequence[Step],
    *,
    far: S3Backend | None = None,
) -> None:
    """One Jupyter server on emptied buckets for ``steps`` (with the mounts when ``far``)."""
    endpoint = None
    mounts = None
    title = ""
    if backend is not None:
        assert run.latency_ms is not None
        endpoint = backend.fresh(run.latency_ms / 1000).endpoint_url
        if far is not None:
            backend.create_bucket(TEAM_BUCKET)
            far_endpoint = far.fresh(run.latency_ms / 1000).endpoint_url
            mounts = mounts_config(far_endpoint)
            title = (
                f"{run.title}, mounts: team (bucket {TEAM_BUCKET}, same endpoint), "
                f"far (bucket {FAR_BUCKET}, second moto, own proxy, same latency)"
            )
    try:
        server = start_jupyter(run.manager, endpoint, config, mounts)
    except JupyterServerError as exc:
        print(f"\n== {title or run.title}: the Jupyter server did not start ==\n{exc}")
        return
    try:
        run_steps(run, server, backend, args, steps, title=title, far=far)
    finally:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: Sizes = SIZES[args.sizes]
    started = time.monotonic()
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    runs: list[Run] = []
    backend: S3Backend | None = None
    far: S3Backend | None = None
    interrupted = False
    plan: list[Run] = []
    if "s3" in args.manager_list:
        plan += [Run("s3", ms, client) for client in args.clients for ms in args.latencies]
    if "local" in args.manager_list:
        plan.append(Run("local", None))
    try:
        if "s3" in args.manager_list:
            backend = S3Backend(versioned=args.versioned)
            backend.start()
            if any(s.mounts for s in args.step_list):
                far = S3Backend(bucket=FAR_BUCKET)
                far.start()
        for run in plan:
            runs.append(run)
            run_one(run, backend if run.manager == "s3" else None, args, far)
    except KeyboardInterrupt:
        interrupted = True
        print("\n-- interrupted: stopping every process started, reporting what was measured")
    finally:
        try:
            if far is not None:
                far.stop()
        finally:
            if backend is not None:
                backend.stop()
    duration = time.monotonic() - started
    checks = check_targets(runs, Sizes.label(sizes.large))
    print_checks(checks)
    # Linux reports ru_maxrss in KiB.
    own_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"-- benchmark took {duration:.0f} s (--sizes {args.sizes}); "
        f"the benchmark process itself peaked at {own_peak_mib:.0f} MiB RSS"
    )
    if args.json is not None:
        meta = {
            "started": when,
            "duration_s": round(duration, 1),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "sizes": {"medium": sizes.medium, "large": sizes.large},
            "latencies_ms": args.latencies,
            "http_clients": [c for c in args.clients if c],
            "config": args.config,
            "python": platform.python_version(),
            "jupyter_server": jupyter_server.__version__,
            "machine": platform.platform(),
            "interrupted": interrupted,
            "benchmark_peak_rss_mib": round(own_peak_mib, 1),
        }
        write_json(args.json, meta, runs, checks)
        print(f"-- figures written to {args.json}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
