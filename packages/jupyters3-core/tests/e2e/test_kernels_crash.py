"""Kernels' working folders survive the server: a kill -9 with unsynced kernel
writes loses nothing (the next start uploads them, under the same conditions),
and a normal stop syncs every working folder once more, then removes it."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.sessions import KernelSession, Sessions, wait_for

pytestmark = pytest.mark.skipif(os.name != "posix", reason="working folders need POSIX")

SYNC = 30.0


@pytest.fixture
def crashable(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Iterator[tuple[JupyterServer, str, RawS3]]:
    bucket = f"kcrash-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy_server.endpoint_url, region=js3_region
    )
    # Uploads only when a kernel goes idle: a busy kernel's writes stay unsynced.
    config["JupyterS3"]["kernel_upload_interval"] = 3600.0
    config["KernelManager"] = {"transport": "ipc"}  # no TCP port races between workers
    server = js3_jupyter_factory(config=config)
    yield server, bucket, RawS3(js3_moto_server.endpoint_url, js3_region)


def _busy_writing(kernel: KernelSession, code: str) -> int:
    """Run ``code`` then sleep (the kernel stays busy); the kernel's PID."""
    pid: int = kernel.value("os.getpid()")
    kernel.client.execute(code + "\nimport time\ntime.sleep(600)")
    return pid


def _stop_process(pid: int) -> None:
    """The kernel we started through the server, if it outlived it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _slots(server: JupyterServer) -> list[str]:
    root = server.data_dir / "jupyters3-working"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_kill_9_with_unsynced_kernel_writes_then_a_restart_loses_nothing(
    crashable: tuple[JupyterServer, str, RawS3],
) -> None:
    server, bucket, raw = crashable
    for name in ("changed.txt", "deleted.txt", "both.txt", "kept.txt"):
        raw.put(bucket, f"p/{name}", b"old")
    kernel = Sessions(server).start("p/n.ipynb")
    cwd = Path(kernel.value("os.getcwd()"))
    pid = _busy_writing(
        kernel,
        "open('new.txt', 'w').write('new')\n"
        "open('changed.txt', 'w').write('changed')\n"
        "os.remove('deleted.txt')\n"
        "open('both.txt', 'w').write('kernel')",
    )
    try:
        wait_for(lambda: (cwd / "both.txt").read_text() == "kernel", SYNC)
        assert not raw.exists(bucket, "p/new.txt")  # unsynced
        (dead,) = _slots(server)
        kernel.close()
        server.kill()
        raw.put(bucket, "p/both.txt", b"outside")  # changed in S3 meanwhile too
        server.restart()
        wait_for(lambda: raw.exists(bucket, "p/new.txt"), SYNC)
        wait_for(lambda: not raw.exists(bucket, "p/deleted.txt"), SYNC)
        assert raw.get(bucket, "p/new.txt") == b"new"
        assert raw.get(bucket, "p/changed.txt") == b"changed"
        assert raw.get(bucket, "p/kept.txt") == b"old"
        assert raw.get(bucket, "p/both.txt") == b"outside"
        (copy,) = [k for k in raw.keys(bucket, "p/") if "kernel conflict" in k]
        assert raw.get(bucket, copy) == b"kernel"
        wait_for(lambda: dead not in _slots(server), SYNC)  # synced, then removed
        assert "syncing the working folder of p that a stopped server left" in server.log_text()
    finally:
        _stop_process(pid)


def test_a_stop_syncs_every_working_folder_once_more_and_removes_it(
    crashable: tuple[JupyterServer, str, RawS3],
) -> None:
    server, bucket, raw = crashable
    kernel = Sessions(server).start("q/n.ipynb")
    cwd = Path(kernel.value("os.getcwd()"))
    pid = _busy_writing(kernel, "open('late.txt', 'w').write('late')")
    try:
        wait_for(lambda: (cwd / "late.txt").exists(), SYNC)
        assert not raw.exists(bucket, "q/late.txt")
        kernel.close()
        server.stop()  # SIGTERM: kernels shut down, then the last sync
        assert raw.get(bucket, "q/late.txt") == b"late"
        assert _slots(server) == []
        assert not cwd.exists()
        assert "the working folder of q is synced and removed" in server.log_text()
    finally:
        _stop_process(pid)
