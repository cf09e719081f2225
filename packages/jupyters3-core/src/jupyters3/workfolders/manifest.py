"""What each file of a working folder was based on: the record that makes a kill -9 safe.

For every file the sync put in a working folder (or uploaded from it), the
manifest keeps the object's key and ETag, and what the local file looked like
then (size, modification time in nanoseconds, inode) and the MD5 of its bytes.
A file that no longer looks like that was changed by the kernel; a file the
manifest does not list is new; a listed file that is gone was deleted.

The manifest lives outside the working folder (a kernel never sees or
uploads it), is written whole to a temporary name and renamed over the old
one, so a kill at any moment leaves the old or the new one. At the next start
the leftover working folders are synced from their manifests
(:mod:`jupyters3.workfolders.service`).

:class:`Origin` names the bucket view the folder mirrors; a leftover folder is
only synced back into the same one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["VERSION", "Entry", "Manifest", "Origin", "Sig"]

#: The manifest format; another version is left alone (named in the log).
VERSION = 1


@dataclass(frozen=True)
class Sig:
    """What a local file looks like: size, mtime (ns) and inode. A write
    changes the mtime (and a replace the inode), so an unchanged signature
    means unchanged bytes."""

    size: int
    mtime_ns: int
    ino: int


@dataclass(frozen=True)
class Entry:
    """One file: the object it came from or went to (``key``, ``etag``), the
    local file as it was then (``sig``) and the MD5 of its bytes (hex)."""

    key: str
    etag: str
    sig: Sig
    md5: str | None = None


@dataclass(frozen=True)
class Origin:
    """The bucket view a working folder belongs to: endpoint, bucket, key
    prefix and mount name (``""``: the main bucket)."""

    endpoint: str
    bucket: str
    prefix: str
    mount: str = ""


@dataclass
class Manifest:
    """One working folder: ``root`` (its API path), ``origin``, its files by
    path relative to it, its empty folders' markers (path -> ETag), and the
    API paths of the notebooks sessions had open in it (the contents API's,
    never uploaded from the folder). ``removing``: its last sync succeeded
    and it is being deleted."""

    root: str
    origin: Origin
    files: dict[str, Entry] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    notebooks: set[str] = field(default_factory=set)
    removing: bool = False

    def copy(self) -> Manifest:
        """A copy to write out while this one keeps changing (entries are frozen)."""
        return Manifest(
            self.root,
            self.origin,
            dict(self.files),
            dict(self.folders),
            set(self.notebooks),
            self.removing,
        )

    def to_json(self) -> str:
        files = {
            rel: [e.key, e.etag, e.sig.size, e.sig.mtime_ns, e.sig.ino, e.md5]
            for rel, e in self.files.items()
        }
        return json.dumps(
            {
                "version": VERSION,
                "root": self.root,
                "origin": asdict(self.origin),
                "removing": self.removing,
                "files": files,
                "folders": self.folders,
                "notebooks": sorted(self.notebooks),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """The manifest ``text`` holds; ValueError if it is not one of this version."""
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("not a working-folder manifest of this version")
        try:
            files = {
                str(rel): Entry(str(k), str(t), Sig(int(s), int(m), int(i)), md5)
                for rel, (k, t, s, m, i, md5) in data["files"].items()
            }
            return cls(
                root=str(data["root"]),
                origin=Origin(**{k: str(v) for k, v in data["origin"].items()}),
                files=files,
                folders={str(k): str(v) for k, v in data["folders"].items()},
                notebooks={str(p) for p in data.get("notebooks", [])},
                removing=bool(data.get("removing", False)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"a damaged working-folder manifest: {error}") from None

    def save(self, path: str) -> None:
        """Write it to ``path`` atomically (blocking: call it in a worker thread)."""
        temporary = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str) -> Manifest:
        """The manifest at ``path`` (blocking); OSError or ValueError."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_json(handle.read())
