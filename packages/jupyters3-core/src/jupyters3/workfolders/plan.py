"""What a sync pass does, decided from a listing, a scan and the manifest. Pure.

* :func:`select`: which objects of a listing a working folder holds, under its
  limits (:class:`Limits`), and which it leaves out, each with its reason.
* :func:`local_changes`: what the kernel created, changed and deleted since the
  manifest was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from jupyters3 import keys
from jupyters3.contents_errors import InvalidPath
from jupyters3.s3.xml import ListedObject
from jupyters3.workfolders.disk import Scan
from jupyters3.workfolders.manifest import Entry
from jupyters3.workfolders.names import FoldedNames, LeftOut, matched_pattern, unsafe

__all__ = [
    "Limits",
    "LocalChanges",
    "Remote",
    "Selection",
    "Timing",
    "local_changes",
    "select",
]


@dataclass(frozen=True)
class Limits:
    """A working folder's limits: the largest file, the total size and the
    number of files mirrored, and the name patterns never synced."""

    max_file_bytes: int = 256 * 1024**2
    max_folder_bytes: int = 1024**3
    max_files: int = 10_000
    left_out: tuple[str, ...] = (".*", "__pycache__")


@dataclass(frozen=True)
class Timing:
    """How often a working folder syncs: ``upload_interval`` seconds between
    two scans for what its kernels wrote (and within a second of a kernel
    going idle); ``refresh_interval`` between two listings of its S3 folder."""

    upload_interval: float = 5.0
    refresh_interval: float = 60.0


@dataclass(frozen=True)
class Remote:
    """One object to have in the working folder: at ``rel``, ``size`` bytes,
    ETag ``etag``, saved at ``mtime_ns`` (ns since the epoch)."""

    rel: str
    key: str
    size: int
    etag: str
    mtime_ns: int


@dataclass
class Selection:
    """The files (by path) and empty folders' markers (path -> ETag) a
    working folder holds, what it leaves out, and how many checkpoints
    (kept in S3 only) it skipped."""

    files: dict[str, Remote] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    left_out: list[LeftOut] = field(default_factory=list)
    checkpoints: int = 0

    @property
    def size(self) -> int:
        return sum(r.size for r in self.files.values())


def _depth_first(item: tuple[str, ListedObject]) -> tuple[int, str]:
    rel = item[0]
    return rel.count("/"), rel


def select(
    objects: Iterable[ListedObject],
    rel_of: Callable[[str], str | None],
    limits: Limits,
    *,
    complete: bool = True,
    skip: frozenset[str] = frozenset(),
) -> Selection:
    """The selection of ``objects`` (a listing of the working folder's prefix,
    all depths): ``rel_of`` maps a key to its path relative to the working
    folder (None: the folder's own marker; :class:`InvalidPath` when the key
    is no API path). ``skip``: top-level names that are something else (the
    mounts, in the main bucket's root). Files are taken shallowest first,
    then in key order, while they fit the limits; a path that clashes with
    one taken before is left out. ``complete``: the listing holds every object."""
    chosen = Selection()
    candidates: list[tuple[str, ListedObject]] = []
    for obj in objects:
        if f"/{keys.CHECKPOINTS}/" in f"/{obj.key}":
            chosen.checkpoints += 1
            continue
        try:
            rel = rel_of(obj.key)
        except InvalidPath as error:
            chosen.left_out.append(LeftOut(obj.key, f"not a safe local name: {error}"))
            continue
        if rel is None or rel.split("/", 1)[0] in skip:
            continue
        candidates.append((rel, obj))
    taken = FoldedNames()
    total = 0
    for rel, obj in sorted(candidates, key=_depth_first):
        folder = obj.key.endswith("/")
        problem = unsafe(rel)
        if problem is not None:
            chosen.left_out.append(LeftOut(rel, f"not a safe local name: {problem}"))
            continue
        pattern = matched_pattern(rel, limits.left_out)
        if pattern is not None:
            chosen.left_out.append(LeftOut(rel, f"matches the left-out name {pattern!r}"))
            continue
        if folder:
            clash = taken.take_folder(rel)
            if clash is None:
                chosen.folders[rel] = obj.etag
            else:
                chosen.left_out.append(LeftOut(rel + "/", clash))
            continue
        if obj.size > limits.max_file_bytes:
            chosen.left_out.append(LeftOut(rel, f"{obj.size:,} bytes, over kernel_max_file_bytes"))
            continue
        if len(chosen.files) >= limits.max_files:
            chosen.left_out.append(LeftOut(rel, "over kernel_max_files"))
            continue
        if total + obj.size > limits.max_folder_bytes:
            chosen.left_out.append(LeftOut(rel, "over kernel_max_folder_bytes in all"))
            continue
        clash = taken.take(rel)
        if clash is not None:
            chosen.left_out.append(LeftOut(rel, clash))
            continue
        total += obj.size
        stamp = int(obj.last_modified.timestamp() * 1_000_000) * 1000
        chosen.files[rel] = Remote(rel, obj.key, obj.size, obj.etag.strip('"'), stamp)
    if not complete:
        chosen.left_out.append(
            LeftOut("...", "the folder holds too many objects: the rest was not listed")
        )
    return chosen


@dataclass
class LocalChanges:
    """What changed in a working folder since its manifest: files created,
    changed and deleted, empty folders made and folders removed, and what
    can never be uploaded (with why)."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    new_folders: list[str] = field(default_factory=list)
    gone_folders: list[str] = field(default_factory=list)
    never: list[LeftOut] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(
            self.created or self.changed or self.deleted or self.new_folders or self.gone_folders
        )


def local_changes(
    scan: Scan,
    files: Mapping[str, Entry],
    folders: Mapping[str, str],
    limits: Limits,
) -> LocalChanges:
    """Compare ``scan`` with the manifest's ``files`` and ``folders``. A scan
    that stopped at its limit infers no delete."""
    found = LocalChanges()
    for rel in scan.links:
        found.never.append(LeftOut(rel, "a symbolic link: never followed nor uploaded"))
    for rel in scan.odd:
        found.never.append(LeftOut(rel, "not a regular file or folder"))
    for rel, sig in scan.files.items():
        problem = unsafe(rel)
        if problem is not None:
            found.never.append(LeftOut(rel, f"not a valid name in S3: {problem}"))
            continue
        entry = files.get(rel)
        if entry is not None and entry.sig == sig:
            continue
        if sig.size > limits.max_file_bytes:
            found.never.append(LeftOut(rel, f"{sig.size:,} bytes, over kernel_max_file_bytes"))
            continue
        (found.created if entry is None else found.changed).append(rel)
    if scan.truncated:
        found.never.append(LeftOut("...", "too many files: the rest was not looked at"))
        return found
    # A name left out now (the settings may have changed since) is not a delete.
    found.deleted = [
        rel
        for rel in files
        if rel not in scan.files and matched_pattern(rel, limits.left_out) is None
    ]
    found.new_folders = [
        rel
        for rel, empty in scan.folders.items()
        if empty and rel not in folders and unsafe(rel) is None
    ]
    found.gone_folders = [rel for rel in folders if rel not in scan.folders]
    return found
