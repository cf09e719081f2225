"""MirroredJupyterS3: the test-only seam that lets jupyter_server's own contents
tests run against JupyterS3.

Test-only. Never configure it in a real server.

jupyter_server's tests were written for ``FileContentsManager``: they prepare
files with ``os`` / ``pathlib`` under the manager's ``root_dir`` (``_make_dir``,
the ``contents`` fixture, ``contents_dir / name``) and check results there
(``pathlib.Path(...).is_file()``). :class:`MirroredJupyterS3` is an unchanged
:class:`jupyters3.JupyterS3` bound to a fresh bucket of the pytest process's
moto server (real HTTP, real SigV4, the real S3 client), plus a
:class:`Mirror` that keeps ``root_dir`` and the bucket in step around every
public call of the manager and of its checkpoints:

* before the call, whatever the test changed on disk since the last sync is
  pushed to the bucket (new or changed files as objects, new folders as 0-byte
  ``<key>/`` markers, deleted files and folders deleted), as another tool
  writing to the bucket would;
* after the call, whatever the call changed in the bucket is pulled back to
  disk, so that the test sees it with ``os`` / ``pathlib``. Checkpoints
  (``.checkpoints`` segments) are JupyterS3's own and are never mirrored.

Calls made by JupyterS3 to its own public methods (``new`` calling ``save``...)
are not synced again: only the outermost call is. The mirror's own S3 traffic
goes through boto3 (``jupyters3_testing.raw``), independently of the code under
test. Symbolic links, permissions and times on disk are not mirrored: S3 has
none (the tests that need them are in EXCLUDED.toml).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import itertools
import mimetypes
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from traitlets import default

from jupyters3 import JupyterS3, JupyterS3SecretAccessKeyAuthentication
from jupyters3.checkpoints import S3Checkpoints
from jupyters3_testing.raw import RawS3
from jupyters3_testing.s3server import MotoServer

__all__ = [
    "Mirror",
    "MirrorConflict",
    "MirroredJupyterS3",
    "MirroredS3Checkpoints",
    "bind",
    "close_managers",
    "managers_made",
]

#: The segment under which JupyterS3 keeps a file's checkpoints (never mirrored).
CHECKPOINTS = ".checkpoints"

_REGION = "us-east-1"

# -- the moto server of this pytest process ---------------------------------


@dataclass
class _Session:
    moto: MotoServer
    raw: RawS3
    made: list[MirroredJupyterS3] = field(default_factory=list)


_session: _Session | None = None
_bucket_numbers = itertools.count(1)


def bind(moto: MotoServer) -> None:
    """Make every MirroredJupyterS3 created from now on use ``moto`` (the plugin
    calls this once per pytest process)."""
    global _session
    _session = _Session(moto, RawS3(moto.endpoint_url, _REGION))


def _current() -> _Session:
    if _session is None:
        raise RuntimeError("MirroredJupyterS3 has no S3 server: load jupyter_suite.plugin")
    return _session


def managers_made() -> list[MirroredJupyterS3]:
    """The managers created since the last :func:`close_managers`."""
    return list(_session.made) if _session is not None else []


def close_managers() -> None:
    """Close each manager's S3 client and delete its bucket (best effort), then forget them."""
    if _session is None:
        return
    managers, _session.made = _session.made, []
    for manager in managers:
        manager.store.close()
        _delete_bucket(_session.raw, manager.aws_s3_bucket)


def _delete_bucket(raw: RawS3, bucket: str) -> None:
    try:
        keys = raw.keys(bucket)
        for start in range(0, len(keys), 1000):
            objects = [{"Key": k} for k in keys[start : start + 1000]]
            raw.client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        raw.client.delete_bucket(Bucket=bucket)
    except Exception:  # cleanup never fails a test (the moto server is the process's own)
        pass


# -- the mirror ----------------------------------------------------------------


class MirrorConflict(AssertionError):
    """The bucket holds something a local disk cannot (a file and a folder of one name)."""


#: A disk entry: ("d",) for a folder, ("f", size, mtime_ns, ctime_ns, inode) for a file.
_Entry = tuple[Any, ...]


