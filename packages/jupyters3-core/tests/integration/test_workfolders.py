"""Working folders in process, over real HTTP to moto, without Jupyter: the
lifecycle that the looks at the kernels drive (made, shared, nested, let go),
a restart's refresh, and the recovery of what a dead server left. The kernels
are stand-ins with the attributes jupyter_server's kernel managers have
(``provisioner.cwd``, ``provisioner.pid``, ``execution_state``,
``last_activity``); S3 is real. The tests play the kernel's own writes with
blocking file calls, as a kernel (another process) makes them."""

# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jupyters3 import keys
from jupyters3.mounts import Stores
from jupyters3.s3.client import S3Client
from jupyters3.store import S3Store
from jupyters3.workfolders.manifest import Manifest, Origin
from jupyters3.workfolders.plan import Limits, Timing
from jupyters3.workfolders.recovery import close_at_exit, recover
from jupyters3.workfolders.service import Target, WorkingFolders
from jupyters3.workfolders.slots import claim_slot
from jupyters3_testing import FaultProxy
from jupyters3_testing.raw import RawS3

pytestmark = pytest.mark.skipif(os.name != "posix", reason="working folders need POSIX")

ORIGIN = Origin("moto", "bucket", "pre/")


class Kernels:
    """A kernel manager's view: kernel id -> kernel."""

    def __init__(self) -> None:
        self.kernels: dict[str, Any] = {}

    def add(self, kernel_id: str, cwd: str, pid: int = 1) -> Any:
        kernel = SimpleNamespace(
            provisioner=SimpleNamespace(cwd=cwd, pid=pid),
            execution_state="idle",
            last_activity=0,
        )
        self.kernels[kernel_id] = kernel
        return kernel

    def list_kernel_ids(self) -> list[str]:
        return list(self.kernels)

    def get_kernel(self, kernel_id: str) -> Any:
        return self.kernels[kernel_id]


def _service(root: Path, store: S3Store, kernels: Kernels) -> WorkingFolders:
    return WorkingFolders(
        claim_slot(str(root)),
        str(root),
        Stores(store, {}),
        [Target(store, ORIGIN)],
        limits=Limits(),
        timing=Timing(upload_interval=3600, refresh_interval=3600),
        log=logging.getLogger("jupyters3.test"),
        kernel_manager=kernels,
        sessions=lambda: None,
    )


@pytest.fixture
async def store(
    js3_make_client: Callable[..., S3Client], js3_fault_proxy: FaultProxy
) -> AsyncIterator[S3Store]:
    def connect(**_: Any) -> S3Client:
        return js3_make_client(endpoint_url=js3_fault_proxy.endpoint_url)

    yield S3Store(connect, keys.KeyMap("pre/"), conditional_writes="on")


async def _let_go(service: WorkingFolders) -> None:
    await service.tick()
    for _, task in list(service._closing.values()):
        await task


