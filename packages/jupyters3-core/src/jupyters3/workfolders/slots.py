"""Where one server keeps its working folders: a *slot* of its own under
``kernel_working_root``, locked with ``flock`` while the server runs::

    <slot>/lock            held by the live server
    <slot>/tree/           the kernel manager's root_dir: working folders at their API paths
    <slot>/state/*.json    one manifest per working folder
    <slot>/staging/        snapshots of files being uploaded

A slot whose lock is free belongs to a server that died
(:mod:`jupyters3.workfolders.recovery`). Blocking: call these in a worker thread,
or at start and exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field

from jupyters3.workfolders.disk import LocalFolder

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: working folders are off
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCKING", "PREFIX", "Slot", "claim_slot", "lock", "make_folder", "remove_slot"]

#: Slots are locked with flock (POSIX); without it working folders are off.
LOCKING = fcntl is not None
#: Every slot's name starts with this.
PREFIX = "server-"


@dataclass
class Slot:
    """A slot: its path, its lock's descriptor, and its three folders."""

    path: str
    lock: int
    tree: str = field(init=False)
    state: str = field(init=False)
    staging: str = field(init=False)

    def __post_init__(self) -> None:
        self.tree = os.path.join(self.path, "tree")
        self.state = os.path.join(self.path, "state")
        self.staging = os.path.join(self.path, "staging")


def lock(path: str) -> int | None:
    """An exclusive lock on the file ``path`` (made if missing); None if
    another process holds it."""
    assert fcntl is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim_slot(root: str) -> Slot:
    """Make and lock a new slot under ``root`` (blocking; OSError if ``root``
    cannot be written)."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    path = os.path.join(root, PREFIX + secrets.token_hex(4))
    os.mkdir(path, 0o700)
    held = lock(os.path.join(path, "lock"))
    assert held is not None
    slot = Slot(path, held)
    for sub in (slot.tree, slot.state, slot.staging):
        os.mkdir(sub, 0o700)
    return slot


def make_folder(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)


def remove_slot(slot: Slot) -> None:
    """Remove a slot whose working folders are all synced (blocking)."""
    LocalFolder(slot.path, ["tree"]).remove_all()
    for sub in (slot.staging, slot.state):
        if os.path.isdir(sub):
            for name in os.listdir(sub):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(sub, name))
            with contextlib.suppress(OSError):
                os.rmdir(sub)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(slot.path, "lock"))
    with contextlib.suppress(OSError):
        os.rmdir(slot.path)
