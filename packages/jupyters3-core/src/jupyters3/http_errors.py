"""The one place where domain errors become HTTP answers.

Everything below the manager raises :mod:`jupyters3.errors` (S3),
:class:`jupyters3.keys.InvalidPath`, :class:`jupyters3.models.BadContent` or
the store's :class:`~jupyters3.store.FolderInTheWay` and
:class:`~jupyters3.store.ReadOnly`, the mounts' refusals
(:mod:`jupyters3.mounts`); the manager, its
checkpoints and uploads wrap their work in :func:`http_errors`, which maps each
to the status a Jupyter client expects. (Conflicts of the write policy are
already :class:`~jupyters3.writes.WriteConflict`, a 409 with its own message.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tornado.web import HTTPError

from jupyters3 import errors, keys, models
from jupyters3.mounts import MountPoint, NoStore, TopLevelOnlyMounts
from jupyters3.store import FolderInTheWay, MoveIncomplete, ReadOnly

__all__ = ["api_path", "http_errors"]


def api_path(path: object) -> str:
    """The normalised API path of a request's ``path``; 400 for anything that
    could leave the prefix, or is not a string (a JSON body can hold anything)."""
    if not isinstance(path, str):
        raise HTTPError(400, f"A path must be a string, not {type(path).__name__}")
    with http_errors(path):
        return keys.normalize_path(path)


@contextlib.contextmanager
def http_errors(path: str = "") -> Iterator[None]:
    """Turn domain errors into the HTTP answers Jupyter clients understand."""
    try:
        yield
    except keys.OutsideRoot as exc:
        raise HTTPError(404, str(exc)) from None
    except keys.InvalidPath as exc:
        raise HTTPError(400, str(exc)) from None
    except (ReadOnly, TopLevelOnlyMounts) as exc:
        raise HTTPError(403, str(exc), reason="Read-only") from None
    except MountPoint as exc:
        raise HTTPError(403, str(exc), reason="Mount point") from None
    except NoStore as exc:
        raise HTTPError(404, str(exc)) from None
    except models.BadContent as exc:
        raise HTTPError(400, str(exc)) from None
    except (FolderInTheWay, MoveIncomplete) as exc:
        raise HTTPError(409, str(exc), reason="Conflict") from None
    except errors.NotFound as exc:
        raise HTTPError(404, f"No such file or directory: {path} ({exc.code})") from None
    except errors.PreconditionFailed as exc:
        raise HTTPError(
            409,
            f"{path} changed or appeared in the bucket meanwhile (another server or user), "
            f"so nothing was overwritten; reload and try again ({exc.code})",
        ) from None
    except errors.Conflict as exc:
        raise HTTPError(409, f"A concurrent change conflicts with this one: {exc}") from None
    except errors.AccessDenied as exc:
        raise HTTPError(403, f"Permission denied by S3: {exc}") from None
    except (errors.Throttled, errors.ServerError) as exc:
        raise HTTPError(503, f"S3 is unavailable, try again: {exc}") from None
    except (errors.NetworkError, errors.BadConfiguration) as exc:
        raise HTTPError(502, f"S3 could not be reached: {exc}") from None
    except errors.S3Error as exc:
        raise HTTPError(502, f"S3 failed: {exc}") from None
