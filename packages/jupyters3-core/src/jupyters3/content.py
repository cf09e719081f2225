"""What a model's content needs beyond S3: big payloads handled off the event
loop, and notebook trust (jupyter_server's notary) with its signature store.

Everything here works on jupyter_server's public ContentsManager API
(``notary``, ``mark_trusted_cells``, ``check_and_sign``, ``log``), so it needs
no S3 and no JupyterS3 internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.services.contents.manager import ContentsManager
from tornado.web import HTTPError

__all__ = ["OFF_LOOP_BYTES", "check_and_sign", "mark_trusted", "off_loop"]

T = TypeVar("T")

#: Inputs of this many bytes or more are parsed, encoded and validated in a
#: worker thread, so a big notebook or file never stalls the event loop.
OFF_LOOP_BYTES = 256 * 1024


async def off_loop(size: int, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)``, in a worker thread when ``size`` is large."""
    if size < OFF_LOOP_BYTES:
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)


async def mark_trusted(manager: ContentsManager, nb: Any, path: str, size: int) -> None:
    """``mark_trusted_cells``, with a big notebook's signature (an HMAC over
    all of it) computed in a worker thread; the notary's SQLite store is only
    touched from the event loop's thread."""
    notary = manager.notary
    if nb.nbformat < 3:
        with_signature_store(manager, path, lambda: manager.mark_trusted_cells(nb, path))
        return
    signature = await off_loop(size, notary.compute_signature, nb)
    trusted = with_signature_store(
        manager, path, lambda: bool(notary.store.check_signature(signature, notary.algorithm))
    )
    if not trusted:
        manager.log.warning("Notebook %s is not trusted", path)
    notary.mark_cells(nb, trusted)


async def check_and_sign(manager: ContentsManager, nb: Any, path: str) -> None:
    """``check_and_sign``, with the signature computed in a worker thread.
    A notebook that cannot be signed is malformed: 400."""
    notary = manager.notary
    try:
        legacy = nb.nbformat < 3
        trusted = legacy or notary.check_cells(nb)
        signature = None
        if trusted and not legacy:
            signature = await asyncio.to_thread(notary.compute_signature, nb)
    except Exception as exc:  # malformed cells, outputs or nbformat
        raise HTTPError(400, f"Unreadable Notebook: {path}: {type(exc).__name__}: {exc}") from None
    if legacy:
        with_signature_store(manager, path, lambda: manager.check_and_sign(nb, path))
    elif signature is not None:
        with_signature_store(
            manager, path, lambda: notary.store.store_signature(signature, notary.algorithm)
        )
    else:
        manager.log.warning("Notebook %s is not trusted", path)


def with_signature_store(manager: ContentsManager, path: str, use: Callable[[], T]) -> T:
    """``use()`` of the notary's signature store; when the store fails (a
    corrupt or unreadable database), recreate it once and try again, as
    jupyter_server's ``check_and_sign`` does. A store that cannot be recreated
    answers 500, naming the problem."""
    try:
        return use()
    except Exception:
        manager.log.warning(
            "Signature store for notebook %s is corrupted or unavailable; recreating the store.",
            path,
            exc_info=True,
        )
    notary = manager.notary
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
