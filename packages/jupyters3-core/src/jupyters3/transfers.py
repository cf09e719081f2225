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
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from jupyters3 import errors, keys, models, tree
from jupyters3.checkpoints import version_of
from jupyters3.contents_errors import InvalidPath, MoveIncomplete, WriteConflict
from jupyters3.marks import MTIME_META, RENAMED_FROM_META, now_stamp, saved_time
from jupyters3.s3.client import ObjectMeta
from jupyters3.s3.xml import ListedObject
from jupyters3.store import S3Store

if TYPE_CHECKING:
    from jupyters3.checkpoints import S3Checkpoints

__all__ = [
    "RECOPY_ROUNDS",
    "copy_file",
    "copy_folder",
    "move",
    "unfinished_rename",
]


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
    source: S3Store,
    target: S3Store,
    old: str,
    new: str,
    src_file: bool,
    src_tree: Mapping[str, ListedObject],
) -> list[tuple[str, str]]:
    old_key, new_key = source.keymap.file_key(old), target.keymap.file_key(new)
    pairs = [(old_key, new_key)] if src_file else []
    pairs += [(k, new_key + k[len(old_key) :]) for k in src_tree]
    for _, destination in pairs:
        keys.check_key_length(destination)
    return pairs


async def move(
    source: S3Store,
    store: S3Store,
    old: str,
    new: str,
    src_file: ObjectMeta | None,
    src_tree: Mapping[str, ListedObject],
    *,
    resuming: bool,
) -> None:
    """Copy every key of ``old`` (the file ``src_file`` with its checkpoints,
    or the folder ``src_tree``) in ``source`` to ``new`` in ``store`` (the same
    store, or another mount), then delete the sources. Every copy
    is a creation (If-None-Match) unless ``resuming`` an interrupted rename.

    A source is deleted only while it is the version that was copied
    (:meth:`S3Store.delete_versions`): one that another server saved
    meanwhile is copied again over its copy (only over that copy: If-Match)
    and deleted on the same condition, up to ``RECOPY_ROUNDS`` times; one that
    still changes stays at ``old`` (:class:`MoveIncomplete`). No version that a
    save wrote is deleted unseen."""
    keymap = store.keymap
    pairs = _pairs(source, store, old, new, src_file is not None, src_tree)
    marker = keymap.dir_marker(new) if src_file is None else None
    if resuming:
        store.versions.forget(new)  # finish it over what the interrupted rename wrote
    if marker is not None and not resuming:
        # A folder first gets its marker, naming the source: should the rename
        # stop midway, repeating it recognises and finishes it.
        await store.mkdir(new, renamed_from=old)
    tree_pairs = [(s, d) for s, d in pairs[1 if src_file else 0 :] if d != marker]
    pointers = _pointers(tree_pairs)
    if pointers:  # checkpoints naming versions of the old key: copies of those versions
        tree_pairs = [(s, d) for s, d in tree_pairs if s not in pointers]
        pairs = [(s, pointers[s][1] if s in pointers else d) for s, d in pairs]
    copies: list[Awaitable[dict[str, str]]] = [
        store.copy_tree(
            new,
            tree_pairs,
            src_tree,
            creating=not resuming,
            label=f"rename {old}",
            origin=source,
        )
    ]
    mark: dict[str, str] | None = None
    if src_file is not None:
        # The file itself carries the mark: its metadata names the source.
        mark = {**src_file.metadata, RENAMED_FROM_META: quote(old, safe="/")}
        copies.append(
            _copied(store, new, pairs[0], src_file, mark, creating=not resuming, origin=source)
        )
    copies += [
        _copy_version(source, store, new, owner, version, destination, creating=not resuming)
        for owner, destination, version in pointers.values()
    ]
    copied: dict[str, str] = {}
    for result in await asyncio.gather(*copies):
        copied.update(result)
    versions: dict[str, str | None] = {k: o.etag for k, o in src_tree.items()}
    if src_file is not None:
        versions[pairs[0][0]] = src_file.etag
    finish: list[Awaitable[object]] = []
    implicit = marker is not None and source.keymap.dir_marker(old) not in src_tree
    if marker is not None and not implicit:
        finish.append(store.mkdir(new))  # the rename is complete: the plain marker
    elif marker is not None and source is store:
        versions[marker] = None  # the source folder was implicit: so is the target
    moves = _Moves(source, store, dict(pairs), copied, pairs[0][0] if mark else None, mark)
    deleting = asyncio.ensure_future(moves.delete(versions, source.keymap.dir_prefix(old)))
    await asyncio.gather(deleting, *finish)
    left = deleting.result()
    if implicit and marker is not None and source is not store:
        # The target's marker is in the target's bucket: it goes once the
        # sources are gone (a rename stopped before that finishes when repeated).
        await store.delete_versions({marker: None})
    if any(f"/{keys.CHECKPOINTS}/" in key for key in src_tree):
        await source.purge_deleted_checkpoints(old)
    source.gone(old)
    store.forget(new)
    if src_file is not None and not left:
        # The renamed file is the copy this rename made: a later save of it is
        # based on that version, and the model asked right after costs a HEAD.
        store.versions.served(new, copied[pairs[0][1]], saved_time(src_file))
    if left:
        old_prefix = source.keymap.file_key(old)
        paths = sorted(old + k[len(old_prefix) :] for k in left)
        store.log.warning("Rename of %s to %s left %d path(s) behind", old, new, len(paths))
        raise MoveIncomplete(old, new, paths)


