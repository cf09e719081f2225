"""Copies and renames of whole files and folders, server-side, over the store.

A file goes with its checkpoints (``<key>/.checkpoints/``), a folder with
every key under it. Copies are server-side (CopyObject, or UploadPartCopy
above ``copy_threshold``) and fan out up to ``max_concurrency``; the sources
of a rename are deleted only once every copy succeeded, so a failure midway
loses nothing.

**An interrupted rename can be finished.** What a rename copies names its
source: a file's copy carries ``x-amz-meta-jupyters3-renamed-from`` (and the
source's save time), a folder's marker is written first with the same mark
and rewritten without it when the rename completes. Repeating the rename
finds the mark (:func:`unfinished_rename`) and completes it; nothing else,
equal content included, lets a rename write over an existing path.

Requests: see :meth:`jupyters3.manager.JupyterS3.rename_file` and ``copy``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from jupyters3 import keys, models
from jupyters3.s3.client import ObjectMeta
from jupyters3.store import MTIME_META, RENAMED_FROM_META, S3Store, now_stamp

if TYPE_CHECKING:
    from jupyters3.checkpoints import S3Checkpoints

__all__ = ["copy_file", "copy_folder", "move", "unfinished_rename"]


async def unfinished_rename(
    store: S3Store, old: str, new: str, src_file: ObjectMeta | None
) -> bool:
    """Whether ``new`` is what a rename of ``old`` that stopped midway left:
    a folder whose marker names ``old``, or a file whose metadata names
    ``old`` and that is the source's version (same size and save time, or,
    for an object without our save time, the same ETag). One HEAD."""
    mark = quote(old, safe="/")
    if src_file is not None:
        target = await store.head(new)
        if target is None or target.metadata.get(RENAMED_FROM_META) != mark:
            return False
        saved = src_file.metadata.get(MTIME_META)
        if saved:
            return target.size == src_file.size and target.metadata.get(MTIME_META) == saved
        return target.etag == src_file.etag
    marker = store.keymap.dir_marker(new)
    if marker is None:
        return False
    meta = await store.head_key(marker)
    return meta is not None and meta.metadata.get(RENAMED_FROM_META) == mark


def _pairs(
    store: S3Store, old: str, new: str, src_file: bool, src_tree: dict[str, int]
) -> list[tuple[str, str]]:
    old_key, new_key = store.keymap.file_key(old), store.keymap.file_key(new)
    pairs = [(old_key, new_key)] if src_file else []
    pairs += [(k, new_key + k[len(old_key) :]) for k in src_tree]
    for _, destination in pairs:
        keys.check_key_length(destination)
    return pairs


async def move(
    store: S3Store,
    old: str,
    new: str,
    src_file: ObjectMeta | None,
    src_tree: dict[str, int],
    *,
    resuming: bool,
) -> None:
    """Copy every key of ``old`` (the file ``src_file`` with its checkpoints,
    or the folder ``src_tree``) to ``new``, then delete the sources. Every copy
    is a creation (If-None-Match) unless ``resuming`` an interrupted rename."""
    keymap = store.keymap
    pairs = _pairs(store, old, new, src_file is not None, src_tree)
    marker = keymap.dir_marker(new) if src_file is None else None
    if resuming:
        store.versions.forget(new)  # finish it over what the interrupted rename wrote
    if marker is not None and not resuming:
        # A folder first gets its marker, naming the source: should the rename
        # stop midway, repeating it recognises and finishes it.
        await store.mkdir(new, renamed_from=old)
    copies: list[Awaitable[object]] = [
        store.copy_tree(
            new,
            [(s, d) for s, d in pairs[1 if src_file else 0 :] if d != marker],
            src_tree,
            creating=not resuming,
            label=f"rename {old}",
        )
    ]
    if src_file is not None:
        # The file itself carries the mark: its metadata names the source.
        mark = {**src_file.metadata, RENAMED_FROM_META: quote(old, safe="/")}
        copies.append(
            store.copy(
                new, pairs[0][0], pairs[0][1], src_file, metadata=mark, creating=not resuming
            )
        )
    await asyncio.gather(*copies)
    doomed = [source for source, _ in pairs]
    finish = []
    if marker is not None and keymap.dir_marker(old) in src_tree:
        finish.append(store.mkdir(new))  # the rename is complete: the plain marker
    elif marker is not None:
        doomed.append(marker)  # the source folder was implicit: so is the target
    finish.append(store.delete_keys(doomed))
    await asyncio.gather(*finish)
    store.gone(old)
    store.forget(new)


async def copy_folder(
    store: S3Store, path: str, destination: str, src_tree: dict[str, int]
) -> None:
    """Copy every key under folder ``path`` but checkpoints to ``destination``
    (each a creation), and make sure the destination has its marker."""
    old, new = store.keymap.dir_prefix(path), store.keymap.dir_prefix(destination)
    pairs = [
        (k, new + k[len(old) :])
        for k in src_tree
        if f"/{keys.CHECKPOINTS}/" not in "/" + k[len(old) :]
    ]
    for _, key in pairs:
        keys.check_key_length(key)
    jobs = [store.copy_tree(destination, pairs, src_tree, label=f"copy {path}")]
    marker = store.keymap.dir_marker(destination)
    if marker and marker not in {d for _, d in pairs}:
        jobs.append(store.mkdir(destination))
    await asyncio.gather(*jobs)


async def copy_file(
    store: S3Store, checkpoints: S3Checkpoints, path: str, destination: str, meta: ObjectMeta
) -> datetime:
    """Copy version ``meta`` of the file at ``path`` to ``destination`` (a
    creation); returns the copy's save time. One CopyObject; for a notebook, its
    first checkpoint is copied from the same source version at the same time
    (the reference's copy saves, and a saved notebook always has a checkpoint)."""
    notebook = models.guess_type(destination) == "notebook"
    keymap = store.keymap
    if notebook:
        keymap.check_checkpoint_room(destination)  # before anything is copied
    saved, metadata = now_stamp()
    copy = store.copy(
        destination, keymap.file_key(path), keymap.file_key(destination), meta, metadata=metadata
    )
    if notebook:
        await asyncio.gather(copy, checkpoints.create_checkpoint_from(path, meta, destination))
    else:
        await copy
    return saved
