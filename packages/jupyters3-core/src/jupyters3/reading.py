"""Models of what the bucket holds: a file, a notebook or a folder, with or
without content, as jupyter_server's contents API shows them.

A file or notebook is one GET (content) or one HEAD; a folder one LIST per
1,000 entries (one short LIST without content). Big contents are decoded off
the event loop; a file over ``max_inline_bytes`` is refused (413) before it
is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.services.contents.manager import ContentsManager
from tornado.web import HTTPError

from jupyters3 import errors, models
from jupyters3.content import mark_trusted, off_loop
from jupyters3.marks import saved_time
from jupyters3.mounts import Stores
from jupyters3.names import human_size
from jupyters3.store import S3Store

__all__ = ["dir_model", "get", "object_model", "too_large_to_inline", "top_level"]


async def get(
    cm: ContentsManager,
    store: S3Store,
    path: str,
    *,
    content: bool,
    type: str | None,
    format: str | None,
    require_hash: bool,
    max_inline: int,
    is_file: Callable[[str], Awaitable[bool]],
) -> dict[str, Any]:
    """The model of ``path`` (``ContentsManager.get``). Without ``type``, a name
    without a dot is tried as a folder first and anything else as a file
    first, so the common case costs one request and the other two; without
    content, a file's name not known here as a file is tried both ways at
    once (one round trip, also when nothing is there). A wrong
    ``type`` is 400, nothing at all 404. ``is_file``: the manager's existence
    check (an upload in progress counts)."""

    async def folder() -> dict[str, Any] | None:
        return await dir_model(cm, store, path, content=content)

    async def file(kind: str | None) -> dict[str, Any] | None:
        return await object_model(
            cm,
            store,
            path,
            content=content,
            type=kind,
            format=format,
            require_hash=require_hash,
            max_inline=max_inline,
        )

    model: dict[str, Any] | None
    if not path and type not in (None, "directory"):
        raise HTTPError(400, f"The root is a directory, not a {type}", reason="bad type")
    if type == "directory" or not path:
        model = await folder()
        if model is None:
            if await is_file(path):
                raise HTTPError(400, f"{path} is not a directory", reason="bad type")
            raise HTTPError(404, f"directory does not exist: {path!r}")
        return model
    if type is not None:
        model = await file(type)
        if model is None:
            if await store.is_dir(path):
                raise HTTPError(400, f"{path} is a directory, not a {type}", reason="bad type")
            raise HTTPError(404, f"No such file or directory: {path}")
        return model
    file_like = "." in path.rsplit("/", 1)[-1]
    if not content and file_like and not isinstance(store.versions.basis(path), str):
        # A file's name this server does not know as a file: what JupyterLab
        # asks before an upload or a "Save As", mostly of a free path. HEAD and
        # LIST at once: one round trip, found or not.
        found, listed = await asyncio.gather(file(None), folder())
        model = found or listed
    elif not file_like:
        model = await folder() or await file(None)
    else:
        model = await file(None) or await folder()
    if model is None:
        raise HTTPError(404, f"No such file or directory: {path}")
    return model


async def top_level(
    cm: ContentsManager,
    stores: Stores,
    *,
    content: bool,
    type: str | None,
    is_file: Callable[[str], Awaitable[bool]],
) -> dict[str, Any]:
    """The root when mounts are configured: the main bucket's top level (when
    there is one; a name a mount hides is left out) and a folder per mount,
    which costs no request. Without a main bucket the root is not writable."""
    if type not in (None, "directory"):
        raise HTTPError(400, f"The root is a directory, not a {type}", reason="bad type")
    if stores.main is not None:
        model = await dir_model(cm, stores.main, "", content=content)
        assert model is not None  # the root always exists
    else:
        model = models.directory_model("", writable=False, created=models.EPOCH)
        if content:
            model.update(content=[], format="json")
    if content:
        listed = [m for m in model["content"] if m["name"] not in stores.mounts]
        model["content"] = listed + [
            models.directory_model(name, created=models.EPOCH, writable=not store.read_only)
            for name, store in stores.mounts.items()
        ]
    return model


async def object_model(
    cm: ContentsManager,
    store: S3Store,
    path: str,
    *,
    content: bool,
    type: str | None,
    format: str | None,
    require_hash: bool,
    max_inline: int,
) -> dict[str, Any] | None:
    """The model of the object at ``path``; None if there is none."""
    data = b""
    try:
        if content:
            meta, data = await store.read(path, max_size=max_inline or None)
        else:
            found = await store.head_for_model(path)
            if found is None:
                return None
            meta = found
    except errors.NotFound:
        return None
    except errors.BodyTooLarge as too_large:
        size = too_large.size or 0
        raise HTTPError(413, too_large_to_inline(path, size, too_large.limit)) from None
    stamp = saved_time(meta)
    times: dict[str, Any] = {
        "last_modified": stamp,
        "created": stamp,
        "size": meta.size,
        "writable": not store.read_only,
    }
    if (type or models.guess_type(path)) == "notebook":
        model = models.notebook_model(path, **times)
        if content:
            invalid: dict[str, Any] = {}
            nb = await off_loop(
                len(data), models.read_notebook, data, path, capture_validation_error=invalid
            )
            await mark_trusted(cm, nb, path, len(data))
            model.update(content=nb, format="json")
            cm.validate_notebook_model(model, validation_error=invalid)
    else:
        model = models.file_model(path, **times)
        if content:
            text, fmt, mimetype = await off_loop(len(data), models.decode_file, data, format, path)
            model.update(content=text, format=fmt)
            model["mimetype"] = model["mimetype"] or mimetype
    if require_hash:
        models.with_hash(model, meta.etag)
    return model


async def dir_model(
    cm: ContentsManager, store: S3Store, path: str, *, content: bool
) -> dict[str, Any] | None:
    """The model of the folder at ``path``; None if there is none. Without
    content, one short LIST; with content, every page."""
    listed = await store.list_dir(path, complete=content)
    if listed is None:
        return None
    # A folder has no time its parent's listing can show (S3 lists it as a
    # common prefix): its model shows none either, so both agree.
    model = models.directory_model(
        path, last_modified=models.EPOCH, created=models.EPOCH, writable=not store.read_only
    )
    if content:
        objects, prefixes = listed
        model["content"] = await off_loop(
            len(objects) * 256,  # a thousand entries or more: in a worker thread
            models.directory_listing,
            path,
            objects,
            prefixes,
            store.keymap,
            allow_hidden=cm.allow_hidden,
            hide_globs=list(cm.hide_globs),
            default_time=models.EPOCH,
            saved_time=store.versions.saved_time,
            writable=not store.read_only,
        )
        model["format"] = "json"
    return model


def too_large_to_inline(path: str, size: int, limit: int) -> str:
    """The 413's sentence for a file over ``max_inline_bytes``."""
    return (
        f"{path} is {human_size(size)}, more than the {human_size(limit)} that can "
        f"be opened here (c.JupyterS3.max_inline_bytes = {limit}). Download it instead "
        "(right-click it in the file browser, then Download), or ask the server's "
        "administrator to raise c.JupyterS3.max_inline_bytes (0: no limit)."
    )
