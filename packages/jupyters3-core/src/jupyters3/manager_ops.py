"""The contents API of JupyterS3: get, save, delete, rename, copy, new.

Each method states its S3 requests; the floor is the goal (a listing is one
LIST per 1,000 entries, a hash is the ETag of one HEAD, independent requests
run concurrently so they cost one round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import nbformat
from jupyter_server.services.contents.manager import AsyncContentsManager
from tornado.web import HTTPError

from jupyters3 import errors, keys, models
from jupyters3.http_errors import http_errors
from jupyters3.s3.client import ObjectMeta
from jupyters3.uploads import ChunkedUploads
from jupyters3.versions import FREE, Conditions, VersionMemo
from jupyters3.writes import ConditionalWrites, WriteConflict

if TYPE_CHECKING:
    from jupyters3.s3.client import S3Client

__all__ = ["MTIME_META", "S3ContentsOps", "first_free_name"]

#: User metadata holding the high-resolution save time (S3's Last-Modified has 1 s).
MTIME_META = "jupyters3-mtime"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")
_COPY_PAT = re.compile(r"\-Copy\d*\.")
#: new_untitled tries this many names when other servers keep taking them.
_NEW_UNTITLED_TRIES = 10


async def _true() -> bool:
    return True


#: Inputs of this many bytes or more are parsed, encoded and validated in a
#: worker thread, so a big notebook or file never stalls the event loop.
OFF_LOOP_BYTES = 256 * 1024
_BIG = OFF_LOOP_BYTES


async def _off_loop(size: int, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)``, in a worker thread when ``size`` is large."""
    if size < OFF_LOOP_BYTES:
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)


#: A folder probe started by file_exists serves a save that follows this soon.
_PROBE_SECONDS = 5.0
#: At most this many early folder probes are kept (unused ones are dropped).
_PROBES_KEPT = 256


def _is_folder(prefix: str, objects: Sequence[object], common_prefixes: Sequence[str]) -> bool:
    """Whether a delimited listing of ``prefix`` shows a folder: anything under
    it but the checkpoints of a file of the same name (``<file>/.checkpoints/``)."""
    holder = prefix + keys.CHECKPOINTS + "/"
    return bool(objects) or any(p != holder for p in common_prefixes)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a probe's failure as seen (a save that needs it lists again)."""
    if not task.cancelled():
        task.exception()


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


def _too_large_to_inline(path: str, size: int, limit: int) -> str:
    return (
        f"{path} is {_size(size)}, more than the {_size(limit)} that can be opened here "
        f"(c.JupyterS3.max_inline_bytes = {limit}). Download it instead (right-click it in "
        "the file browser, then Download), or ask the server's administrator to raise "
        "c.JupyterS3.max_inline_bytes (0: no limit)."
    )


def first_free_name(filename: str, insert: str, taken: set[str]) -> str:
    """``filename``, else ``name{insert}1.ext``, ``name{insert}2.ext``, ... : the
    first not in ``taken``, numbered as jupyter_server's ``increment_filename``."""
    basename, dot, ext = filename.rpartition(".")
    if ext != "ipynb":
        basename, dot, ext = filename.partition(".")
    for i in itertools.count():
        name = f"{basename}{f'{insert}{i}' if i else ''}{dot}{ext}"
        if name not in taken:
            return name
    raise AssertionError("unreachable")


