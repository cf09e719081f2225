"""Kernels' working folders: a kernel works on the local copy of its notebook's
S3 folder, kept in sync both ways (see :mod:`jupyters3.workfolders.service`).

:func:`attach` sets them up for a JupyterS3 inside a Jupyter server (the
kernel manager's ``root_dir`` becomes the server's working-folder tree);
:func:`kernel_variables` is what each kernel is told of its notebook's place.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir

from jupyters3.workfolders import disk, kernel_env, recovery
from jupyters3.workfolders.manifest import Origin
from jupyters3.workfolders.plan import Limits, Timing
from jupyters3.workfolders.service import Target, WorkingFolders
from jupyters3.workfolders.slots import LOCKING, claim_slot

__all__ = [
    "WorkingFolders",
    "attach",
    "default_root",
    "kernel_variables",
    "origin_of",
    "probe_root",
]


def default_root() -> str:
    """Where working folders live unless ``kernel_working_root`` says: Jupyter's
    data folder (``~/.local/share/jupyter/jupyters3-working``), on disk and
    kept across restarts, so a crashed server's leftovers are found."""
    return os.path.join(jupyter_data_dir(), "jupyters3-working")


def probe_root(root: str) -> str | None:
    """Why working folders cannot live under ``root`` (None: they can): it
    must be a folder this process can make and write, on a POSIX system.
    Leaves nothing behind but ``root`` itself."""
    if not disk.SUPPORTED or not LOCKING:
        return "working folders need a POSIX system (Linux, macOS)"
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        probe = os.path.join(root, f".probe-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write("probe")
        os.unlink(probe)
    except OSError as error:
        return error.strerror or str(error)
    return None


def origin_of(settings: Any) -> Origin:
    """The identity of a bucket view, from its :class:`~jupyters3.settings.BucketSettings`."""
    mount = settings.mount.name if settings.mount is not None else ""
    endpoint = settings.endpoint_url or f"aws:{settings.region}"
    return Origin(endpoint, settings.bucket, settings.prefix, mount)


def attach(cm: Any) -> WorkingFolders | None:
    """The working folders of JupyterS3 ``cm`` in its Jupyter server (None:
    off, not in a server, kernels on a gateway, or no place to put them; the
    log says why). Sets the kernel manager's ``root_dir``."""
    app = cm.parent
    manager = getattr(app, "kernel_manager", None)
    if not cm.kernel_working_folders or manager is None or not hasattr(manager, "cwd_for_path"):
        return None
    if getattr(getattr(app, "gateway_config", None), "gateway_enabled", False):
        cm.log.info("JupyterS3: kernels run on a gateway: no working folders here")
        return None
    if not disk.SUPPORTED or not LOCKING:
        cm.log.warning(
            "JupyterS3: kernels' working folders are off: they need a POSIX system "
            "(Linux, macOS); kernels start in ServerApp.root_dir."
        )
        return None
    if os.path.realpath(manager.root_dir) != os.path.realpath(app.root_dir):
        cm.log.warning(
            "JupyterS3: kernels' working folders are off: the kernel manager's root_dir is "
            "set (%s); unset it so that kernels start in their notebook's working folder.",
            manager.root_dir,
        )
        return None
    root = cm.kernel_working_root or default_root()
    try:
        slot = claim_slot(root)
    except OSError as error:
        cm.log.warning(
            "JupyterS3: kernels' working folders are off: %s cannot be written (%s); set "
            "c.JupyterS3.kernel_working_root to a writable folder on a disk kept across restarts.",
            root,
            error.strerror or error,
        )
        return None
    manager.root_dir = slot.tree
    targets = []
    if cm.store is not None:
        targets.append(Target(cm.store, origin_of(cm.bucket_settings), frozenset(cm.stores.mounts)))
    for name, store in cm.stores.mounts.items():
        targets.append(Target(store, origin_of(cm.mount_settings[name])))
    limits = Limits(
        max_file_bytes=cm.kernel_max_file_bytes,
        max_folder_bytes=cm.kernel_max_folder_bytes,
        max_files=cm.kernel_max_files,
        left_out=tuple(cm.kernel_left_out),
    )
    service = WorkingFolders(
        slot,
        root,
        cm.stores,
        targets,
        limits=limits,
        timing=Timing(cm.kernel_upload_interval, cm.kernel_refresh_interval),
        log=cm.log,
        kernel_manager=manager,
        sessions=lambda: getattr(app, "session_manager", None),
    )
    atexit.register(recovery.close_at_exit, service)
    loop = getattr(app, "io_loop", None)
    if loop is not None:
        loop.add_callback(recovery.recover, service)
    cm.log.info("JupyterS3: kernels work in their notebook's working folder, under %s", slot.tree)
    return service


def kernel_variables(cm: Any, path: str | None, name: str | None) -> dict[str, str]:
    """The variables a kernel of the session at ``path`` named ``name`` gets
    (:mod:`jupyters3.workfolders.kernel_env`)."""
    notebook = kernel_env.notebook_path(path, name)
    if notebook is None:
        return {}
    store = cm.stores.at(notebook)
    if store is None or store.keymap.is_root(notebook):
        return {}
    mount = cm.stores.mount_of(notebook)
    settings = cm.mount_settings[mount] if mount else cm.bucket_settings
    key = store.keymap.file_key(notebook)
    return kernel_env.variables(settings.bucket, key, settings.region, settings.endpoint_url)
