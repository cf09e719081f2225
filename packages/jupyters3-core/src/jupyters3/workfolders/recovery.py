"""The working folders a server leaves: synced at its stop, or at the next start.

* :func:`close_at_exit` (``atexit``): the server stops, its event loop has
  stopped and its kernels are shut down. Every working folder is synced once
  more, on a loop of this thread's own, with detached stores and disk calls
  made in this thread (no thread may start while the interpreter exits); then
  the slot is removed. What does not finish within :data:`EXIT_TIMEOUT` is
  left for the next start.
* :func:`recover` (at start): each slot whose lock is free belongs to a server
  that died. Its working folders are synced from their manifests into the
  same bucket view only (a folder of another is kept, and named), asking S3
  first about files their manifest does not know; then they are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from jupyters3.workfolders import slots
from jupyters3.workfolders.folder import WorkingFolder
from jupyters3.workfolders.manifest import Manifest, Origin
from jupyters3.workfolders.service import Target, WorkingFolders
from jupyters3.workfolders.transfer import direct

__all__ = ["EXIT_TIMEOUT", "close_at_exit", "recover"]

#: Seconds the server's stop waits for the last sync of every working folder.
EXIT_TIMEOUT = 20.0


def _target_of(service: WorkingFolders, origin: Origin) -> Target | None:
    for target in service.targets.values():
        if target.origin == origin:
            return target
    return None


async def recover(service: WorkingFolders) -> None:
    """Sync and remove what dead servers left under the root (their slots' locks are free)."""
    run = service.run_blocking
    try:
        names = await run(os.listdir, service.root)
    except OSError:
        return
    for name in sorted(names):
        path = os.path.join(service.root, name)
        if not name.startswith(slots.PREFIX) or path == service.slot.path:
            continue
        held = await run(slots.lock, os.path.join(path, "lock"))
        if held is None:
            continue  # a live server's
        try:
            await _recover_slot(service, slots.Slot(path, held))
        except Exception:
            service.log.exception("JupyterS3: could not recover the working folders in %s", path)
        finally:
            os.close(held)


async def _recover_slot(service: WorkingFolders, slot: slots.Slot) -> None:
    run, log = service.run_blocking, service.log
    kept = 0
    try:
        manifests = sorted(await run(os.listdir, slot.state))
    except FileNotFoundError:
        manifests = []
    await run(slots.make_folder, slot.staging)
    for name in manifests:
        file = os.path.join(slot.state, name)
        if not name.endswith(".json"):
            continue
        try:
            manifest = await run(Manifest.load, file)
        except (OSError, ValueError) as error:
            log.warning("JupyterS3: left alone: %s (%s)", file, error)
            kept += 1
            continue
        target = _target_of(service, manifest.origin)
        if target is None:
            log.warning(
                "JupyterS3: a working folder of s3://%s/%s%s left by a stopped server "
                "is kept at %s: this server does not serve that bucket view",
                manifest.origin.bucket,
                manifest.origin.prefix,
                manifest.root,
                os.path.join(slot.tree, *(manifest.root.split("/") if manifest.root else [])),
            )
            kept += 1
            continue
        folder = service.folder_for(target, manifest, base=slot.tree, run=run, slot=slot)
        folder.manifest_path = file
        folder.careful = True
        if manifest.removing:
            await run(folder.local.remove_all)
            await run(os.unlink, file)
            continue
        log.info(
            "JupyterS3: syncing the working folder of %s that a stopped server left",
            folder.label,
        )
        if not await folder.finish():
            kept += 1
    if not kept:
        await run(slots.remove_slot, slot)


def close_at_exit(service: WorkingFolders) -> None:
    """The server stops: the last sync of every working folder, then the slot
    is removed (see the module docstring). Never raises."""
    folders = service.let_go_all()

    async def main() -> int:
        kept = 0
        for folder in folders:
            aside = folder.store.detached()
            last = WorkingFolder(
                aside,
                folder.local,
                folder.manifest,
                manifest_path=folder.manifest_path,
                staging=service.slot.staging,
                limits=service.limits,
                run=direct,
                log=service.log,
                timing=service.timing,
                careful=True,
            )
            try:
                if not await last.finish(attempts=2, pause=0.5):
                    kept += 1
            finally:
                aside.close()
        return kept

    kept = 0
    if folders:
        service.log.info(
            "JupyterS3: the server stops: the last sync of %d working folder(s)", len(folders)
        )
        try:
            kept = asyncio.run(asyncio.wait_for(main(), EXIT_TIMEOUT))
        except BaseException as error:  # never stop the interpreter's exit
            kept = 1
            service.log.warning(
                "JupyterS3: the last sync of the kernels' working folders did not "
                "finish (%s); the next start uploads what is left",
                error or type(error).__name__,
            )
    if not kept:
        with contextlib.suppress(OSError):
            slots.remove_slot(service.slot)
    with contextlib.suppress(OSError):
        os.close(service.slot.lock)