async def _copied(
    store: S3Store,
    path: str,
    pair: tuple[str, str],
    meta: ObjectMeta,
    metadata: Mapping[str, str],
    *,
    creating: bool = True,
    over: str | None = None,
    origin: S3Store | None = None,
) -> dict[str, str]:
    source, destination = pair
    etag = await store.copy(
        path,
        source,
        destination,
        meta,
        metadata=metadata,
        creating=creating,
        over=over,
        origin=origin,
    )
    return {destination: etag}


def _pointers(pairs: list[tuple[str, str]]) -> dict[str, tuple[str, str, str]]:
    """The checkpoints among ``pairs`` that name an S3 version of their file
    (on a versioned bucket): pointer key -> (the file's key, the key of its
    copy under the new name, the version). The copy's id keeps the time and
    takes a suffix derived from the version, so a repeated rename writes the
    same key."""
    found = {}
    for source, destination in pairs:
        owner, sep, checkpoint_id = source.rpartition(f"/{keys.CHECKPOINTS}/")
        version = version_of(checkpoint_id) if sep else None
        made = keys.checkpoint_time(checkpoint_id) if sep else None
        if version is None or made is None:
            continue
        suffix = hashlib.sha256(version.encode()).hexdigest()[:6]
        holder = destination.rpartition("/")[0]
        found[source] = (owner, f"{holder}/{keys.new_checkpoint_id(made, suffix)}", version)
    return found


async def _copy_version(
    source: S3Store,
    store: S3Store,
    path: str,
    owner: str,
    version: str,
    destination: str,
    *,
    creating: bool,
) -> dict[str, str]:
    """Copy version ``version`` of ``owner`` (a file key of ``source``) to the
    checkpoint key ``destination``; nothing when that version has expired
    (the checkpoint was already gone from its list)."""
    try:
        try:
            etag = await store.copy(
                path,
                owner,
                destination,
                0,
                creating=creating,
                origin=source,
                source_version=version,
            )
        except errors.InvalidRequest:  # larger than one CopyObject takes
            meta = await source.head_key(owner, version_id=version)
            if meta is None:
                raise errors.NotFound("the version is gone", key=owner) from None
            etag = await store.copy(
                path,
                owner,
                destination,
                meta,
                creating=creating,
                origin=source,
                source_version=version,
            )
    except errors.NotFound:
        store.log.info("Rename of %s: a checkpoint's S3 version has expired; dropped", path)
        return {}
    return {destination: etag}


#: Times a source that changed during its rename is copied again before it is left behind.
RECOPY_ROUNDS = 3


