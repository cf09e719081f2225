"""moto's S3 server, with each object write and delete atomic, as S3's are.

``python -m jupyters3_testing.moto_atomic -H 127.0.0.1 -p PORT`` runs
``moto.server`` (same arguments) after one change: moto handles requests in
threads, and its conditional writes and deletes check their condition, then
act, with no lock between the two. DeleteObjects even checks the ETag of
every key of the batch before it deletes any. So a PutObject from another
client can land between the check and the delete, and be deleted although it
was not the version named: a lost write that S3 (which checks each key's
condition as it acts on it) never loses. Here the handlers of object writes
(PUT: PutObject, CopyObject, UploadPart; POST: CompleteMultipartUpload) and
deletes (DeleteObject, DeleteObjects) run under one lock, so each is atomic
against the others, as on S3. Reads and listings are not serialised.

:class:`jupyters3_testing.s3server.MotoServer` starts moto this way.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ATOMIC_HANDLERS", "main", "make_atomic"]

#: moto's S3 handlers (``moto.s3.responses.S3Response``) made atomic.
ATOMIC_HANDLERS = (
    "_key_response_put",
    "_key_response_post",
    "_key_response_delete",
    "_bucket_response_delete_keys",
)


def make_atomic(cls: Any, names: tuple[str, ...] = ATOMIC_HANDLERS) -> threading.RLock:
    """Wrap each handler ``names`` of ``cls`` in one lock (idempotent); returns the lock."""
    lock: threading.RLock = getattr(cls, "_js3_atomic_lock", None) or threading.RLock()
    cls._js3_atomic_lock = lock
    for name in names:
        handler: Callable[..., Any] = getattr(cls, name)
        if getattr(handler, "_js3_atomic", False):
            continue

        @functools.wraps(handler)
        def atomic(self: Any, *args: Any, _handler: Any = handler, **kwargs: Any) -> Any:
            with lock:
                return _handler(self, *args, **kwargs)

        atomic._js3_atomic = True  # type: ignore[attr-defined]
        setattr(cls, name, atomic)
    return lock


def main(argv: list[str] | None = None) -> None:
    """Patch moto's S3 handlers, then run ``moto.server`` with ``argv``."""
    # moto.server first: it sets moto up (and a broken install fails there, as
    # ``python -m moto.server`` would), then the S3 handlers are wrapped.
    server = importlib.import_module("moto.server")
    responses = importlib.import_module("moto.s3.responses")
    make_atomic(responses.S3Response)
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