def _scan(root: str) -> dict[str, _Entry]:
    """Every regular file and folder under ``root`` (relative POSIX paths); no symlinks."""
    found: dict[str, _Entry] = {}
    if not os.path.isdir(root):
        return found

    def walk(folder: str, rel: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                found[path] = ("d",)
                walk(entry.path, path)
            elif stat.S_ISREG(info.st_mode):
                found[path] = ("f", info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)

    walk(root, "")
    return found


def _parents(rel: str) -> Iterable[str]:
    parts = rel.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _etag(value: str) -> str:
    return value.strip('"')


def _folders(files: Iterable[str], markers: Iterable[str]) -> set[str]:
    """The folders that ``files`` and folder ``markers`` make exist."""
    found = set(markers)
    for rel in [*files, *markers]:
        found.update(_parents(rel))
    return found


class Mirror:
    """Keeps the folder ``root`` and ``s3://bucket/prefix`` in step (see the module doc)."""

    def __init__(self, raw: RawS3, bucket: str, prefix: str, root: str) -> None:
        self.raw, self.bucket, self.prefix, self.root = raw, bucket, prefix, root
        self._disk: dict[str, _Entry] = {}  # the disk at the last sync
        self._files: dict[str, str] = {}  # the bucket at the last sync: file -> ETag
        self._markers: set[str] = set()  # ... and its folder markers

    # -- helpers ---------------------------------------------------------------

    def _os_path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def _listing(self) -> tuple[dict[str, str], set[str]]:
        """The bucket's files (path -> ETag) and folder markers, without checkpoints."""
        files: dict[str, str] = {}
        markers: set[str] = set()
        paginator = self.raw.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.prefix) :]
                if not rel.strip("/") or CHECKPOINTS in rel.split("/"):
                    continue
                if rel.endswith("/"):
                    markers.add(rel.rstrip("/"))
                else:
                    files[rel] = _etag(obj["ETag"])
        clash = sorted(set(files) & _folders(files, markers))
        if clash:
            raise MirrorConflict(
                f"the bucket holds both a file and a folder named {clash[0]!r} "
                f"(s3://{self.bucket}/{self.prefix}{clash[0]}): a local disk cannot"
            )
        return files, markers

    def _put_marker(self, rel: str) -> None:
        self.raw.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + rel + "/",
            Body=b"",
            ContentType="application/x-directory",
        )
        self._markers.add(rel)

    # -- disk -> bucket ----------------------------------------------------------

    def push(self) -> None:
        """Send to the bucket what changed on disk since the last sync."""
        now = _scan(self.root)
        before = self._disk
        client = self.raw.client
        # Deletions first (a file may have become a folder, or the reverse).
        for rel in sorted(before, key=lambda r: r.count("/"), reverse=True):
            kind = before[rel][0]
            if now.get(rel, ("-",))[0] == kind:
                continue
            if kind == "f":
                client.delete_object(Bucket=self.bucket, Key=self.prefix + rel)
                self._files.pop(rel, None)
            else:  # a folder removed from disk takes all it held in the bucket
                for key in self.raw.keys(self.bucket, self.prefix + rel + "/"):
                    client.delete_object(Bucket=self.bucket, Key=key)
                inside = rel + "/"
                self._markers = {m for m in self._markers if m != rel and not m.startswith(inside)}
                self._files = {f: e for f, e in self._files.items() if not f.startswith(inside)}
        for rel in sorted(now, key=lambda r: (r.count("/"), r)):
            entry = now[rel]
            if entry == before.get(rel) or entry[0] == "d":
                continue
            try:
                with open(self._os_path(rel), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if self._files.get(rel) == hashlib.md5(data, usedforsecurity=False).hexdigest():
                continue  # touched, not changed
            content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
            result = client.put_object(
                Bucket=self.bucket, Key=self.prefix + rel, Body=data, ContentType=content_type
            )
            self._files[rel] = _etag(result["ETag"])
        # Every folder on disk exists in the bucket: a new one, or one whose last
        # file the test removed, gets a marker.
        existing = _folders(self._files, self._markers)
        for rel in sorted(now):
            if now[rel][0] == "d" and rel not in existing:
                self._put_marker(rel)
        self._disk = now

    # -- bucket -> disk ----------------------------------------------------------

    def pull(self) -> None:
        """Apply to the disk what changed in the bucket since the last sync."""
        files, markers = self._listing()
        dirs, dirs_before = _folders(files, markers), _folders(self._files, self._markers)
        for rel in sorted(set(self._files) - set(files), key=len, reverse=True):
            path = self._os_path(rel)
            if os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)
        for rel in sorted(dirs_before - dirs, key=len, reverse=True):
            path = self._os_path(rel)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
        for rel in sorted(dirs - dirs_before, key=len):
            path = self._os_path(rel)
            if os.path.isfile(path) or os.path.islink(path):
                os.remove(path)
            os.makedirs(path, exist_ok=True)
        for rel, tag in sorted(files.items()):
            path = self._os_path(rel)
            if self._files.get(rel) == tag and os.path.isfile(path):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(self.raw.get(self.bucket, self.prefix + rel))
        self._files, self._markers = files, markers
        self._disk = _scan(self.root)