async def test_a_folder_being_made_is_not_let_go_and_goes_with_its_last_kernel(
    store: S3Store, js3_raw: RawS3, js3_bucket: str, js3_fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    js3_raw.put(js3_bucket, "pre/p/a.txt", b"a")
    kernels = Kernels()
    service = _service(tmp_path, store, kernels)
    js3_fault_proxy.configure(latency=0.2)
    making = asyncio.ensure_future(service.prepare("p"))
    looks = 0
    while not making.done():  # looks at the kernels while it is being made
        await service.tick()
        looks += 1
        await asyncio.sleep(0.05)
    await making
    js3_fault_proxy.configure()
    assert looks > 2
    (folder,) = service.folders
    local = Path(folder.local.path)
    assert (local / "a.txt").read_bytes() == b"a"
    kernels.add("k1", str(local))
    await service.tick()  # the kernel came: the start is counted
    (local / "new.txt").write_bytes(b"new")
    del kernels.kernels["k1"]
    await _let_go(service)  # no kernel: the last sync, then it goes
    assert service.folders == [] and not local.exists()
    assert js3_raw.get(js3_bucket, "pre/p/new.txt") == b"new"
    assert os.listdir(service.slot.state) == []


async def test_nested_folders_share_the_outer_one(
    store: S3Store, js3_raw: RawS3, js3_bucket: str, tmp_path: Path
) -> None:
    js3_raw.put(js3_bucket, "pre/a/top.txt", b"top")
    js3_raw.put(js3_bucket, "pre/a/b/inner.txt", b"inner")
    kernels = Kernels()
    service = _service(tmp_path, store, kernels)
    await service.prepare("a/b")
    (inner,) = service.folders
    kernels.add("k1", inner.local.path)
    await service.tick()
    Path(inner.local.path, "written.txt").write_bytes(b"w")
    await service.prepare("a")
    (outer,) = service.folders
    assert outer.root == "a"
    assert Path(outer.local.path, "top.txt").read_bytes() == b"top"
    assert "b/written.txt" not in outer.manifest.files  # not uploaded yet: still the kernel's
    kernels.add("k2", outer.local.path)
    await service.prepare("a/b")  # covered: refreshed, not made again
    assert service.folders == [outer]
    kernels.add("k3", os.path.join(outer.local.path, "b"))
    await service.tick()
    del kernels.kernels["k2"], kernels.kernels["k3"]
    await service.tick()
    assert service.folders == [outer]  # k1 (in a/b) still uses it
    del kernels.kernels["k1"]
    await _let_go(service)
    assert js3_raw.get(js3_bucket, "pre/a/b/written.txt") == b"w"
    assert not Path(outer.local.path).exists()


async def test_a_restart_brings_outside_changes(
    store: S3Store, js3_raw: RawS3, js3_bucket: str, tmp_path: Path
) -> None:
    kernels = Kernels()
    service = _service(tmp_path, store, kernels)
    await service.prepare("r")
    (folder,) = service.folders
    kernel = kernels.add("k1", folder.local.path, pid=10)
    await service.tick()
    js3_raw.put(js3_bucket, "pre/r/outside.txt", b"outside")
    kernel.provisioner.pid = 11  # restarted
    await service.tick()
    target = Path(folder.local.path, "outside.txt")
    for _ in range(100):
        if target.exists():
            break
        await asyncio.sleep(0.05)
    assert target.read_bytes() == b"outside"
    del kernels.kernels["k1"]
    await _let_go(service)


async def test_a_dead_servers_folders_are_synced_then_removed_at_start(
    store: S3Store, js3_raw: RawS3, js3_bucket: str, js3_fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    js3_raw.put(js3_bucket, "pre/d/changed.txt", b"old")
    js3_raw.put(js3_bucket, "pre/d/deleted.txt", b"old")
    js3_raw.put(js3_bucket, "pre/d/unrecorded.txt", b"copied in")
    dead = _service(tmp_path, store, Kernels())
    await dead.prepare("d")
    (folder,) = dead.folders
    local = Path(folder.local.path)
    (local / "changed.txt").write_bytes(b"changed")
    (local / "deleted.txt").unlink()
    (local / "new.txt").write_bytes(b"new")
    # Copied in just before the kill, its manifest entry not written yet.
    del folder.manifest.files["unrecorded.txt"]
    folder.manifest.save(folder.manifest_path)
    await dead._stop_worker(folder)
    os.close(dead.slot.lock)  # the process died: its lock is free
    # A folder of a bucket view this server does not serve is kept, and named.
    stranger = Manifest("x", Origin("elsewhere", "other", ""))
    stranger.save(os.path.join(dead.slot.state, "stranger.json"))

    alive = _service(tmp_path, store, Kernels())
    js3_fault_proxy.clear()
    await recover(alive)
    puts = [r.key for r in js3_fault_proxy.records() if r.method == "PUT"]
    assert sorted(puts) == ["pre/d/changed.txt", "pre/d/new.txt"]  # the unrecorded one: a HEAD
    assert not [k for k in js3_raw.keys(js3_bucket, "pre/") if "conflict" in k]
    assert js3_raw.get(js3_bucket, "pre/d/changed.txt") == b"changed"
    assert js3_raw.get(js3_bucket, "pre/d/new.txt") == b"new"
    assert not js3_raw.exists(js3_bucket, "pre/d/deleted.txt")
    assert not local.exists()
    assert os.listdir(dead.slot.state) == ["stranger.json"]  # kept, so the slot stays
    os.unlink(os.path.join(dead.slot.state, "stranger.json"))
    await recover(alive)
    assert not Path(dead.slot.path).exists()
    assert Path(alive.slot.path).exists()
    close_at_exit(alive)
    assert not Path(alive.slot.path).exists()