class _Moves:
    """The delete phase of one rename: sources deleted only as copied."""

    def __init__(
        self,
        source: S3Store,
        store: S3Store,
        destinations: dict[str, str],
        copied: dict[str, str],
        marked: str | None,
        mark: dict[str, str] | None,
    ) -> None:
        self.source, self.store = source, store
        self.destinations = destinations  # source key -> destination key
        self.copied = copied  # destination key -> the ETag of its copy
        self.marked, self.mark = marked, mark  # the file key whose copy carries the mark
        self.recopies = 0

    async def delete(self, versions: dict[str, str | None], emptied: str) -> set[str]:
        """Delete the sources (the whole tree under prefix ``emptied``, as
        listed); returns those left behind (still changing)."""
        changed = await self.source.delete_versions(versions, emptied=emptied)
        for _ in range(RECOPY_ROUNDS):
            if not changed:
                break
            recopied = await self._copy_again(sorted(changed))
            changed = (changed - set(recopied)) | await self.source.delete_versions(recopied)
        if self.recopies:
            self.store.log.info(
                "Rename: %d source(s) changed meanwhile, copied again", self.recopies
            )
        return changed

    async def _copy_again(self, sources: list[str]) -> dict[str, str | None]:
        """Copy each changed source again over its copy; returns the sources
        copied (with the ETag copied) or gone (None: nothing left to move)."""
        store = self.store

        def job(source: str) -> Callable[[], Awaitable[tuple[str, str | None]]]:
            async def again() -> tuple[str, str | None]:
                destination = self.destinations[source]
                over = self.copied.get(destination)
                # Beside the source's HEAD, one that checks the copy is still
                # ours: some stores (moto) ignore If-Match on CopyObject, and
                # a save made meanwhile at the new path must not be copied over.
                checks: list[Awaitable[object]] = [self.source.head_key(source)]
                if over is not None:
                    checks.append(store.holds(destination, over))
                meta, *ours = await asyncio.gather(*checks)
                if meta is None:
                    return source, None  # deleted elsewhere meanwhile
                assert isinstance(meta, ObjectMeta)
                if ours and not ours[0]:
                    return source, ""  # its copy changed: left behind after the rounds
                metadata = None
                if source == self.marked and self.mark is not None:
                    metadata = {**meta.metadata, RENAMED_FROM_META: self.mark[RENAMED_FROM_META]}
                try:
                    etag = await store.copy(
                        destination,  # (only names the write in a conflict)
                        source,
                        destination,
                        meta,
                        metadata=metadata,
                        creating=False,
                        over=over,
                        origin=self.source,
                    )
                except WriteConflict:
                    return source, ""  # changed again, or its copy did: next round
                self.copied[destination] = etag
                self.recopies += 1
                return source, meta.etag

            return again

        done = await tree.bounded_gather(
            [job(s) for s in sources], store.limits.max_concurrency, label="rename: copy again"
        )
        return {source: etag for source, etag in done if etag != ""}


async def copy_folder(
    origin: S3Store,
    store: S3Store,
    path: str,
    destination: str,
    src_tree: Mapping[str, ListedObject],
) -> None:
    """Copy every key under folder ``path`` of ``origin`` but checkpoints to
    ``destination`` of ``store`` (each a creation). Folder markers are not
    copied but written anew, plain: a copy never carries the mark of a rename
    (which a later rename onto the copy would take for its own, interrupted)."""
    old, new = origin.keymap.dir_prefix(path), store.keymap.dir_prefix(destination)
    pairs = [
        (k, new + k[len(old) :])
        for k in src_tree
        if f"/{keys.CHECKPOINTS}/" not in "/" + k[len(old) :]
    ]
    for _, key in pairs:
        keys.check_key_length(key)
    markers: list[str] = []
    files = []
    for source, target in pairs:
        try:
            markers.append(store.keymap.path_of(target) if source.endswith("/") else "")
        except InvalidPath:  # a marker key no API path names: copied as it is
            markers.append("")
        if not markers[-1]:
            files.append((source, target))
    markers = [m for m in markers if m and m != destination]
    if store.keymap.dir_marker(destination) is not None:
        markers.append(destination)
    jobs: list[Awaitable[object]] = [
        store.copy_tree(destination, files, src_tree, label=f"copy {path}", origin=origin)
    ]
    jobs += [store.mkdir(folder) for folder in markers]
    await asyncio.gather(*jobs)


async def copy_file(
    origin: S3Store,
    store: S3Store,
    checkpoints: S3Checkpoints,
    path: str,
    destination: str,
    meta: ObjectMeta,
) -> datetime:
    """Copy version ``meta`` of the file at ``path`` in ``origin`` to
    ``destination`` in ``store`` (a creation); returns the copy's save time.
    One CopyObject; for a notebook, its first checkpoint is copied from the
    same source version at the same time (the reference's copy saves, and a
    saved notebook always has a checkpoint). Between two S3 services, the
    data is streamed once and the checkpoint copied from the copy."""
    notebook = models.guess_type(destination) == "notebook"
    keymap = store.keymap
    if notebook:
        keymap.check_checkpoint_room(destination)  # before anything is copied
    saved, metadata = now_stamp()
    copy = store.copy(
        destination,
        origin.keymap.file_key(path),
        keymap.file_key(destination),
        meta,
        metadata=metadata,
        origin=origin,
    )
    if not notebook:
        await copy
    elif origin is store or store.copies_from(origin):
        checkpoint = checkpoints.create_checkpoint_from(path, meta, destination, origin=origin)
        await asyncio.gather(copy, checkpoint)
    else:
        await copy
        await checkpoints.create_checkpoint_from(destination, None, destination)
    return saved
