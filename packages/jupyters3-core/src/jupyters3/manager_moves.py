"""Delete, rename and copy in JupyterS3: whole key trees, server-side.

A file goes with its checkpoints (``<key>/.checkpoints/``), a folder with
every key under it. Copies are server-side (CopyObject, or UploadPartCopy
above ``copy_threshold``) and fan out up to ``max_concurrency``; sources of a
rename are deleted only once every copy succeeded, so a failure midway loses
nothing (see :mod:`jupyters3.tree`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from tornado.web import HTTPError

from jupyters3 import errors, fileids, keys, models, tree
from jupyters3.http_errors import http_errors
from jupyters3.manager_ops import _COPY_PAT, MTIME_META, S3ContentsOps, _true, first_free_name
from jupyters3.s3.client import ObjectMeta

if TYPE_CHECKING:
    from jupyters3.checkpoints import S3Checkpoints

__all__ = ["RENAMED_FROM_META", "S3MovesOps"]

#: Folder-marker metadata naming the source while a folder rename is under way.
RENAMED_FROM_META = "jupyters3-renamed-from"


class S3MovesOps(S3ContentsOps):
    """delete, rename and copy; :class:`jupyters3.manager.JupyterS3` is the concrete class."""

    # -- delete --------------------------------------------------------------

    async def delete_file(self, path: str) -> None:
        """Delete a file with its checkpoints, or a folder with everything under it."""
        path = self._path(path)
        if not path:
            raise HTTPError(400, "Can't delete root")
        self._refuse_hidden(path, message=f"Cannot delete file or directory {path!r}")
        with http_errors(path):
            file_key = self.keymap.file_key(path)
            is_file, under = await asyncio.gather(
                self._file_exists(path), tree.list_tree(self.client, self.keymap.dir_prefix(path))
            )
            if not is_file and not under:
                raise HTTPError(404, f"File or directory does not exist: {path}")
            doomed = ([file_key] if is_file else []) + list(under)
            await tree.delete_keys(self.client, doomed)
        self._has_checkpoint.discard(path)
        self.versions.absent(path)
        self.versions.forget_under(path)

    async def delete(self, path: str) -> None:
        """HEAD + LIST (one round trip), then DeleteObjects per 1,000 keys."""
        path = self._path(path)
        await self.delete_file(path)
        self.emit(data={"action": "delete", "path": path})

    # -- rename and copy -----------------------------------------------------

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """Server-side copy of every key, then delete the sources.

        A target that exists is a 409, whatever it holds, unless it is what a
        rename of this very source left when it stopped midway: the copies a
        rename makes name their source (file metadata, or the folder marker),
        and only such a mark, never equal content, lets it be finished."""
        old_path, new_path = self._path(old_path), self._path(new_path)
        if not old_path or not new_path:
            raise HTTPError(400, "Can't rename the root directory")
        if old_path == new_path:
            return
        self._refuse_hidden(
            old_path, new_path, message=f"Cannot rename file or directory {old_path!r}"
        )
        into_itself = new_path.startswith(old_path + "/")
        with http_errors(old_path):
            keymap = self.keymap
            parent = new_path.rsplit("/", 1)[0] if "/" in new_path else ""
            same_folder = parent == (old_path.rsplit("/", 1)[0] if "/" in old_path else "")
            src_file, src_tree, dst_exists, parent_ok = await asyncio.gather(
                self._head_or_none(old_path),
                tree.list_tree(self.client, keymap.dir_prefix(old_path)),
                self.exists(new_path),
                # The source's own folder exists if the source does.
                _true() if same_folder or into_itself else self.dir_exists(parent),
            )
            if src_file is None and not src_tree:
                raise HTTPError(404, f"File or directory does not exist: {old_path}")
            resuming = (
                dst_exists
                and not into_itself
                and await self._unfinished_rename(old_path, new_path, src_file)
            )
            if dst_exists and not resuming:
                raise HTTPError(409, f"File already exists: {new_path}")
            if into_itself:
                raise HTTPError(400, f"Cannot move {old_path} into itself")
            if not parent_ok:
                raise HTTPError(404, f"No such directory: {parent}")
            pairs = self._moved(old_path, new_path, src_file is not None, src_tree)
            sizes_of = dict(src_tree)
            marker = keymap.dir_marker(new_path) if src_file is None else None
            if marker is not None and not resuming:
                # A folder first gets its marker, naming the source: should the
                # rename stop midway, repeating it recognises and finishes it.
                await self.writes.run(
                    new_path + "/",
                    lambda c: self._put_marker(marker, renamed_from=old_path, create=c.any),
                    creating=True,
                )
            copies: list[Awaitable[object]] = [
                tree.copy_keys(
                    self.client,
                    [(s, d) for s, d in pairs[1 if src_file else 0 :] if d != marker],
                    sizes_of,
                    limit=self.max_concurrency,
                    sizes=self._copy_sizes(),
                    label=f"rename {old_path}",
                    if_none_match=not resuming and self.writes.enabled,
                )
            ]
            if src_file is not None:
                # The file itself carries the mark: its metadata names the source.
                mark = {**src_file.metadata, RENAMED_FROM_META: quote(old_path, safe="/")}
                copies.append(
                    tree.copy_object(
                        self.client,
                        pairs[0][0],
                        pairs[0][1],
                        src_file.size,
                        sizes=self._copy_sizes(),
                        content_type=src_file.content_type or None,
                        metadata=mark,
                        source_if_match=src_file.etag,
                        if_none_match=not resuming and self.writes.enabled,
                    )
                )
            await asyncio.gather(*copies)
            doomed = [source for source, _ in pairs]
            finish = []
            if marker is not None and keymap.dir_marker(old_path) in src_tree:
                finish.append(self._put_marker(marker))  # the rename is complete
            elif marker is not None:
                doomed.append(marker)  # the source folder was implicit: so is the target
            finish.append(tree.delete_keys(self.client, doomed))
            await asyncio.gather(*finish)
        self._has_checkpoint.discard(old_path)
        self.versions.absent(old_path)
        self.versions.forget(new_path)
        self.versions.forget_under(old_path)
        self.versions.forget_under(new_path)

    async def _unfinished_rename(self, old: str, new: str, src_file: ObjectMeta | None) -> bool:
        """Whether ``new`` is what a rename of ``old`` that stopped midway left:
        a folder whose marker names ``old``, or a file whose metadata names
        ``old`` and that is the source's version (same size and save time, or,
        for an object without our save time, the same ETag)."""
        mark = quote(old, safe="/")
        if src_file is not None:
            target = await self._head_or_none(new)
            if target is None or target.metadata.get(RENAMED_FROM_META) != mark:
                return False
            saved = src_file.metadata.get(MTIME_META)
            if saved:
                return target.size == src_file.size and target.metadata.get(MTIME_META) == saved
            return target.etag == src_file.etag
        marker = self.keymap.dir_marker(new)
        if marker is None:
            return False
        try:
            meta = await self.client.head_object(marker)
        except errors.NotFound:
            return False
        return meta.metadata.get(RENAMED_FROM_META) == mark

    def _copy_sizes(self) -> tree.CopySizes:
        return tree.CopySizes(
            threshold=self.copy_threshold, part_size=self.copy_part_size, parallel=8
        )

    def _moved(
        self, old: str, new: str, src_file: bool, src_tree: dict[str, int]
    ) -> list[tuple[str, str]]:
        old_key, new_key = self.keymap.file_key(old), self.keymap.file_key(new)
        pairs = [(old_key, new_key)] if src_file else []
        pairs += [(k, new_key + k[len(old_key) :]) for k in src_tree]
        for _, destination in pairs:
            keys.check_key_length(destination)
        return pairs

    async def update(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """PATCH: rename to ``model["path"]`` (a string), then the new model."""
        new_path = model.get("path", path) if isinstance(model, dict) else None
        if not isinstance(new_path, str):
            raise HTTPError(400, "PATCH needs a JSON object whose 'path' is the new path")
        return await super().update(model, path)  # type: ignore[no-any-return]

    async def rename(self, old_path: str, new_path: str) -> None:
        """Rename a file or folder (with checkpoints) and emit the event."""
        await self.rename_file(old_path, new_path)
        fileids.index_before_rename(self, old_path.strip("/"))
        self.emit(
            data={
                "action": "rename",
                "path": new_path.strip("/"),
                "source_path": old_path.strip("/"),
            }
        )

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        """Server-side copy of a file (one CopyObject) or a folder (one per key).

        One round trip finds the source (HEAD and LIST) and the names taken in
        the target folder (LIST); then the copies run concurrently.
        """
        path = self._path(from_path)
        if not path:
            raise HTTPError(400, "Can't copy the root directory")
        to = self._path(to_path) if to_path is not None else None
        self._refuse_hidden(path, to or "", message=f"Cannot copy file or directory {path!r}")
        from_dir, from_name = path.rsplit("/", 1) if "/" in path else ("", path)
        target_dir = from_dir if to is None else to
        with http_errors(path):
            source, src_tree, taken = await asyncio.gather(
                self._head_or_none(path),
                tree.list_tree(self.client, self.keymap.dir_prefix(path)),
                self._child_names(target_dir),
            )
            if source is None and not src_tree:
                raise HTTPError(404, f"No such file or directory: {path}")
            if taken is not None:
                name = first_free_name(_COPY_PAT.sub(".", from_name), "-Copy", taken)
                destination = f"{target_dir}/{name}".strip("/")
            elif to is not None and source is None:
                # A folder goes *into* a missing target, as the reference's copytree does.
                destination = f"{to}/{_COPY_PAT.sub('.', from_name)}"
            elif to is not None:
                parent = to.rsplit("/", 1)[0] if "/" in to else ""
                if parent and not await self._dir_exists(parent):
                    raise HTTPError(404, f"No such parent directory: {parent} to copy file in")
                destination = to
            else:
                raise HTTPError(404, f"No such directory: {target_dir}")
            if source is not None:
                model = await self._copy_file(path, destination, source)
            else:
                await self._copy_folder(path, destination, src_tree)
                model = models.directory_model(
                    destination, last_modified=models.EPOCH, created=models.EPOCH
                )
        self.emit(data={"action": "copy", "path": destination, "source_path": path})
        return model

    async def _head_or_none(self, path: str) -> ObjectMeta | None:
        if not path:
            return None
        try:
            return await self.client.head_object(self.keymap.file_key(path))
        except errors.NotFound:
            return None

    async def _copy_folder(self, path: str, destination: str, src_tree: dict[str, int]) -> None:
        """Every key under ``path`` except checkpoints, and the destination's marker."""
        old, new = self.keymap.dir_prefix(path), self.keymap.dir_prefix(destination)
        pairs = [
            (k, new + k[len(old) :])
            for k in src_tree
            if f"/{keys.CHECKPOINTS}/" not in "/" + k[len(old) :]
        ]
        for _, key in pairs:
            keys.check_key_length(key)
        jobs = [
            tree.copy_keys(
                self.client,
                pairs,
                src_tree,
                limit=self.max_concurrency,
                sizes=self._copy_sizes(),
                label=f"copy {path}",
                if_none_match=self.writes.enabled,
            )
        ]
        marker = self.keymap.dir_marker(destination)
        if marker and marker not in {d for _, d in pairs}:
            jobs.append(self._put_marker(marker))
        await asyncio.gather(*jobs)

    async def _put_marker(
        self, marker: str, *, renamed_from: str | None = None, create: bool = False
    ) -> None:
        """A folder marker; ``renamed_from`` tags it while a rename into it runs."""
        metadata = {RENAMED_FROM_META: quote(renamed_from, safe="/")} if renamed_from else None
        await self.client.put_object(
            marker,
            b"",
            content_type="application/x-directory",
            metadata=metadata,
            if_none_match=create,
        )

    async def _copy_file(self, path: str, destination: str, meta: ObjectMeta) -> dict[str, Any]:
        """One CopyObject; for a notebook, its first checkpoint copied from the same
        source version at the same time (the reference's copy saves, and a saved
        notebook always has a checkpoint)."""
        if models.guess_type(destination) == "notebook":
            self.keymap.check_checkpoint_room(destination)  # before anything is copied
        now, metadata = self._now_meta()
        source_key = self.keymap.file_key(path)
        copy = tree.copy_object(
            self.client,
            source_key,
            self.keymap.file_key(destination),
            meta.size,
            sizes=self._copy_sizes(),
            content_type=meta.content_type or None,
            metadata=metadata,
            source_if_match=meta.etag,
            if_none_match=self.writes.enabled,
        )
        if models.guess_type(destination) == "notebook":
            checkpoints = cast("S3Checkpoints", self.checkpoints)
            checkpoint = checkpoints.create_checkpoint_from(
                source_key, meta.etag, destination, size=meta.size
            )
            await asyncio.gather(copy, checkpoint)
            self._has_checkpoint.add(destination)
        else:
            await copy
        common: dict[str, Any] = {"last_modified": now, "created": now, "size": meta.size}
        if models.guess_type(destination) == "notebook":
            return models.notebook_model(destination, **common)
        return models.file_model(destination, **common)
