"""File ids (jupyter_server_fileid) across folder renames.

jupyter_server_fileid's default ``ArbitraryFileIdManager`` follows the
contents manager's ``rename`` events, but it moves the ids of the files under
a folder only when the folder itself already has an id; otherwise it gives
the new folder path a fresh id and leaves every child's id pointing at the
old path. Folders rarely have ids (ids are made when a document is opened),
so a folder rename would silently break the ids of open documents inside it,
and real-time collaboration (jupyter-collaboration) would then lose track of
them. :func:`index_before_rename` gives the source path an id just before the
event is emitted, so the manager's own recursive move applies.

Duck-typed: nothing is imported from jupyter_server_fileid, and a server
without it is left alone. Never fails the rename it is called for.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("jupyters3")


def file_id_manager(contents_manager: Any) -> Any | None:
    """The server's ``file_id_manager`` (jupyter_server_fileid), if it has one."""
    web_app = getattr(getattr(contents_manager, "parent", None), "web_app", None)
    settings = getattr(web_app, "settings", None)
    manager = settings.get("file_id_manager") if isinstance(settings, dict) else None
    if manager is None or not (hasattr(manager, "get_id") and hasattr(manager, "index")):
        return None
    return manager


def index_before_rename(contents_manager: Any, old_path: str) -> None:
    """Give ``old_path`` a file id if it has none (call right before the rename event)."""
    manager = file_id_manager(contents_manager)
    if manager is None:
        return
    try:
        if manager.get_id(old_path) is None:
            manager.index(old_path)
    except Exception as exc:  # the id index must never fail a rename that happened
        log.warning("Could not index %r before its rename event: %r", old_path, exc)
