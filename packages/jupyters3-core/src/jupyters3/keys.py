"""Jupyter API paths <-> S3 object keys. Pure: no I/O, no tornado/traitlets.

API paths follow the contract of jupyter_server's ``ContentsManager``: unicode,
not URL-escaped, ``/``-separated, no leading or trailing ``/``; ``""`` is the
root folder. :func:`normalize_path` strips the outer slashes and refuses every
path that cannot map to one S3 key and back (see its docstring).

The layout in the bucket (``prefix`` is :func:`normalize_prefix`-ed, so it is
``""`` or ends with exactly one ``/``)::

    prefix + p                           file or notebook at API path p
    prefix + p + "/"                     0-byte marker of folder p
    prefix + p + "/" + anything          folder p also exists implicitly
    prefix                               the root folder (no marker needed)
    prefix + p + "/.checkpoints/" + id   checkpoint `id` of file p

Because ``.checkpoints`` is refused as a path segment, a checkpoint key can never
be the key of a file or folder the contents API can reach. Keys are compared
byte-for-byte: no Unicode normalisation (NFC/NFD) is applied.

Every error is an :class:`InvalidPath` (a ``ValueError``) with a message meant for
the user; the contents manager answers it with HTTP 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from jupyters3.contents_errors import InvalidPath, OutsideRoot

__all__ = [
    "CHECKPOINTS",
    "CHECKPOINT_ID",
    "MAX_KEY_BYTES",
    "KeyMap",
    "check_key_length",
    "checkpoint_time",
    "is_hidden_name",
    "is_hidden_path",
    "join",
    "new_checkpoint_id",
    "normalize_path",
    "normalize_prefix",
    "split",
]

#: S3's limit on the UTF-8 length of an object key.
MAX_KEY_BYTES = 1024

#: The reserved segment that holds a file's checkpoints (never a valid API name).
CHECKPOINTS = ".checkpoints"

#: Checkpoint ids allowed by jupyter_server's URL route (``_checkpoint_id_regex``).
#: ``\Z`` (not ``$``) so that ``CHECKPOINT_ID.match("id\n")`` fails too.
CHECKPOINT_ID = re.compile(r"^[\w-]+\Z")

# C0 controls, DEL and C1 controls (Unicode category Cc), and the backslash.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def _check_text(text: object, what: str) -> None:
    """Refuse characters that cannot appear in an API path or key prefix."""
    if not isinstance(text, str):
        raise InvalidPath(f"Invalid {what} {text!r}: not a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath(f"Invalid {what} {text!r}: it is not valid Unicode") from None
    bad = _FORBIDDEN_CHARS.search(text)
    if bad is not None:
        char = bad.group()
        if char == "\\":
            raise InvalidPath(f"Invalid {what} {text!r}: backslashes are not allowed")
        raise InvalidPath(f"Invalid {what} {text!r}: control character {char!r} is not allowed")


def _check_segments(text: str, what: str) -> None:
    """Refuse empty, ``.``, ``..`` and ``.checkpoints`` segments (``..`` that
    climbs above the root: :class:`OutsideRoot`)."""
    depth = 0
    for segment in text.split("/"):
        depth += -1 if segment == ".." else 0 if segment in ("", ".") else 1
        if depth < 0 and what == "path":
            raise OutsideRoot(f"{text!r} is outside root contents directory")
    for segment in text.split("/"):
        if segment == "":
            raise InvalidPath(f"Invalid {what} {text!r}: empty path segment ('//')")
        if segment in (".", ".."):
            raise InvalidPath(f"Invalid {what} {text!r}: '{segment}' segments are not allowed")
        if segment == CHECKPOINTS:
            raise InvalidPath(
                f"Invalid {what} {text!r}: the name '{CHECKPOINTS}' is reserved for checkpoints"
            )


def normalize_path(path: str) -> str:
    """Return the canonical API path: outer ``/`` stripped, ``""`` for the root.

    Refused with :class:`InvalidPath`: ``.`` and ``..`` segments (those that
    climb above the root with :class:`OutsideRoot`), empty segments
    (``a//b``), backslashes, control characters (C0, DEL, C1), segments named
    ``.checkpoints`` and text that cannot be encoded as UTF-8 (lone surrogates).
    Everything else (spaces, any Unicode, ``+ = & % ? # ~ : , ' ! * $ @ ; ( )``)
    is kept exactly. Idempotent: ``normalize_path(normalize_path(p)) == ...``.
    """
    _check_text(path, "path")
    stripped = path.strip("/")
    if stripped:
        _check_segments(stripped, "path")
    return stripped


def normalize_prefix(prefix: str) -> str:
    """Return the canonical key prefix: ``""`` or ``"seg/.../seg/"``.

    Leading slashes are dropped and exactly one trailing ``/`` is kept, so
    ``"a/b"``, ``"a/b/"`` and ``"/a/b/"`` all give ``"a/b/"``. The segments follow
    the same rules as :func:`normalize_path`.
    """
    _check_text(prefix, "key prefix")
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    _check_segments(stripped, "key prefix")
    return stripped + "/"


def split(path: str) -> tuple[str, str]:
    """Split an API path into ``(parent, name)``: ``"a/b/c"`` -> ``("a/b", "c")``.

    A top-level name has parent ``""``; the root ``""`` gives ``("", "")``.
    The path is normalised first (:class:`InvalidPath` if it is invalid).
    """
    normal = normalize_path(path)
    parent, _, name = normal.rpartition("/")
    return parent, name


def join(parent: str, name: str) -> str:
    """Join a folder path and a child name: ``join("", "x") == "x"``.

    Both parts are normalised; the result is a valid API path.
    """
    base = normalize_path(parent)
    child = normalize_path(name)
    if not base:
        return child
    if not child:
        return base
    return f"{base}/{child}"


def is_hidden_name(name: str) -> bool:
    """Whether one name is hidden (starts with ``.``), as jupyter_core decides on POSIX."""
    return name.startswith(".")


def is_hidden_path(path: str) -> bool:
    """Whether any segment of an API path is hidden; the root is never hidden."""
    return any(is_hidden_name(segment) for segment in path.strip("/").split("/"))


#: As long as any id :func:`new_checkpoint_id` makes with a 6-character suffix.
_LONGEST_ID = "20261126T103645123456-ab12cd"


def new_checkpoint_id(now: datetime, rand: str) -> str:
    """A checkpoint id: the UTC time (microseconds) then ``-`` and ``rand``.

    For example ``20261126T103645123456-ab12cd``. The time part has a fixed width,
    so ids sort chronologically as plain strings whatever ``rand`` is. ``now``
    must be timezone-aware; ``rand`` (a random tie-breaker, such as
    ``secrets.token_hex(3)``) must match ``[\\w-]+``. ``ValueError`` otherwise.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("new_checkpoint_id needs a timezone-aware datetime")
    if not CHECKPOINT_ID.match(rand):
        raise ValueError(f"checkpoint id suffix {rand!r} must match [\\w-]+")
    t = now.astimezone(timezone.utc)
    stamp = (
        f"{t.year:04d}{t.month:02d}{t.day:02d}T"
        f"{t.hour:02d}{t.minute:02d}{t.second:02d}{t.microsecond:06d}"
    )
    return f"{stamp}-{rand}"


_ID_STAMP = re.compile(r"^(\d{8})T(\d{6})(\d{6})-[\w-]+\Z")


def checkpoint_time(checkpoint_id: str) -> datetime | None:
    """The UTC time :func:`new_checkpoint_id` wrote into ``checkpoint_id``, to
    the microsecond; ``None`` for an id it did not make (another tool's)."""
    found = _ID_STAMP.match(checkpoint_id)
    if found is None:
        return None
    day, clock, micro = found.groups()
    try:
        stamp = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return stamp.replace(microsecond=int(micro), tzinfo=timezone.utc)


def check_key_length(key: str, path: str | None = None) -> str:
    """Return ``key`` if its UTF-8 form fits S3's 1024-byte limit, else raise
    :class:`InvalidPath` ("Name too long", naming ``path`` when given)."""
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        what = repr(path) if path is not None else "this name"
        raise InvalidPath(
            f"Name too long: {what} needs an S3 key of {size} bytes "
            f"(S3 allows {MAX_KEY_BYTES} bytes of UTF-8)"
        )
    return key


@dataclass(frozen=True)
class KeyMap:
    """The mapping between API paths and the keys under one prefix.

    ``prefix`` is normalised on construction (``KeyMap("/a/b").prefix == "a/b/"``);
    :class:`InvalidPath` if it is invalid. Every method accepts any spelling of a
    valid API path (outer slashes are stripped) and raises :class:`InvalidPath`
    for an invalid one, or when the key it returns would exceed 1024 bytes.

    ``mount``: the API path of the folder this prefix is shown as (``""``: the
    root; a mount's name otherwise). Paths are then ``mount`` itself (the
    prefix) and what is under it; any other path is :class:`InvalidPath`, so
    no path maps to a key outside the prefix.
    """

    prefix: str = ""
    mount: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", normalize_prefix(self.prefix))
        if self.mount and (normalize_path(self.mount) != self.mount or "/" in self.mount):
            raise InvalidPath(f"Invalid mount name {self.mount!r}")

    def inner(self, path: str) -> str:
        """``path`` relative to the mount (``""``: its root); the path normalised."""
        normal = normalize_path(path)
        if not self.mount:
            return normal
        if normal == self.mount:
            return ""
        if not normal.startswith(self.mount + "/"):
            raise InvalidPath(f"{normal!r} is not under {self.mount!r}")
        return normal[len(self.mount) + 1 :]

    def is_root(self, path: str) -> bool:
        """Whether ``path`` is the folder the prefix itself holds."""
        return not self.inner(path)

    def file_key(self, path: str) -> str:
        """The object key of the file or notebook at ``path`` (not the root)."""
        inner = self.inner(path)
        if not inner:
            raise InvalidPath("The root folder is not a file")
        return check_key_length(self.prefix + inner, normalize_path(path))

    def dir_prefix(self, path: str) -> str:
        """The listing prefix of folder ``path``: ``prefix`` for the root, else
        ``prefix + path + "/"``."""
        inner = self.inner(path)
        if not inner:
            return self.prefix
        return check_key_length(f"{self.prefix}{inner}/", normalize_path(path))

    def dir_marker(self, path: str) -> str | None:
        """The marker key of folder ``path``.

        For the root: ``None`` when the prefix is ``""`` (the bucket root needs no
        marker), else the prefix itself (for example ``"users/alice/"``).
        """
        key = self.dir_prefix(path)
        return key or None

    def path_of(self, key: str) -> str:
        """The API path of a file key or a folder marker key (inverse mapping).

        ``prefix + "a/b"`` -> ``"a/b"``, ``prefix + "a/b/"`` -> ``"a/b"``,
        ``prefix`` -> ``""``, each under ``mount``. :class:`InvalidPath` when the
        key is not under the prefix or does not map back to a valid API path
        (``//``, ``..``, checkpoint keys, control characters, ...).
        """
        if not isinstance(key, str) or not key.startswith(self.prefix):
            raise InvalidPath(f"Key {key!r} is outside the prefix {self.prefix!r}")
        rest = key[len(self.prefix) :]
        if not rest:
            return self.mount  # the prefix itself: the root folder
        if rest.endswith("/"):
            rest = rest[:-1]
        if not rest:
            raise InvalidPath(f"Key {key!r} is not a valid contents path")
        try:
            normal = normalize_path(rest)
        except InvalidPath as error:
            raise InvalidPath(f"Key {key!r} is not a valid contents path: {error}") from None
        if normal != rest:
            raise InvalidPath(f"Key {key!r} is not a valid contents path")
        return join(self.mount, normal) if self.mount else normal

    def checkpoint_prefix(self, path: str) -> str:
        """The key prefix holding the checkpoints of file ``path``:
        ``file_key(path) + "/.checkpoints/"``."""
        normal = normalize_path(path)
        key = f"{self.file_key(normal)}/{CHECKPOINTS}/"
        return check_key_length(key, normal)

    def check_checkpoint_room(self, path: str) -> None:
        """:class:`InvalidPath` ("Name too long") unless the checkpoints of file
        ``path`` fit S3's key limit too: checked before the file is written, so a
        name that could never have a checkpoint is refused with nothing stored."""
        self.checkpoint_key(path, _LONGEST_ID)

    def checkpoint_key(self, path: str, checkpoint_id: str) -> str:
        """The key of checkpoint ``checkpoint_id`` of file ``path``.

        :class:`InvalidPath` for an id that does not match ``[\\w-]+`` or when the
        key would exceed 1024 bytes.
        """
        if not isinstance(checkpoint_id, str) or not CHECKPOINT_ID.match(checkpoint_id):
            raise InvalidPath(f"Invalid checkpoint id {checkpoint_id!r}")
        normal = normalize_path(path)
        return check_key_length(self.checkpoint_prefix(normal) + checkpoint_id, normal)

    def checkpoint_id_of(self, key: str) -> str:
        """The checkpoint id of a key made by :meth:`checkpoint_key`.

        :class:`InvalidPath` for any other key (a file key, a deeper key under
        ``.checkpoints/``, a key outside the prefix, ...).
        """
        head, sep, checkpoint_id = key.rpartition(f"/{CHECKPOINTS}/")
        if not sep or not CHECKPOINT_ID.match(checkpoint_id):
            raise InvalidPath(f"Key {key!r} is not a checkpoint key")
        path = self.path_of(head)
        if path == self.mount or head.endswith("/"):
            raise InvalidPath(f"Key {key!r} is not a checkpoint key")
        return checkpoint_id