# -- the manager ---------------------------------------------------------------

#: 1 while a synced call is running in this task: calls it makes are not synced again.
_syncing: contextvars.ContextVar[bool] = contextvars.ContextVar("js3_mirror_syncing", default=False)


def _synced(func: Callable[..., Any], mirror_of: Callable[[Any], Mirror | None]) -> Any:
    @functools.wraps(func)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        mirror = mirror_of(self)
        if mirror is None or _syncing.get():
            return await func(self, *args, **kwargs)
        token = _syncing.set(True)
        try:
            mirror.push()
            try:
                return await func(self, *args, **kwargs)
            finally:
                mirror.pull()
        finally:
            _syncing.reset(token)

    return call


def _sync_public_coroutines(
    cls: type, base: type, mirror_of: Callable[[Any], Mirror | None]
) -> None:
    """Wrap every public ``async def`` of ``base`` in ``cls`` with a push/pull."""
    for name in dir(base):
        if name.startswith("_"):
            continue
        func = getattr(base, name)
        if inspect.iscoroutinefunction(func):
            setattr(cls, name, _synced(func, mirror_of))


class MirroredS3Checkpoints(S3Checkpoints):
    """S3Checkpoints whose public calls sync their manager's mirror."""


_sync_public_coroutines(
    MirroredS3Checkpoints, S3Checkpoints, lambda cps: getattr(cps.parent, "mirror", None)
)


class MirroredJupyterS3(JupyterS3):
    """JupyterS3 on a fresh bucket of the process's moto server, mirrored to ``root_dir``.

    Test-only (see the module docstring). Everything but the S3 location, the
    credentials and the checkpoints class (which only adds the sync) is
    JupyterS3's default configuration.
    """

    @default("root_dir")
    def _default_root_dir(self) -> str:
        # As FileContentsManager: the server's root_dir, else the working directory.
        parent_root = getattr(self.parent, "root_dir", None)
        return str(parent_root) if parent_root else os.getcwd()

    @default("aws_s3_bucket")
    def _default_bucket(self) -> str:
        name = f"js3-suite-{os.getpid()}-{next(_bucket_numbers)}-{uuid.uuid4().hex[:8]}"
        _current().moto.create_bucket(name, _REGION)
        return name

    @default("endpoint_url")
    def _default_endpoint(self) -> str:
        return _current().moto.endpoint_url

    @default("aws_region")
    def _default_region(self) -> str:
        return _REGION

    @default("authentication")
    def _default_authentication(self) -> JupyterS3SecretAccessKeyAuthentication:
        return JupyterS3SecretAccessKeyAuthentication(
            parent=self,
            log=self.log,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="",
        )

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return MirroredS3Checkpoints

    def __init__(self, **kwargs: Any) -> None:
        session = _current()
        super().__init__(**kwargs)
        self.mirror = Mirror(
            session.raw, self.aws_s3_bucket, self.store.keymap.prefix, self.root_dir
        )
        session.made.append(self)

    def _get_os_path(self, path: str) -> str:
        """Where the mirror keeps API path ``path`` on disk (tests build files there)."""
        parts = [p for p in path.strip("/").split("/") if p]
        return os.path.join(self.root_dir, *parts)


_sync_public_coroutines(MirroredJupyterS3, JupyterS3, lambda cm: getattr(cm, "mirror", None))
