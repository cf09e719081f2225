"""The one place where domain errors become HTTP answers.

Everything below the Jupyter handlers raises plain exceptions: the S3 errors
of :mod:`jupyters3.errors` and the contents errors of
:mod:`jupyters3.contents_errors`. The manager, its checkpoints, its uploads
and the ``/files/`` handler wrap their work in :func:`http_errors`, which maps
each to the status a Jupyter client expects, through the two tables below:
the same S3 error gets the same answer from ``/api/contents`` and ``/files/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from tornado.web import HTTPError

from jupyters3 import errors, keys
from jupyters3.contents_errors import (
    BadContent,
    ChunkOutOfOrder,
    ContentsConflict,
    ContentsError,
    InvalidPath,
    MountPoint,
    NoStore,
    NotWritable,
    OutsideRoot,
    SourceMissing,
)

__all__ = ["CONTENTS_STATUS", "S3_STATUS", "api_path", "http_error", "http_errors"]

#: Contents error -> (status, reason); the most specific class found in an
#: error's MRO wins.
CONTENTS_STATUS: Mapping[type[ContentsError], tuple[int, str | None]] = {
    OutsideRoot: (404, None),
    InvalidPath: (400, None),
    BadContent: (400, None),
    NoStore: (404, None),
    SourceMissing: (404, None),
    MountPoint: (403, "Mount point"),
    NotWritable: (403, "Read-only"),
    ChunkOutOfOrder: (409, "Conflict"),
    ContentsConflict: (409, "Conflict"),
    ContentsError: (400, None),
}

#: S3 error -> status (the most specific class in the error's MRO wins).
S3_STATUS: Mapping[type[errors.S3Error], int] = {
    errors.NotFound: 404,
    errors.PreconditionFailed: 409,
    errors.Conflict: 409,
    errors.AccessDenied: 403,
    errors.Throttled: 503,
    errors.ServerError: 503,
    errors.NetworkError: 502,
    errors.BadConfiguration: 502,
    errors.S3Error: 502,
}


def _lookup(kind: type, table: Mapping[type, object]) -> object:
    for cls in kind.__mro__:
        if cls in table:
            return table[cls]
    raise LookupError(kind)  # pragma: no cover - the base class is in each table


def _s3_message(exc: errors.S3Error, path: str) -> str:
    if isinstance(exc, errors.NotFound):
        return f"No such file or directory: {path} ({exc.code})"
    if isinstance(exc, errors.PreconditionFailed):
        return (
            f"{path} changed or appeared in the bucket meanwhile (another server or user), "
            f"so nothing was overwritten; reload and try again ({exc.code})"
        )
    if isinstance(exc, errors.Conflict):
        return f"A concurrent change conflicts with this one: {exc}"
    if isinstance(exc, errors.AccessDenied):
        return f"Permission denied by S3: {exc}"
    if isinstance(exc, (errors.Throttled, errors.ServerError)):
        return f"S3 is unavailable, try again: {exc}"
    if isinstance(exc, (errors.NetworkError, errors.BadConfiguration)):
        return f"S3 could not be reached: {exc}"
    return f"S3 failed: {exc}"


def http_error(exc: ContentsError | errors.S3Error, path: str = "") -> HTTPError:
    """The HTTP answer for a domain error met while serving ``path``."""
    if isinstance(exc, errors.S3Error):
        status = _lookup(type(exc), S3_STATUS)
        assert isinstance(status, int)
        return HTTPError(status, _s3_message(exc, path))
    found = _lookup(type(exc), CONTENTS_STATUS)
    assert isinstance(found, tuple)
    status, reason = found
    return HTTPError(status, str(exc), reason=reason)


def api_path(path: object) -> str:
    """The normalised API path of a request's ``path``; 400 for anything that
    could leave the prefix, or is not a string (a JSON body can hold anything)."""
    if not isinstance(path, str):
        raise HTTPError(400, f"A path must be a string, not {type(path).__name__}")
    with http_errors(path):
        return keys.normalize_path(path)


@contextlib.contextmanager
def http_errors(path: str = "") -> Iterator[None]:
    """Turn domain errors into the HTTP answers Jupyter clients understand (the
    domain error stays the answer's ``__cause__``: a caller may look at it)."""
    try:
        yield
    except (ContentsError, errors.S3Error) as exc:
        raise http_error(exc, path) from exc
