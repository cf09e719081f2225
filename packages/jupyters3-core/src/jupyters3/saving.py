"""Saving a file or notebook from a model: sign a notebook, encode (off the
event loop when large), refuse a folder in the way, write under the store's
write policy, and give a notebook its first checkpoint.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nbformat
from jupyter_server.services.contents.manager import ContentsManager
from tornado.web import HTTPError

from jupyters3 import models
from jupyters3.content import OFF_LOOP_BYTES, check_and_sign, off_loop
from jupyters3.store import S3Store

__all__ = ["save_object", "signed_notebook"]


async def save_object(
    cm: ContentsManager,
    store: S3Store,
    model: dict[str, Any],
    path: str,
    known_checkpoints: set[str],
) -> dict[str, Any]:
    """Save a file or notebook from ``model``; returns the model without content.

    One PUT, after one LIST when this server does not know what is at
    ``path`` (:meth:`S3Store.check_not_a_folder`). A notebook's first save here
    also makes sure it has a checkpoint, as the reference does
    (``known_checkpoints``: the paths known to have one). What was sent
    (``model["type"]``) decides how it is encoded and whether it gets a
    checkpoint; the answer shows the type its name gives, as ``get`` will."""
    validation: dict[str, Any] = {}
    notebook = model["type"] == "notebook"
    if notebook or models.guess_type(path) == "notebook":
        # A notebook gets checkpoints (now, or when opened): refuse a name
        # whose checkpoint keys S3 cannot hold before anything is written.
        store.keymap.check_checkpoint_room(path)
    if notebook:
        model = {**model, "content": await signed_notebook(cm, model["content"], path)}
    size = len(model["content"]) if isinstance(model["content"], str) else OFF_LOOP_BYTES
    data, content_type = await off_loop(
        size, models.encode_for_save, model, path, capture_validation_error=validation
    )
    has_checkpoints = await store.check_not_a_folder(path)
    put = store.write(path, data, content_type)
    if not notebook or path in known_checkpoints:
        saved = await put
    else:
        # A notebook always has a checkpoint (as the reference does): list them
        # while the PUT is in flight (unless known), create one after if none.
        if has_checkpoints is None:
            saved, listed = await asyncio.gather(put, cm.checkpoints.list_checkpoints(path))
            has_checkpoints = bool(listed)
        else:
            saved = await put
        if not has_checkpoints:
            await cm.checkpoints.create_checkpoint(cm, path)
        known_checkpoints.add(path)
    answer = models.model_by_name(path, last_modified=saved, created=saved, size=len(data))
    if notebook:
        cm.validate_notebook_model(model, validation_error=validation)
        if model.get("message"):
            answer["message"] = model["message"]
    return answer


async def signed_notebook(cm: ContentsManager, content: Any, path: str) -> Any:
    """The notebook of a save's content, signed; 400 if it is not one."""
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        raise HTTPError(400, f"Unreadable Notebook: {path}: the content must be a notebook object")
    try:
        nb = await asyncio.to_thread(nbformat.from_dict, content)
    except Exception as exc:  # nbformat raises many kinds on malformed input
        raise HTTPError(400, f"Unreadable Notebook: {path}: {type(exc).__name__}: {exc}") from None
    await check_and_sign(cm, nb, path)
    return nb