class S3ContentsOps(AsyncContentsManager):
    """The contents API over S3; :class:`jupyters3.manager.JupyterS3` adds the
    configuration and the S3 client."""

    _uploads: ChunkedUploads | None = None
    _probes: dict[str, tuple[asyncio.Future[tuple[bool, bool]], float]] | None = None

    #: What ``hash`` holds in a model asked for with ``require_hash``: the
    #: object's S3 ETag, so a hash costs no read of the data (jupyter_server's
    #: file managers expose their configurable algorithm under this name).
    hash_algorithm: str = models.HASH_ALGORITHM

    if TYPE_CHECKING:  # provided by JupyterS3
        aws_s3_bucket: str
        max_concurrency: int
        max_inline_bytes: int
        copy_threshold: int
        copy_part_size: int
        multipart_threshold: int
        multipart_part_size: int
        upload_timeout: float
        keymap: keys.KeyMap
        _has_checkpoint: set[str]
        versions: VersionMemo
        writes: ConditionalWrites

        @property
        def client(self) -> S3Client: ...

    # -- small helpers -------------------------------------------------------

    def _path(self, path: str) -> str:
        """The normalised API path; 400 for anything that could leave the prefix
        (or is not a string: a JSON body can hold anything)."""
        if not isinstance(path, str):
            raise HTTPError(400, f"A path must be a string, not {type(path).__name__}")
        with http_errors(path):
            return keys.normalize_path(path)

    def _refuse_hidden(self, *paths: str, message: str) -> None:
        """The hidden-path policy for every write (save, new, copy, rename,
        delete): with ``allow_hidden`` off, a write that names a hidden path
        (one with a segment starting with ``.``) answers 400, as the reference."""
        if not self.allow_hidden and any(keys.is_hidden_path(p) for p in paths):
            raise HTTPError(400, message)

    @staticmethod
    def _mtime(meta: ObjectMeta) -> datetime:
        """The save time: our high-resolution metadata if present, else Last-Modified."""
        stamp = meta.metadata.get(MTIME_META)
        if stamp:
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(stamp)
                if parsed.tzinfo is not None:
                    return parsed.astimezone(timezone.utc)
        return meta.last_modified

    @staticmethod
    def _now_meta() -> tuple[datetime, dict[str, str]]:
        now = datetime.now(timezone.utc)
        return now, {MTIME_META: now.isoformat()}

    async def _mark_trusted(self, nb: Any, path: str, size: int) -> None:
        """``mark_trusted_cells``, with a big notebook's signature (an HMAC over
        all of it) computed in a worker thread; the notary's SQLite store is
        only touched from this thread."""
        notary = self.notary
        if nb.nbformat < 3:
            self._with_signature_store(path, lambda: self.mark_trusted_cells(nb, path))
            return
        signature = await _off_loop(size, notary.compute_signature, nb)
        trusted = self._with_signature_store(
            path, lambda: bool(notary.store.check_signature(signature, notary.algorithm))
        )
        if not trusted:
            self.log.warning("Notebook %s is not trusted", path)
        notary.mark_cells(nb, trusted)

    async def _check_and_sign(self, nb: Any, path: str) -> None:
        """``check_and_sign``, with the signature computed in a worker thread.
        A notebook that cannot be signed is malformed: 400."""
        notary = self.notary
        try:
            legacy = nb.nbformat < 3
            trusted = legacy or notary.check_cells(nb)
            signature = None
            if trusted and not legacy:
                signature = await asyncio.to_thread(notary.compute_signature, nb)
        except Exception as exc:  # malformed cells, outputs or nbformat
            raise HTTPError(
                400, f"Unreadable Notebook: {path}: {type(exc).__name__}: {exc}"
            ) from None
        if legacy:
            self._with_signature_store(path, lambda: self.check_and_sign(nb, path))
        elif signature is not None:
            self._with_signature_store(
                path, lambda: notary.store.store_signature(signature, notary.algorithm)
            )
        else:
            self.log.warning("Notebook %s is not trusted", path)

    def _with_signature_store(self, path: str, use: Callable[[], T]) -> T:
        """``use()`` of the notary's signature store; when the store fails
        (a corrupt or unreadable database), recreate it once and try again,
        as jupyter_server's ``check_and_sign`` does. A store that cannot be
        recreated answers 500, naming the problem."""
        try:
            return use()
        except Exception:
            self.log.warning(
                "Signature store for notebook %s is corrupted or unavailable; "
                "recreating the store.",
                path,
                exc_info=True,
            )
        notary = self.notary
        try:
            notary.store = notary.store_factory()
            return use()
        except Exception as exc:
            raise HTTPError(
                500,
                f"The notebook signature store is corrupted or unavailable, and could not be "
                f"recreated ({type(exc).__name__}: {exc}): check NotebookNotary.db_file "
                "and the disk that holds it.",
            ) from None

    def _s3_url(self, path: str) -> str:
        return f"s3://{self.aws_s3_bucket}/{self.keymap.file_key(path) if path else ''}"

    # -- existence -----------------------------------------------------------

    async def file_exists(self, path: str = "") -> bool:
        """One HEAD; none for a path with a chunked upload in progress here, which
        counts as existing (jupyter_server asks before every chunk; the reference's
        file exists from the first chunk on).

        jupyter_server asks this right before it saves at ``path`` (PUT). When
        this server does not know what is there and the name has a dot (a
        file's name, as every upload has), the LIST that such a save needs to
        refuse a file over a folder (:meth:`check_not_a_folder`) starts now,
        beside the HEAD and without being waited for: the save then costs no
        round trip more than the HEAD and the PUT."""
        path = self._path(path)
        if not path:
            return False
        if self._uploads is None or not self._uploads.busy(path):
            self._probe_folder_early(path)
        return await self._file_exists(path)

    async def _file_exists(self, path: str) -> bool:
        """:meth:`file_exists` of a normalised path, without the early folder probe."""
        if not path:
            return False
        if self._uploads is not None and self._uploads.busy(path):
            return True
        with http_errors(path):
            try:
                await self.client.head_object(self.keymap.file_key(path))
            except errors.NotFound:
                self.versions.absent(path)  # a save there next is a creation
                return False
        return True

    def _probe_folder_early(self, path: str) -> None:
        basis = self.versions.basis(path)
        if isinstance(basis, str) or basis is FREE or "." not in path.rsplit("/", 1)[-1]:
            return  # a save needs no LIST, or this is probably a folder's name
        probes = self._folder_probes
        if path in probes and time.monotonic() - probes[path][1] < _PROBE_SECONDS:
            return
        task = asyncio.ensure_future(self._folder_listing(path))
        task.add_done_callback(_retrieve)
        probes[path] = (task, time.monotonic())
        while len(probes) > _PROBES_KEPT:
            del probes[next(iter(probes))]

    @property
    def _folder_probes(self) -> dict[str, tuple[asyncio.Future[tuple[bool, bool]], float]]:
        if self._probes is None:
            self._probes = {}
        return self._probes

    async def dir_exists(self, path: str) -> bool:
        """One LIST (delimiter, 2 keys): a marker, a child, or the root."""
        path = self._path(path)
        if not path:
            return True
        with http_errors(path):
            return await self._dir_exists(path)

    async def _dir_exists(self, path: str) -> bool:
        is_folder, _ = await self._folder_listing(path)
        return is_folder

    async def exists(self, path: str) -> bool:
        """HEAD and LIST concurrently: one round trip."""
        path = self._path(path)
        file, folder = await asyncio.gather(self._file_exists(path), self.dir_exists(path))
        return file or folder

    # -- get -----------------------------------------------------------------

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        """One GET (content) or one HEAD (no content) for a file or notebook; one
        LIST per 1,000 entries for a folder. Without ``type``, a name without a
        dot is tried as a folder first and anything else as a file first, so
        the common case costs one request and the other case two."""
        path = self._path(path)
        with http_errors(path):
            model = await self._get(path, content, type, format, require_hash)
        self.emit(data={"action": "get", "path": path})
        return model

    async def _get(
        self,
        path: str,
        content: bool,
        type: str | None,
        format: str | None,
        require_hash: bool,
    ) -> dict[str, Any]:
        model: dict[str, Any] | None
        if not path and type not in (None, "directory"):
            raise HTTPError(400, f"The root is a directory, not a {type}", reason="bad type")
        if type == "directory" or not path:
            model = await self._dir_model(path, content)
            if model is None:
                if await self._file_exists(path):
                    raise HTTPError(400, f"{path} is not a directory", reason="bad type")
                raise HTTPError(404, f"directory does not exist: {path!r}")
            return model
        if type is not None:
            model = await self._object_model(path, content, type, format, require_hash)
            if model is None:
                if await self._dir_exists(path):
                    raise HTTPError(400, f"{path} is a directory, not a {type}", reason="bad type")
                raise HTTPError(404, f"No such file or directory: {path}")
            return model
        if "." not in path.rsplit("/", 1)[-1]:
            model = await self._dir_model(path, content)
            if model is None:
                model = await self._object_model(path, content, None, format, require_hash)
        else:
            model = await self._object_model(path, content, None, format, require_hash)
            if model is None:
                model = await self._dir_model(path, content)
        if model is None:
            raise HTTPError(404, f"No such file or directory: {path}")
        return model

    async def _object_model(
        self,
        path: str,
        content: bool,
        type: str | None,
        format: str | None,
        require_hash: bool,
    ) -> dict[str, Any] | None:
        """The model of the object at ``path``; None if there is none."""
        key = self.keymap.file_key(path)
        limit = self.max_inline_bytes or None
        try:
            if content:
                meta, data = await self.client.get_object(key, max_size=limit)
            else:
                meta, data = await self.client.head_object(key), b""
        except errors.NotFound:
            self.versions.absent(path)
            return None
        except errors.BodyTooLarge as too_large:
            size = too_large.size
            if size is None:  # libcurl refused it before saying how large
                size = (await self.client.head_object(key)).size
            raise HTTPError(413, _too_large_to_inline(path, size, too_large.limit)) from None
        kind = type or models.guess_type(path)
        last_modified = self._mtime(meta)
        self.versions.served(path, meta.etag, last_modified)
        common: dict[str, Any] = {
            "last_modified": last_modified,
            "created": last_modified,
            "size": meta.size,
        }
        if kind == "notebook":
            model = models.notebook_model(path, **common)
            if content:
                invalid: dict[str, Any] = {}
                nb = await _off_loop(
                    len(data), models.read_notebook, data, path, capture_validation_error=invalid
                )
                await self._mark_trusted(nb, path, len(data))
                model["content"] = nb
                model["format"] = "json"
                self.validate_notebook_model(model, validation_error=invalid)
        else:
            model = models.file_model(path, **common)
            if content:
                text, fmt, mimetype = await _off_loop(
                    len(data), models.decode_file, data, format, path
                )
                model.update(content=text, format=fmt)
                model["mimetype"] = model["mimetype"] or mimetype
        if require_hash:
            models.with_hash(model, meta.etag)
        return model

    async def _dir_model(self, path: str, content: bool) -> dict[str, Any] | None:
        """The model of the folder at ``path``; None if there is none. Without
        content, one short LIST; with content, every page."""
        prefix = self.keymap.dir_prefix(path)
        if content:
            objects, prefixes = await self.client.list_all(prefix, delimiter="/")
        else:
            objects, prefixes = [], []
            async for page in self.client.list_pages(prefix, delimiter="/", max_keys=2):
                objects, prefixes = list(page.objects), list(page.common_prefixes)
                break
        if path and not _is_folder(prefix, objects, prefixes):
            return None
        # A folder has no time its parent's listing can show (S3 lists it as a
        # common prefix): its model shows none either, so both agree.
        model = models.directory_model(path, last_modified=_EPOCH, created=_EPOCH)
        if content:
            model["content"] = await _off_loop(
                len(objects) * 256,  # a thousand entries or more: in a worker thread
                models.directory_listing,
                path,
                objects,
                prefixes,
                self.keymap,
                allow_hidden=self.allow_hidden,
                hide_globs=list(self.hide_globs),
                default_time=_EPOCH,
                saved_time=self.versions.saved_time,
            )
            model["format"] = "json"
        return model

    # -- save ----------------------------------------------------------------

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """One PUT. A path this server has not seen as a file costs one LIST first
        (is a folder there?); a notebook's first save here also makes sure it
        has a checkpoint, as the reference does."""
        path = self._path(path)
        if not isinstance(model, dict):
            raise HTTPError(400, "The model must be a JSON object")
        if model.get("chunk") is not None:
            self._refuse_hidden(path, message=f"Cannot create file or directory {path!r}")
            return await self._uploads_for().save_chunk(model, path)
        self.run_pre_save_hooks(model=model, path=path)
        if "type" not in model:
            raise HTTPError(400, "No file type provided")
        if "content" not in model and model["type"] != "directory":
            raise HTTPError(400, "No file content provided")
        if not path:
            raise HTTPError(400, "Can't save over the root directory")
        if not isinstance(model.get("format"), (str, type(None))):
            raise HTTPError(400, "The model's format must be a string: 'text', 'base64' or 'json'")
        kind = model["type"]
        if kind == "directory":
            self._refuse_hidden(path, message=f"Cannot create hidden directory {path!r}")
        else:
            self._refuse_hidden(path, message=f"Cannot create file or directory {path!r}")
        with http_errors(path):
            if kind == "directory":
                saved = await self._save_directory(path)
            elif kind in ("notebook", "file"):
                saved = await self._save_object(model, path)
            else:
                raise HTTPError(400, f"Unhandled contents type: {kind}")
        self.run_post_save_hooks(model=saved, os_path=self._s3_url(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    async def _save_directory(self, path: str) -> dict[str, Any]:
        marker = self.keymap.dir_marker(path)
        assert marker is not None
        if await self._file_exists(path):
            raise HTTPError(400, f"Not a directory: {path}")
        await self.client.put_object(marker, b"", content_type="application/x-directory")
        return models.directory_model(path, last_modified=_EPOCH, created=_EPOCH)

    async def check_not_a_folder(self, path: str) -> bool | None:
        """Refuse (409) to write an object at ``path`` when a folder is there.

        Free when this server knows what is at ``path``: a version of a file it
        served or wrote, or a listing of the parent that showed the name free
        (then it returns False: no checkpoints either). Otherwise one LIST
        (started early by :meth:`file_exists` when it could be), which also
        tells whether the path has checkpoints (True or False); None when that
        is not known."""
        basis = self.versions.basis(path)
        if isinstance(basis, str):
            return None
        if basis is FREE:
            return False
        early = self._folder_probes.pop(path, None)
        found: tuple[bool, bool] | None = None
        if early is not None and time.monotonic() - early[1] < _PROBE_SECONDS:
            with contextlib.suppress(errors.S3Error):
                found = await early[0]
        is_folder, has_checkpoints = found or await self._folder_listing(path)
        if is_folder:
            raise HTTPError(
                409,
                f"Cannot save {path!r}: a folder of that name exists. "
                "Choose another name, or rename or delete the folder.",
                reason="Conflict",
            )
        return has_checkpoints

    async def _folder_listing(self, path: str) -> tuple[bool, bool]:
        """One LIST: whether a folder is at ``path``, and whether ``path`` has
        checkpoints (``.checkpoints/`` is the only thing under it)."""
        prefix = self.keymap.dir_prefix(path)
        async for page in self.client.list_pages(prefix, delimiter="/", max_keys=2):
            if _is_folder(prefix, page.objects, page.common_prefixes):
                return True, False
            return False, bool(page.common_prefixes)  # only the checkpoints' holder
        return False, False

    async def _save_object(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        validation: dict[str, Any] = {}
        if models.guess_type(path) == "notebook" or model["type"] == "notebook":
            with http_errors(path):
                self.keymap.check_checkpoint_room(path)  # before anything is written
        if model["type"] == "notebook":
            content = model["content"]
            if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
                raise HTTPError(
                    400, f"Unreadable Notebook: {path}: the content must be a notebook object"
                )
            try:
                nb = await _off_loop(_BIG, nbformat.from_dict, content)
            except Exception as exc:  # nbformat raises many kinds on malformed input
                raise HTTPError(
                    400, f"Unreadable Notebook: {path}: {type(exc).__name__}: {exc}"
                ) from None
            await self._check_and_sign(nb, path)
            model = {**model, "content": nb}
        size = len(model["content"]) if isinstance(model.get("content"), str) else _BIG
        data, content_type = await _off_loop(
            size, models.encode_for_save, model, path, capture_validation_error=validation
        )
        has_checkpoints = await self.check_not_a_folder(path)
        now, metadata = self._now_meta()
        put = self._put_versioned(path, data, content_type, metadata, now)
        common: dict[str, Any] = {"last_modified": now, "created": now, "size": len(data)}
        # Answer as get(path) will: the type follows the name, not the request.
        build = (
            models.notebook_model if models.guess_type(path) == "notebook" else models.file_model
        )
        if model["type"] != "notebook":
            await put
            return build(path, **common)
        # One checkpoint should always exist for a notebook (as the reference does):
        # list them while the PUT is in flight (unless known), create one after
        # the PUT if there is none.
        if path in self._has_checkpoint:
            await put
        else:
            if has_checkpoints is None:
                _, listed = await asyncio.gather(put, self.checkpoints.list_checkpoints(path))
                has_checkpoints = bool(listed)
            else:
                await put
            if not has_checkpoints:
                await self.checkpoints.create_checkpoint(self, path)
            self._has_checkpoint.add(path)
        self.validate_notebook_model(model, validation_error=validation)
        saved = build(path, **common)
        if model.get("message"):
            saved["message"] = model["message"]
        return saved

    async def _put_versioned(
        self, path: str, data: bytes, content_type: str, metadata: dict[str, str], saved: datetime
    ) -> None:
        """PUT ``path`` conditioned on the version this server last saw of it
        (``saved``: the save time that ``metadata`` records)."""
        key = self.keymap.file_key(path)

        async def put(conditions: Conditions) -> None:
            result = await self.client.put_object(
                key,
                data,
                content_type=content_type,
                metadata=metadata,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
            self.versions.served(path, result.etag, saved)

        await self.writes.run(path, put)

    def _uploads_for(self) -> ChunkedUploads:
        if self._uploads is None:
            self._uploads = ChunkedUploads(self)
        return self._uploads

    # -- new -----------------------------------------------------------------

    async def _child_names(self, path: str) -> set[str] | None:
        """Names in folder ``path`` from one delimiter listing; None if no such folder."""
        prefix = self.keymap.dir_prefix(path)
        objects, prefixes = await self.client.list_all(prefix, delimiter="/")
        if path and not _is_folder(prefix, objects, prefixes):
            return None
        names = {o.key[len(prefix) :] for o in objects if o.key != prefix}
        names |= {p[len(prefix) :].rstrip("/") for p in prefixes}
        return names

    async def increment_filename(self, filename: str, path: str = "", insert: str = "") -> str:
        """One LIST of the folder, then the first free name (as the reference numbers them)."""
        path = self._path(path)
        with http_errors(path):
            taken = await self._child_names(path) or set()
        return first_free_name(filename, insert, taken)

    async def new_untitled(self, path: str = "", type: str = "", ext: str = "") -> dict[str, Any]:
        """One LIST (existence and taken names) and one PUT."""
        path = self._path(path)
        if not self.allow_hidden and keys.is_hidden_path(path):
            raise HTTPError(404, f"No such directory: {path}")  # hidden folders are not served
        with http_errors(path):
            taken = await self._child_names(path)
        if taken is None:
            raise HTTPError(404, f"No such directory: {path}")
        if not isinstance(ext, str) or "/" in ext or "\\" in ext:
            raise HTTPError(400, f"Invalid extension {ext!r}: a string without slashes")
        if not isinstance(type, str):
            raise HTTPError(400, f"Invalid type {type!r}")
        model: dict[str, Any] = {}
        if type:
            model["type"] = type
        model.setdefault("type", "notebook" if ext == ".ipynb" else "file")
        insert = ""
        if model["type"] == "directory":
            untitled, insert = self.untitled_directory, " "
        elif model["type"] == "notebook":
            untitled, ext = self.untitled_notebook, ".ipynb"
        elif model["type"] == "file":
            untitled = self.untitled_file
        else:
            raise HTTPError(400, f"Unexpected model type: {model['type']!r}")
        for _ in range(_NEW_UNTITLED_TRIES):
            name = first_free_name(untitled + ext, insert, taken)
            target = f"{path}/{name}".strip("/")
            self.versions.free(target)  # free in the listing: create, never replace
            try:
                return await self.new(model, target)  # type: ignore[no-any-return]
            except WriteConflict as conflict:
                if not conflict.created:
                    raise
                taken.add(name)  # another server took it meanwhile: the next one
        raise HTTPError(409, f"Could not find a free name for a new {model['type']} in {path!r}")
