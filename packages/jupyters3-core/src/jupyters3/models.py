"""Jupyter contents models built from S3 facts. Pure: no I/O, no tornado/traitlets.

The shapes follow jupyter_server 2.x ``FileContentsManager`` (``_base_model``,
``_dir_model``, ``_file_model``, ``_notebook_model``) and the REST handler's
``validate_model``: every model has ``name, path, type, writable, created,
last_modified, mimetype, content, format, size, hash, hash_algorithm``.
Content-less models (``content=False``) have ``content``, ``format``, ``hash``
and ``hash_algorithm`` set to ``None``; :func:`with_hash` fills in the hash.

S3 has no creation time: ``created`` defaults to ``last_modified``. Timestamps
must be timezone-aware (S3 gives UTC). Errors in user data (undecodable text,
unreadable notebooks, bad base64) raise :class:`BadContent`, which the manager
answers with HTTP 400, as the reference does.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import nbformat

from jupyters3.contents_errors import BadContent, InvalidPath
from jupyters3.keys import KeyMap, is_hidden_name, join, normalize_path
from jupyters3.s3.xml import ListedObject

__all__ = [
    "EPOCH",
    "HASH_ALGORITHM",
    "LINE_BREAKS",
    "NOTEBOOK_CONTENT_TYPE",
    "Model",
    "base_model",
    "decode_file",
    "directory_listing",
    "directory_model",
    "encode_for_save",
    "file_model",
    "guess_type",
    "model_by_name",
    "notebook_model",
    "read_notebook",
    "with_hash",
]

#: A contents model: the JSON-able dict the REST handler sends (datetimes included).
Model = dict[str, Any]
ModelType = Literal["notebook", "file", "directory"]

#: The ``hash_algorithm`` of models whose ``hash`` is the S3 ETag. The ETag is an
#: opaque content identifier (MD5 hex for single-part uploads, ``<md5>-<parts>``
#: for multipart ones, something else under SSE-KMS); clients only compare it.
HASH_ALGORITHM = "s3-etag"

#: The fallback time for folders whose time S3 does not tell (common prefixes).
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: The Content-Type stored with notebooks (the one jupyter_server's FilesHandler sends).
NOTEBOOK_CONTENT_TYPE = "application/x-ipynb+json"

_DEFAULT_MIMETYPE = {"text": "text/plain", "base64": "application/octet-stream"}
#: Removed from base64 content before decoding (encodebytes and browsers wrap lines).
LINE_BREAKS = str.maketrans("", "", "\r\n")


def guess_type(path: str) -> Literal["notebook", "file"]:
    """``"notebook"`` for ``*.ipynb`` (case-sensitive, like the reference), else ``"file"``."""
    return "notebook" if path.endswith(".ipynb") else "file"


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value


def base_model(
    path: str,
    *,
    type: ModelType,
    last_modified: datetime,
    created: datetime | None = None,
    size: int | None = None,
    writable: bool = True,
) -> Model:
    """The common model of any entry, without content (``content=False``).

    ``path`` must be a normalised API path (``""`` is the root, whose name is
    ``""``). ``mimetype``, ``content``, ``format``, ``hash`` and
    ``hash_algorithm`` are ``None``. ``created`` defaults to ``last_modified``.
    """
    _aware(last_modified, "last_modified")
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "type": type,
        "writable": writable,
        "created": _aware(created, "created") if created is not None else last_modified,
        "last_modified": last_modified,
        "mimetype": None,
        "content": None,
        "format": None,
        "size": size,
        "hash": None,
        "hash_algorithm": None,
    }


def file_model(
    path: str,
    *,
    size: int,
    last_modified: datetime,
    created: datetime | None = None,
    writable: bool = True,
) -> Model:
    """A ``type="file"`` model; ``mimetype`` is ``mimetypes.guess_type(path)[0]``
    (may be ``None`` without content, as in the reference)."""
    model = base_model(
        path,
        type="file",
        last_modified=last_modified,
        created=created,
        size=size,
        writable=writable,
    )
    model["mimetype"] = mimetypes.guess_type(path)[0]
    return model


def notebook_model(
    path: str,
    *,
    size: int,
    last_modified: datetime,
    created: datetime | None = None,
    writable: bool = True,
) -> Model:
    """A ``type="notebook"`` model (``mimetype`` ``None``, like the reference)."""
    return base_model(
        path,
        type="notebook",
        last_modified=last_modified,
        created=created,
        size=size,
        writable=writable,
    )


def directory_model(
    path: str,
    *,
    last_modified: datetime = EPOCH,
    created: datetime | None = None,
    writable: bool = True,
) -> Model:
    """A ``type="directory"`` model (``size`` and ``mimetype`` ``None``)."""
    return base_model(
        path,
        type="directory",
        last_modified=last_modified,
        created=created,
        size=None,
        writable=writable,
    )


def model_by_name(path: str, **fields: Any) -> Model:
    """The content-less model of a file or notebook, of the type its name gives
    (as ``get`` without ``type`` shows it)."""
    if guess_type(path) == "notebook":
        return notebook_model(path, **fields)
    return file_model(path, **fields)


def with_hash(model: Model, etag: str) -> Model:
    """Set ``hash`` to the ETag (quotes stripped) and ``hash_algorithm`` to
    :data:`HASH_ALGORITHM`, in place; returns ``model`` for chaining."""
    model["hash"] = etag.strip('"')
    model["hash_algorithm"] = HASH_ALGORITHM
    return model


#: Bytes base64-encoded at a time: 1,024 lines of 57 bytes (76 characters and a
#: newline each), so each step's temporary objects stay small.
_BASE64_BLOCK = 57 * 1024


def _base64_lines(data: bytes) -> str:
    """``base64.encodebytes(data).decode("ascii")``, the same text, a block at a time
    into one buffer of the final size.

    ``encodebytes`` of a whole file makes a bytes object per 57-byte line (~2x
    the file's size in small objects) and joins them through an 80-byte buffer
    per line (~1.4x) into bytes (1.35x), then decoded (1.35x): ~4.8x the file's
    size on top of it at the peak. Here: the buffer, then the text (1.35x each).
    """
    view = memoryview(data)
    lines = -(-len(view) // 57)
    out = bytearray(-(-len(view) // 3) * 4 + lines)
    pos = 0
    for start in range(0, len(view), _BASE64_BLOCK):
        block = base64.encodebytes(view[start : start + _BASE64_BLOCK])
        out[pos : pos + len(block)] = block
        pos += len(block)
    return out.decode("ascii")


def decode_file(data: bytes, format: str | None, path: str) -> tuple[str, str, str]:
    """Decode a file's bytes for a ``content=True`` model, like the reference
    ``_read_file``: returns ``(content, format, mimetype)``.

    * ``format=None``: UTF-8 text if the bytes decode, else base64.
    * ``"text"``: UTF-8 text; :class:`BadContent` ``"<path> is not UTF-8 encoded"``.
    * anything else (``"base64"``): base64 with a newline every 76 characters
      (``base64.encodebytes``, as the reference sends it).

    ``mimetype`` is ``mimetypes.guess_type(path)[0]``, or ``text/plain`` for text
    and ``application/octet-stream`` for base64 when the guess is ``None``.
    """
    if format is None or format == "text":
        try:
            content, chosen = data.decode("utf-8"), "text"
        except UnicodeDecodeError:
            if format == "text":
                raise BadContent(f"{path} is not UTF-8 encoded") from None
            content, chosen = _base64_lines(data), "base64"
    else:
        content, chosen = _base64_lines(data), "base64"
    mimetype = mimetypes.guess_type(path)[0] or _DEFAULT_MIMETYPE[chosen]
    return content, chosen, mimetype


def read_notebook(
    data: bytes, path: str, *, capture_validation_error: dict[str, Any] | None = None
) -> Any:
    """Parse notebook bytes into a version-4 ``NotebookNode``.

    Like the reference ``_read_notebook``: non-UTF-8 bytes give
    :class:`BadContent` ``"<path> is not UTF-8 encoded"``; any parse or
    conversion failure gives ``"Unreadable Notebook: <path> <repr(error)>"``.
    Schema validation errors do not raise: nbformat logs them and, when
    ``capture_validation_error`` is a dict, stores them under
    ``"ValidationError"`` (pass it on to ``validate_notebook_model``).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadContent(f"{path} is not UTF-8 encoded") from None
    try:
        return nbformat.reads(text, as_version=4, capture_validation_error=capture_validation_error)
    except Exception as error:  # nbformat raises many kinds (JSON, KeyError, ...)
        raise BadContent(f"Unreadable Notebook: {path} {error!r}") from error


def encode_for_save(
    model: Mapping[str, Any],
    path: str,
    *,
    capture_validation_error: dict[str, Any] | None = None,
) -> tuple[bytes, str]:
    """The bytes to store for a ``save()`` model, and their Content-Type.

    * ``notebook``: ``nbformat.writes(nb, version=NO_CONVERT)`` in UTF-8 plus a
      final newline, byte-for-byte what ``nbformat.write`` puts in a file;
      Content-Type :data:`NOTEBOOK_CONTENT_TYPE`. Validation errors are only
      logged/captured, as in the reference (the manager validates and signs).
    * ``file`` with ``format="text"``: UTF-8; ``"base64"``: the decoded bytes
      (newlines are tolerated, other non-alphabet characters are not).
      Content-Type: the guessed mimetype, else ``text/plain`` /
      ``application/octet-stream``.

    :class:`BadContent` for a missing ``content``, another ``type`` or
    ``format``, bad base64, or an unserialisable notebook.
    """
    kind = model.get("type")
    content = model.get("content")
    if content is None:
        raise BadContent("No file content provided")
    if kind == "notebook":
        try:
            nb = nbformat.from_dict(content)
            text = nbformat.writes(
                nb, version=nbformat.NO_CONVERT, capture_validation_error=capture_validation_error
            )
        except Exception as error:
            raise BadContent(f"Unwritable Notebook: {path} {error!r}") from error
        if not text.endswith("\n"):
            text += "\n"
        return text.encode("utf-8"), NOTEBOOK_CONTENT_TYPE
    if kind != "file":
        raise BadContent(f"Unhandled contents type: {kind}")
    fmt = model.get("format")
    if fmt not in _DEFAULT_MIMETYPE:
        raise BadContent("Must specify format of file contents as 'text' or 'base64'")
    if not isinstance(content, str):
        raise BadContent(f"Encoding error saving {path}: content must be a string")
    try:
        if fmt == "text":
            data = content.encode("utf-8")
        else:
            compact = content.translate(LINE_BREAKS)  # encodebytes and browsers wrap lines
            data = base64.b64decode(compact.encode("ascii"), validate=True)
    except (UnicodeError, binascii.Error) as error:
        raise BadContent(f"Encoding error saving {path}: {error}") from None
    return data, mimetypes.guess_type(path)[0] or _DEFAULT_MIMETYPE[fmt]


@functools.lru_cache(maxsize=32)
def _globs_pattern(hide_globs: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for all of ``hide_globs`` (as ``fnmatch`` reads each, case-normalised)."""
    if not hide_globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in hide_globs))


def _listable(name: str, allow_hidden: bool, hidden: re.Pattern[str] | None) -> bool:
    """A child name that maps to a valid API path and is not filtered out."""
    try:
        if not name or normalize_path(name) != name:
            return False
    except InvalidPath:  # "..", ".checkpoints", control characters, ...
        return False
    if not allow_hidden and is_hidden_name(name):
        return False
    return hidden is None or hidden.match(os.path.normcase(name)) is None


def directory_listing(
    dir_path: str,
    objects: Iterable[ListedObject],
    common_prefixes: Iterable[str],
    keymap: KeyMap,
    *,
    allow_hidden: bool,
    hide_globs: Iterable[str],
    default_time: datetime = EPOCH,
    writable: bool = True,
    saved_time: Callable[[str, str], datetime | None] | None = None,
) -> list[Model]:
    """The child models (content-less) of folder ``dir_path``.

    Feed it the *whole* ListObjectsV2 listing (all pages) of
    ``keymap.dir_prefix(dir_path)`` with delimiter ``/``:

    * objects are files (notebooks for ``*.ipynb``), except the folder's own
      marker, which is skipped, and objects ending in ``/`` (markers), which are
      folders carrying their own time;
    * a file's time is S3's Last-Modified, unless ``saved_time(path, etag)``
      knows the save time of that version (the time its own model shows);
    * common prefixes are folders; S3 gives them no time, so they get
      ``default_time`` (the Unix epoch unless the manager passes one);
    * a common prefix named like a file of the same listing is that file's
      checkpoint holder (``a.ipynb/.checkpoints/...``), not a folder;
    * deeper keys (from a listing without delimiter) count as implicit folders;
    * names that are not valid API names (``..``, ``.checkpoints``, empty,
      control characters, ...) are skipped; hidden names (leading ``.``) are
      skipped unless ``allow_hidden``; names matching a ``hide_globs`` pattern
      (``fnmatch``, like ``ContentsManager.should_list``) are always skipped.

    The result is in S3 listing order: by the UTF-8 bytes of the child key
    (``name`` for files, ``name + "/"`` for folders). The reference follows
    ``os.listdir`` order; JupyterLab sorts on the client.
    """
    base = keymap.dir_prefix(dir_path)
    hidden = _globs_pattern(tuple(hide_globs))
    files: dict[str, ListedObject] = {}
    folders: dict[str, datetime | None] = {}
    for obj in objects:
        if not obj.key.startswith(base) or obj.key == base:
            continue  # the folder's own marker (or a stray key)
        name, slash, rest = obj.key[len(base) :].partition("/")
        if not slash:
            files[name] = obj
        elif not rest:
            folders[name] = obj.last_modified  # a marker object "name/"
        else:
            folders.setdefault(name, None)
    for prefix in common_prefixes:
        if prefix.startswith(base):
            folders.setdefault(prefix[len(base) :].partition("/")[0], None)

    entries: list[tuple[bytes, Model]] = []
    for name, obj in files.items():
        if _listable(name, allow_hidden, hidden):
            path = join(dir_path, name)
            build = notebook_model if guess_type(name) == "notebook" else file_model
            when = (saved_time(path, obj.etag) if saved_time else None) or obj.last_modified
            model = build(path, size=obj.size, last_modified=when, writable=writable)
            entries.append((name.encode("utf-8"), model))
    for name, time in folders.items():
        if name not in files and _listable(name, allow_hidden, hidden):
            model = directory_model(
                join(dir_path, name), last_modified=time or default_time, writable=writable
            )
            entries.append(((name + "/").encode("utf-8"), model))
    entries.sort(key=lambda entry: entry[0])
    return [model for _, model in entries]
